// Benchmark (not a test): file-transfer throughput between two browser pages through the chat page,
// beside a plain-JS data-channel sender measured in the same run, same browser, same file, same chunk
// size and flow-control thresholds. Prints one line per run and the medians; docs/BENCHMARKS.md keeps them.
//
// Usage (inside the loopback namespace; scripts/bench-transfer.sh does it all):
//   node tests/bench/transfer.mjs [MiB=256] [runs=3]
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, openSync, writeSync, closeSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { launch } from '../e2e/browser.mjs';
import { startRelay } from '../e2e/relay.mjs';

const MIB = Number(process.argv[2] ?? 256);
const RUNS = Number(process.argv[3] ?? 3);
// The app's own figures (src/chat/): the plain-JS sender uses the same, so only the app's overhead differs.
const CHUNK = Number(process.env.CHUNK ?? 64 * 1024);
const HIGH_WATER = Number(process.env.HIGH_WATER ?? 1024 * 1024);
const LOW_WATER = Number(process.env.LOW_WATER ?? 256 * 1024);

const scratch = mkdtempSync(join(tmpdir(), 'peerlab-bench-'));
const path = join(scratch, 'bench.bin');
{
  const fd = openSync(path, 'w');
  const h = createHash('sha256');
  for (let i = 0; i < MIB; i++) { const b = randomBytes(1 << 20); h.update(b); writeSync(fd, b); }
  closeSync(fd);
}
const SIZE = MIB << 20;

const relay = await startRelay();
const browser = await launch();
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const mbps = (bytes, ms) => bytes / (1 << 20) / (ms / 1000);

async function page(path = '/') {
  const context = await browser.newContext();
  const p = await context.newPage();
  await p.goto(relay.base + path);
  return { context, page: p };
}

// ---- the app: /chat on two pages, Ada sends, Bob accepts; timed from the accept to Bob's "done" (hash
// verified), as a person would see it.
async function appRun(run) {
  const names = [`Ada${run}`, `Bob${run}`];
  const [a, b] = [await page('/chat'), await page('/chat')];
  const ids = [];
  for (const [i, who] of [a, b].entries()) {
    await who.page.getByTestId('chat-name').fill(names[i]);
    await who.page.getByTestId('chat-join').click();
    await who.page.getByTestId('chat-self-id').filter({ hasText: /[0-9a-f]{32}/ }).waitFor();
    ids.push((await who.page.getByTestId('chat-self-id').textContent()).match(/[0-9a-f]{32}/)[0]);
  }
  await a.page.locator(`[data-testid="chat-user"][data-name="${names[1]}"]`).click();
  await a.page.getByTestId('chat-file-input').setInputFiles(path);
  await b.page.locator(`[data-testid="chat-user"][data-name="${names[0]}"]`).click();
  const incoming = b.page.locator('[data-testid="chat-transfer"][data-direction="in"][data-state="offered"]');
  await incoming.waitFor({ timeout: 60_000 });
  const started = await b.page.evaluate(() => performance.now());
  await incoming.getByTestId('transfer-accept').click();
  await b.page
    .locator('[data-testid="chat-transfer"][data-direction="in"][data-state="done"]')
    .waitFor({ timeout: 600_000 });
  const ended = await b.page.evaluate(() => performance.now());
  await a.context.close();
  await b.context.close();
  return ended - started;
}

// ---- plain JS: the smallest correct sender — File.slice(...).arrayBuffer() per chunk, send while the
// buffered amount is under the high-water mark, wait for bufferedamountlow — and a receiver that counts.
async function plainRun() {
  const [a, b] = [await page('/'), await page('/')];
  const setup = async (p) =>
    p.evaluate(async () => {
      const pc = new RTCPeerConnection();
      window.__pc = pc;
      return pc;
    }).then(() => p);
  await setup(a.page);
  await setup(b.page);
  // Receiver: counts bytes of the channel the sender opens; resolves when all arrived.
  await b.page.evaluate((size) => {
    window.__done = new Promise((resolve) => {
      window.__pc.ondatachannel = ({ channel }) => {
        channel.binaryType = 'arraybuffer';
        let got = 0;
        const parts = [];
        channel.onmessage = ({ data }) => {
          got += data.byteLength;
          parts.push(data);
          if (got >= size) resolve(performance.now());
        };
      };
    });
  }, SIZE);
  // Sender: the file comes from a file input, as in the app.
  await a.page.evaluate(() => {
    const input = document.createElement('input');
    input.type = 'file';
    input.id = '__bench_file';
    document.body.append(input);
    window.__channel = window.__pc.createDataChannel('file', { ordered: true });
    window.__channel.binaryType = 'arraybuffer';
  });
  await a.page.setInputFiles('#__bench_file', path);
  const gather = async (p, make) => p.evaluate(async (make) => {
    const pc = window.__pc;
    const desc = make === 'offer' ? await pc.createOffer() : await pc.createAnswer();
    await pc.setLocalDescription(desc);
    if (pc.iceGatheringState !== 'complete') {
      await new Promise((r) => pc.addEventListener('icegatheringstatechange', () => pc.iceGatheringState === 'complete' && r()));
    }
    return pc.localDescription.toJSON();
  }, make);
  const offer = await gather(a.page, 'offer');
  await b.page.evaluate((o) => window.__pc.setRemoteDescription(o), offer);
  const answer = await gather(b.page, 'answer');
  await a.page.evaluate((o) => window.__pc.setRemoteDescription(o), answer);
  await a.page.evaluate(() => new Promise((r) => (window.__channel.readyState === 'open' ? r() : (window.__channel.onopen = r))));
  const started = await b.page.evaluate(() => performance.now());
  await a.page.evaluate(async ([chunk, high, low]) => {
    const file = document.getElementById('__bench_file').files[0];
    const ch = window.__channel;
    ch.bufferedAmountLowThreshold = low;
    for (let offset = 0; offset < file.size; offset += chunk) {
      if (ch.bufferedAmount > high) {
        await new Promise((r) => ch.addEventListener('bufferedamountlow', r, { once: true }));
      }
      ch.send(await file.slice(offset, offset + chunk).arrayBuffer());
    }
  }, [CHUNK, HIGH_WATER, LOW_WATER]);
  const ended = await b.page.evaluate(() => window.__done);
  await a.context.close();
  await b.context.close();
  return ended - started;
}

const app = [];
const plain = [];
try {
  for (let run = 1; run <= RUNS; run++) {
    // Alternate the order so neither side always runs on a warmer machine.
    const order = run % 2 ? [['plain', plainRun], ['app', () => appRun(run)]] : [['app', () => appRun(run)], ['plain', plainRun]];
    for (const [name, fn] of order) {
      const ms = await fn();
      (name === 'app' ? app : plain).push(ms);
      console.log(`run ${run} ${name.padEnd(5)} ${MIB} MiB in ${ms.toFixed(0)} ms = ${mbps(SIZE, ms).toFixed(1)} MiB/s`);
    }
  }
  const a = mbps(SIZE, median(app));
  const p = mbps(SIZE, median(plain));
  console.log(`median app ${a.toFixed(1)} MiB/s, plain JS ${p.toFixed(1)} MiB/s, ratio ${(100 * a / p).toFixed(1)} %`);
} finally {
  await browser.close();
  await relay.stop();
  rmSync(scratch, { recursive: true, force: true });
}
