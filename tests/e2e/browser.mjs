// Shared set-up for the end-to-end tests: Debian's Chromium driven by playwright-core, with the flags
// peerlab's tests always use (fake devices, loopback ICE, no background networking).
import { chromium } from '../../tools/node_modules/playwright-core/index.mjs';

export const BASE = process.env.PEERLAB_URL ?? 'http://127.0.0.1:18081';
export const SCREENSHOTS = new URL('../../target/screenshots/', import.meta.url).pathname;

// `extra` flags replace the default flag of the same name (`--use-fake-device-for-media-stream=device-count=2`
// for a second camera).
const options = (extra = []) => {
  const name = (flag) => flag.split('=')[0];
  const replaced = new Set(extra.map(name));
  const args = [
    '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage',
    '--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream',
    '--allow-loopback-in-peer-connection', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic',
    // More flags for an experiment (benchmarks), space-separated.
    ...(process.env.PEERLAB_CHROME_ARGS ?? '').split(' ').filter(Boolean),
  ];
  return {
    executablePath: process.env.CHROME_BIN ?? '/usr/lib/chromium/chromium',
    args: [...args.filter((a) => !replaced.has(name(a))), ...extra],
  };
};

export async function launch(extra = []) {
  return chromium.launch(options(extra));
}

// A browser of its own that a test can kill outright (`kill()`: SIGKILL to Chromium's whole process
// group), as a power cut would: its connections end without a close frame or a goodbye.
export async function launchKillable() {
  const server = await chromium.launchServer(options());
  const browser = await chromium.connect(server.wsEndpoint());
  const pid = server.process().pid;
  return {
    browser,
    kill() {
      try { process.kill(-pid, 'SIGKILL'); } catch { /* already gone */ }
    },
    async close() {
      await browser.close().catch(() => {});
      await server.close().catch(() => {});
    },
  };
}

// Opens a page that records console errors and uncaught exceptions, so a test can assert there were none.
export async function openPage(browser, path = '/') {
  const context = await browser.newContext();
  const page = await context.newPage();
  const problems = [];
  page.on('console', (msg) => { if (msg.type() === 'error') problems.push(`console: ${msg.text()}`); });
  page.on('pageerror', (err) => problems.push(`exception: ${err.message}`));
  await page.goto(BASE + path);
  return { context, page, problems };
}
