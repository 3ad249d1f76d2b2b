// End-to-end: the README's development loop. A relay of the test's own and `trunk serve` with the
// repository's Trunk.toml, whose proxies carry /ws and /ice-summary to the relay. Started first without
// the README's --allowed-origin for trunk's address, the relay refuses the page, and the page says so and
// names the flag; restarted with it, the relay lets the waiting page in. Two pages opened through trunk's
// port then exchange a chat message; a source file changes, trunk rebuilds, and its autoreload socket
// reloads both pages with the change.
//
// trunk runs in a copy of the source tree, because the test edits a file, with the repository's target/
// (or $CARGO_TARGET_DIR): cargo names a workspace crate's build by its place in the workspace, not by the
// directory the workspace is in, so the copy reuses the repository's dependencies and only the app and the
// protocol crate compile again. It never downloads anything: Trunk.toml says offline = true, and cargo
// runs offline.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { launch } from './browser.mjs';
import { freePort, startRelay } from './relay.mjs';

const ROOT = new URL('../../', import.meta.url).pathname;
// What `trunk serve` reads: the app and its assets, and the workspace whose manifests cargo loads (the
// relay's and the load generator's crates are members, so their sources come too, though only the app
// and the protocol compile). No target/, dist/ or node_modules.
const TREE = ['Cargo.toml', 'Cargo.lock', 'Trunk.toml', 'index.html', 'src', 'static', 'style', 'protocol',
  'server', 'loadgen', 'scripts/compress-dist.sh'];
// The first debug build compiles every dependency for wasm32 when target/ holds no debug build of the app
// yet (the browser tests' builds have other features): 4.5 minutes on two shared cores. Warm, it builds
// the two crates in about 50 s.
const FIRST_BUILD = 600_000;
// A rebuild of the edited crate, then the reload: about 10 s warm.
const REBUILD = 300_000;
const WAIT = 30_000;
// trunk's output, kept beside scripts/test.sh's logs.
const LOG = join(ROOT, 'target/test-logs/dev-loop-trunk.log');

let browser;
let relay;
let trunk;
let copy;
before(async () => {
  browser = await launch();
  copy = mkdtempSync(join(tmpdir(), 'peerlab-dev-'));
  for (const entry of TREE) {
    cpSync(join(ROOT, entry), join(copy, entry), { recursive: true, filter: (src) => !/\/target(\/|$)/.test(src) });
  }
});
after(async () => {
  await browser?.close();
  await trunk?.stop();
  if (trunk) {
    mkdirSync(join(LOG, '..'), { recursive: true });
    writeFileSync(LOG, trunk.log.join(''));
  }
  await relay?.stop();
  if (copy) rmSync(copy, { recursive: true, force: true });
});

// Starts `trunk serve` in `dir` on `port` and waits until it serves the built app. Returns its log and a
// stop that ends trunk and the cargo it may be running (its own process group).
async function startTrunk(dir, port) {
  const log = [];
  const child = spawn('trunk', ['serve', '--port', String(port), '--skip-version-check'], {
    cwd: dir,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      ...process.env,
      CARGO_TARGET_DIR: process.env.CARGO_TARGET_DIR ?? join(ROOT, 'target'),
      CARGO_NET_OFFLINE: 'true',
      NO_COLOR: 'true',
      RUST_LOG: 'info',
    },
  });
  let exited = null;
  const exit = new Promise((resolve) => child.once('exit', (code, signal) => { exited = code ?? signal; resolve(); }));
  child.stdout.on('data', (d) => log.push(String(d)));
  child.stderr.on('data', (d) => log.push(String(d)));
  const stop = async () => {
    if (exited !== null) return;
    try { process.kill(-child.pid, 'SIGTERM'); } catch { /* gone */ }
    await Promise.race([exit, new Promise((r) => setTimeout(r, 5_000))]);
    if (exited === null) try { process.kill(-child.pid, 'SIGKILL'); } catch { /* gone */ }
  };
  const tail = () => log.join('').split('\n').slice(-30).join('\n');
  const base = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + FIRST_BUILD;
  for (;;) {
    if (exited !== null) throw new Error(`trunk serve exited (${exited}):\n${tail()}`);
    if (/ERROR/.test(log.join(''))) {
      await stop();
      throw new Error(`trunk serve failed:\n${tail()}`);
    }
    try {
      const page = await (await fetch(`${base}/`)).text();
      // The page trunk serves once its first build is done names the module it built.
      if (/_bg\.wasm/.test(page)) break;
    } catch { /* not listening yet */ }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`trunk serve did not serve a build within ${FIRST_BUILD / 1000} s:\n${tail()}`);
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  return { base, log, tail, stop };
}

async function joinChat(base, name, { wait = true } = {}) {
  const context = await browser.newContext();
  const page = await context.newPage();
  const problems = [];
  page.on('console', (msg) => { if (msg.type() === 'error') problems.push(`console: ${msg.text()}`); });
  page.on('pageerror', (err) => problems.push(`exception: ${err.message}`));
  await page.goto(`${base}/chat`);
  await page.getByTestId('page-chat').waitFor({ timeout: WAIT });
  await page.getByTestId('chat-name').fill(name);
  await page.getByTestId('chat-join').click();
  const who = { name, context, page, problems };
  if (wait) await joined(who);
  return who;
}

async function joined(who) {
  await who.page.getByTestId('chat-self-id').filter({ hasText: /[0-9a-f]{32}/ }).waitFor({ timeout: WAIT });
}

const unique = (name) => `${name}-${Math.random().toString(36).slice(2, 7)}`;
const user = (who, name) => who.page.locator(`[data-testid="chat-user"][data-name="${name}"]`);
const seconds = (ms) => (ms / 1000).toFixed(1);

test('trunk serve: a relay without --allowed-origin is named as the cause; with it two pages chat through the /ws proxy, and an edited source reloads them with the change', { timeout: FIRST_BUILD + REBUILD + 6 * WAIT }, async (t) => {
  const port = await freePort();
  const origin = `http://127.0.0.1:${port}`;
  // Started as a developer who forgot the README's --allowed-origin would start it.
  relay = await startRelay();
  // The copy's proxies lead to this test's relay instead of the default 127.0.0.1:8080.
  const toml = join(copy, 'Trunk.toml');
  const config = readFileSync(toml, 'utf8');
  const backend = 'backend = "ws://127.0.0.1:8080/ws"';
  assert.ok(config.includes(backend), `Trunk.toml proxies /ws with ${backend}`);
  writeFileSync(toml, config.replaceAll('127.0.0.1:8080', new URL(relay.base).host));

  const started = Date.now();
  trunk = await startTrunk(copy, port);
  t.diagnostic(`first build served after ${seconds(Date.now() - started)} s`);

  // The home page's sentence on what the relay's STUN/TURN settings reach comes through the proxy too.
  const home = await browser.newPage();
  await home.goto(`${trunk.base}/`);
  await home.getByTestId('home-reach').waitFor({ timeout: WAIT });
  await home.close();

  // trunk accepts the page's WebSocket and then fails to open its own to the relay (403): the page names
  // the cause and the flag, and keeps trying.
  const ada = await joinChat(trunk.base, unique('Ada'), { wait: false });
  let bob;
  try {
    const refused = ada.page.getByTestId('relay-error').filter({ hasText: 'The relay refused this page' });
    await refused.filter({ hasText: `--allowed-origin ${origin}` }).waitFor({ timeout: WAIT });
    // Restarted with the flag, the relay lets the same page in without a reload, and the words go.
    await relay.stop();
    relay.args.push('--allowed-origin', origin);
    await relay.start();
    await joined(ada);
    await refused.waitFor({ state: 'detached', timeout: WAIT });

    bob = await joinChat(trunk.base, unique('Bob'));
    await user(ada, bob.name).waitFor({ timeout: WAIT });
    await user(ada, bob.name).click();
    const text = `through trunk ${Date.now()}`;
    await ada.page.getByTestId('chat-input').fill(text);
    await ada.page.getByTestId('chat-send').click();
    await user(bob, ada.name).waitFor({ timeout: WAIT });
    await user(bob, ada.name).click();
    await bob.page
      .locator('[data-testid="chat-message"][data-direction="in"]')
      .filter({ hasText: text })
      .waitFor({ timeout: WAIT });

    // Edit a visible string of the chat page; a reload, not an update in place, clears the marker.
    for (const who of [ada, bob]) await who.page.evaluate(() => { window.__peerlabBeforeEdit = true; });
    const file = join(copy, 'src/pages/chat.rs');
    const source = readFileSync(file, 'utf8');
    const stamp = `Edited ${Date.now()}.`;
    const lead = /(<p class="lead">\s*")/;
    assert.match(source, lead, 'the chat page has a lead paragraph to edit');
    const edited = Date.now();
    writeFileSync(file, source.replace(lead, `$1${stamp} `));
    for (const who of [ada, bob]) {
      await who.page.locator('.lead').filter({ hasText: stamp }).waitFor({ timeout: REBUILD });
      assert.equal(await who.page.evaluate(() => window.__peerlabBeforeEdit), undefined, 'the page reloaded');
    }
    t.diagnostic(`edit to reloaded pages in ${seconds(Date.now() - edited)} s`);
    // Only Ada's attempts while the relay restarted may have failed in the console.
    const unexpected = [...ada.problems, ...bob.problems].filter((p) => !/WebSocket|net::/i.test(p));
    assert.deepEqual(unexpected, []);
  } catch (err) {
    err.message += `\n--- trunk serve, last lines:\n${trunk.tail()}`;
    throw err;
  } finally {
    for (const who of [ada, bob]) await who?.context.close().catch(() => {});
  }
});
