// A relay of the test's own, which it may kill and start again on the same port (the suite's shared relay
// must not be restarted under the other tests' feet). Same binary and dist/ as the shared one.
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { randomBytes } from 'node:crypto';

const BIN = process.env.PEERLAB_SERVER_BIN ?? new URL('../../target/release/peerlab-server', import.meta.url).pathname;
// Read when each relay starts, not when this module loads: a benchmark that compares builds sets
// PEERLAB_DIST between relays (imports run before the importing module's own code).
const dist = () => process.env.PEERLAB_DIST ?? new URL('../../dist', import.meta.url).pathname;

// A port nothing listens on now, for a server a test starts (a relay, trunk, a static host).
export async function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

async function waitHealthy(base, ms = 20_000) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    try {
      if ((await fetch(`${base}/healthz`)).ok) return;
    } catch { /* not up yet */ }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`relay at ${base} did not become healthy within ${ms} ms`);
}

// Starts a relay with a fixed resume secret (so ids survive its restart) and returns controls for it.
export async function startRelay(extraArgs = []) {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const secret = randomBytes(32).toString('hex');
  const served = dist();
  let child = null;
  const log = [];
  const relay = {
    base,
    log,
    dist: served,
    // The flags of the next start: a test may change them between a stop and a start.
    args: [...extraArgs],
    async start() {
      child = spawn(BIN, ['--bind', `127.0.0.1:${port}`, '--dist', served, ...relay.args], {
        env: { ...process.env, PEERLAB_RESUME_SECRET: secret, RUST_LOG: process.env.RUST_LOG ?? 'warn' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      child.stdout.on('data', (d) => log.push(String(d)));
      child.stderr.on('data', (d) => log.push(String(d)));
      await waitHealthy(base);
    },
    // An abrupt end, like a crash: no goodbye to the clients.
    async kill() {
      if (!child) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGKILL');
      await exited;
      child = null;
    },
    async stop() {
      if (!child) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5_000))]);
      if (child) child.kill('SIGKILL');
      child = null;
    },
  };
  await relay.start();
  return relay;
}
