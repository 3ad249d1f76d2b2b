// Diagnostic (not a benchmark): where the chat page's file transfer spends main-thread time. Sends one
// file between two /chat pages with the V8 CPU profiler on both and prints each side's top self-time
// functions. Usage (inside the loopback namespace, release build served): node tests/bench/profile-transfer.mjs [MiB=64]
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { launch } from '../e2e/browser.mjs';
import { startRelay } from '../e2e/relay.mjs';

const MIB = Number(process.argv[2] ?? 64);
const scratch = mkdtempSync(join(tmpdir(), 'peerlab-prof-'));
const path = join(scratch, 'p.bin');
writeFileSync(path, randomBytes(MIB << 20));
const relay = await startRelay();
const browser = await launch();

function top(profile, n = 12) {
  const self = new Map();
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const dt = profile.timeDeltas;
  let total = 0;
  profile.samples.forEach((id, i) => {
    const f = byId.get(id).callFrame;
    const key = `${f.functionName || '(anonymous)'} ${f.url.split('/').pop()}`;
    self.set(key, (self.get(key) ?? 0) + (dt[i] ?? 0));
    total += dt[i] ?? 0;
  });
  return [...self.entries()].sort((a, b) => b[1] - a[1]).slice(0, n)
    .map(([k, us]) => `${(us / 1000).toFixed(0).padStart(7)} ms ${(100 * us / total).toFixed(1).padStart(5)} %  ${k}`);
}

try {
  const pages = [];
  for (const name of ['Pa', 'Pb']) {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(relay.base + '/chat');
    await page.getByTestId('chat-name').fill(name);
    await page.getByTestId('chat-join').click();
    await page.getByTestId('chat-self-id').filter({ hasText: /[0-9a-f]{32}/ }).waitFor();
    pages.push(page);
  }
  const [a, b] = pages;
  await a.locator('[data-testid="chat-user"][data-name="Pb"]').click();
  await a.getByTestId('chat-file-input').setInputFiles(path);
  await b.locator('[data-testid="chat-user"][data-name="Pa"]').click();
  const offered = b.locator('[data-testid="chat-transfer"][data-direction="in"][data-state="offered"]');
  await offered.waitFor();
  const sessions = [];
  for (const p of [a, b]) {
    const s = await p.context().newCDPSession(p);
    await s.send('Profiler.enable');
    await s.send('Profiler.setSamplingInterval', { interval: 200 });
    await s.send('Profiler.start');
    sessions.push(s);
  }
  const t0 = Date.now();
  await offered.getByTestId('transfer-accept').click();
  await b.locator('[data-testid="chat-transfer"][data-direction="in"][data-state="done"]').waitFor({ timeout: 600_000 });
  console.log(`${MIB} MiB in ${Date.now() - t0} ms`);
  for (const [i, s] of sessions.entries()) {
    const { profile } = await s.send('Profiler.stop');
    console.log(i === 0 ? '--- sender' : '--- receiver');
    for (const line of top(profile)) console.log(line);
  }
} finally {
  await browser.close();
  await relay.stop();
  rmSync(scratch, { recursive: true, force: true });
}
