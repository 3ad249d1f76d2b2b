// Benchmark (not a test): per network path of the NAT test network (tests/net/), the time from "connect"
// to the first message and the throughput of a 20 MiB file, for the app's chat and for the smallest
// plain-JS data channel on the same relay (tests/net/plain.mjs), in the same run and the same browsers.
//
// "Connect" is the click on the person in the app, and the call that makes the RTCPeerConnection in plain
// JS; the first message counts once it is on the other person's page. Both ends are timed inside the pages
// (Date.now(): both browsers run on this machine's clock), so Playwright's own steps count for neither. The file counts from the receiver's accept (app) or the first chunk (plain) to the last byte
// (app: its SHA-256 checked as well). Runs alternate which of the two goes first.
//
// Usage (root; scripts/bench-paths.sh builds and runs it in a namespace of its own):
//   node tests/bench/paths.mjs [runs=3] [paths=host,srflx,relay-udp,relay-tcp]
import { rmSync } from 'node:fs';
import { scenario, scratchDir, BASE } from '../net/lab.mjs';
import { joinChat, openConversation, randomFile, sendFile, user } from '../net/flows.mjs';
import { plainJoin, plainPeer, plainSendText, plainSendFile } from '../net/plain.mjs';

const RUNS = Number(process.argv[2] ?? 3);
const PATHS = {
  host: { homes: { a: 'port-restricted' }, browsers: ['a', 'a'], ice: 'turn' },
  srflx: { homes: { a: 'full-cone', b: 'full-cone' }, ice: 'stun' },
  'relay-udp': { homes: { a: 'symmetric', b: 'symmetric' }, ice: 'turn-udp' },
  'relay-tcp': { homes: { a: 'tcp-only', b: 'tcp-only' }, ice: 'turn' },
};
const wanted = (process.argv[3] ?? Object.keys(PATHS).join(',')).split(',');
const files = scratchDir();
const file = randomFile(files, 'twenty.bin', 20);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const mibps = (s) => 20 / s;

async function appRun(a, b, run) {
  const ada = await joinChat(a, `Ada${run}`);
  const bob = await joinChat(b, `Bob${run}`);
  try {
    await user(ada, bob).waitFor();
    // Both ends timed in the pages (the same machine's clock), so Playwright's own steps count for neither;
    // the message is written the moment the conversation shows its input, in the page, as plain JS sends
    // it the moment its channel exists.
    await bob.page.evaluate(() => new MutationObserver((_, observer) => {
      if (document.querySelector('[data-testid="chat-unread"]')) {
        window.__firstAt = Date.now();
        observer.disconnect();
      }
    }).observe(document, { subtree: true, childList: true, characterData: true }));
    const text = `first ${run}`;
    await ada.page.evaluate(async ([name, text]) => {
      window.__connectAt = Date.now();
      document.querySelector(`[data-testid="chat-user"][data-name="${name}"]`).click();
      let input;
      while (!(input = document.querySelector('[data-testid="chat-input"]'))) await new Promise((r) => setTimeout(r, 0));
      input.value = text;
      input.dispatchEvent(new Event('input', { bubbles: true }));
      document.querySelector('[data-testid="chat-send"]').click();
    }, [bob.name, text]);
    await user(bob, ada).getByTestId('chat-unread').waitFor({ timeout: 60_000 });
    const first = ((await bob.page.evaluate(() => window.__firstAt)) - (await ada.page.evaluate(() => window.__connectAt))) / 1000;
    await openConversation(bob, ada);
    const seconds = await sendFile(ada, bob, file);
    return { first, seconds };
  } finally {
    await ada.context.close();
    await bob.context.close();
  }
}

async function plainRun(a, b, run) {
  const [ca, cb] = [await a.newContext(), await b.newContext()];
  try {
    const [pa, pb] = [await ca.newPage(), await cb.newPage()];
    for (const p of [pa, pb]) await p.goto(`${BASE}/peerlab.json`);
    const room = `plain-${run}-${Math.random().toString(36).slice(2, 7)}`;
    const idA = await plainJoin(pa, room, `PlainA${run}`);
    const idB = await plainJoin(pb, room, `PlainB${run}`);
    await plainPeer(pb, idA, false);
    const text = `first ${run}`;
    await plainPeer(pa, idB, true);
    await plainSendText(pa, text);
    await pb.locator('.plain-message').filter({ hasText: text }).waitFor({ timeout: 60_000 });
    const first = ((await pb.evaluate(() => window.__firstAt)) - (await pa.evaluate(() => window.__connectAt))) / 1000;
    const fileStarted = Date.now();
    await plainSendFile(pa, pb, file.path, file.size);
    return { first, seconds: (Date.now() - fileStarted) / 1000 };
  } finally {
    await ca.close();
    await cb.close();
  }
}

const rows = [];
try {
  for (const path of wanted) {
    const s = await scenario(PATHS[path]);
    try {
      const [a, b] = s.browsers.map((x) => x.browser);
      const app = [];
      const plain = [];
      for (let run = 1; run <= RUNS; run++) {
        const order = run % 2 ? [['plain', plainRun], ['app', appRun]] : [['app', appRun], ['plain', plainRun]];
        for (const [name, fn] of order) {
          const r = await fn(a, b, run);
          (name === 'app' ? app : plain).push(r);
          console.log(`${path} run ${run} ${name.padEnd(5)} first message ${r.first.toFixed(3)} s, 20 MiB in ${r.seconds.toFixed(2)} s = ${mibps(r.seconds).toFixed(1)} MiB/s`);
        }
      }
      const row = {
        path,
        appFirst: median(app.map((r) => r.first)),
        plainFirst: median(plain.map((r) => r.first)),
        appMiBps: mibps(median(app.map((r) => r.seconds))),
        plainMiBps: mibps(median(plain.map((r) => r.seconds))),
      };
      rows.push(row);
    } finally {
      await s.close();
    }
  }
} finally {
  rmSync(files, { recursive: true, force: true });
}
console.log('\n| path | first message, app | plain JS | ratio | 20 MiB file, app | plain JS | ratio |');
console.log('|---|---|---|---|---|---|---|');
for (const r of rows) {
  console.log(`| ${r.path} | ${r.appFirst.toFixed(3)} s | ${r.plainFirst.toFixed(3)} s | ${(r.appFirst / r.plainFirst).toFixed(2)} | `
    + `${r.appMiBps.toFixed(1)} MiB/s | ${r.plainMiBps.toFixed(1)} MiB/s | ${(r.plainMiBps / r.appMiBps).toFixed(2)} |`);
}
