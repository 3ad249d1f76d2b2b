// One scenario of the NAT test network: the namespaces (netlab.mjs), coturn and a relay on the "internet",
// and a Chromium in each home, driven by playwright-core. The relay is the release build serving dist/, as
// a person would reach it; its ICE servers are what the scenario names.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from '../../tools/node_modules/playwright-core/index.mjs';
import { up, startIn, waitHttp, chromiumWrapper, RELAY_IP, TURN_IP } from './netlab.mjs';

const ROOT = new URL('../../', import.meta.url).pathname;
const RELAY_BIN = process.env.PEERLAB_SERVER_BIN ?? join(ROOT, 'target/release/peerlab-server');
const DIST = process.env.PEERLAB_DIST ?? join(ROOT, 'dist');
const RELAY_PORT = 8443;
export const BASE = `http://${RELAY_IP}:${RELAY_PORT}`;

// What the relay hands out. TURN URLs name the transport between browser and TURN server.
const ICE = {
  none: [],
  stun: ['--ice-url', `stun:${TURN_IP}:3478`],
  'turn-udp': ['--ice-url', `stun:${TURN_IP}:3478`, '--turn-url', `turn:${TURN_IP}:3478?transport=udp`],
  turn: [
    '--ice-url', `stun:${TURN_IP}:3478`,
    '--turn-url', `turn:${TURN_IP}:3478?transport=udp`,
    '--turn-url', `turn:${TURN_IP}:3478?transport=tcp`,
  ],
};

const chromeArgs = () => [
  '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage',
  '--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream',
  '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run',
  '--disable-quic',
  // The page's origin is an address of the test network, not localhost: let it be a secure context
  // (getUserMedia, crypto.subtle), as it would be over HTTPS.
  `--unsafely-treat-insecure-origin-as-secure=${BASE}`,
  ...(process.env.PEERLAB_CHROME_ARGS ?? '').split(' ').filter(Boolean),
];

// Builds the network of `homes` ({ a: kind, b: kind }), starts coturn and a relay handing out `ice`
// (a key of ICE), and one browser per entry of `browsers` (a home name each). Returns the scenario;
// `close()` undoes everything, in reverse.
export async function scenario({ homes, ice = 'turn', loss = 0, browsers = Object.keys(homes), relayArgs = [] }) {
  const undo = [];
  const close = async () => {
    for (const step of undo.reverse()) {
      try { await step(); } catch { /* keep undoing */ }
    }
  };
  try {
    const net = up({ homes, loss });
    undo.push(() => net.down());
    const scratch = mkdtempSync(join(tmpdir(), 'peerlab-lab-'));
    undo.push(() => rmSync(scratch, { recursive: true, force: true }));
    const secret = randomBytes(16).toString('hex');
    const turnLog = join(scratch, 'turn.log');
    // coturn exactly as a deployment runs it beside the relay.
    const turn = startIn(net.inet, join(ROOT, 'scripts/coturn.sh'), ['--ip', TURN_IP, '--log', turnLog, '--', '-v'],
      { PEERLAB_TURN_SECRET: secret });
    undo.push(() => turn.stop());
    const relay = startIn(net.inet, RELAY_BIN, [
      '--bind', `${RELAY_IP}:${RELAY_PORT}`, '--dist', DIST, ...ICE[ice],
      ...(ICE[ice].some((a) => a.startsWith('turn:')) ? ['--turn-secret', secret] : []),
      ...relayArgs,
    ], { RUST_LOG: process.env.RUST_LOG ?? 'warn' });
    undo.push(() => relay.stop());
    await waitHttp(net.inet, `${BASE}/healthz`);
    const opened = [];
    for (const home of browsers) {
      const wrapper = chromiumWrapper(net.homes[home].ns);
      undo.push(() => wrapper.remove());
      const browser = await chromium.launch({ executablePath: wrapper.path, args: chromeArgs() });
      undo.push(() => browser.close());
      opened.push({ home, browser });
    }
    return { net, turn, turnLog, relay, browsers: opened, close };
  } catch (err) {
    await close();
    throw err;
  }
}

// Opens a page at `path` in `browser`, recording console errors and uncaught exceptions, and counting the
// RTCPeerConnections the page negotiates (a connection torn down and made again shows as a second one; the
// app's warm-up connection, which never gets a description, does not count).
export async function openPage(browser, path, init) {
  const context = await browser.newContext();
  if (init) await context.addInitScript(init);
  await context.addInitScript(() => {
    const negotiated = new WeakSet();
    window.__peerConnections = 0;
    for (const method of ['setLocalDescription', 'setRemoteDescription']) {
      const native = RTCPeerConnection.prototype[method];
      RTCPeerConnection.prototype[method] = function (...args) {
        if (!negotiated.has(this)) {
          negotiated.add(this);
          window.__peerConnections += 1;
        }
        return native.apply(this, args);
      };
    }
  });
  const page = await context.newPage();
  const problems = [];
  page.on('console', (msg) => { if (msg.type() === 'error') problems.push(`console: ${msg.text()}`); });
  page.on('pageerror', (err) => problems.push(`exception: ${err.message}`));
  await page.goto(BASE + path);
  return { context, page, problems, peerConnections: () => page.evaluate(() => window.__peerConnections) };
}

export const scratchDir = () => mkdtempSync(join(tmpdir(), 'peerlab-files-'));
