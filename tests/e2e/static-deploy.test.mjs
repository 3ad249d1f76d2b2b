// End-to-end: the README's "app on a static host, relay elsewhere". A copy of the release build (dist/)
// is served by a plain static file server (no relay behind it, no headers of the relay's), its
// peerlab.json names a relay on another port, and that relay lists the static origin with
// --allowed-origin: a deep link loads (the host's 404-to-index.html fallback), and two chat pages join the
// lobby through the relay elsewhere and exchange a message. A relay that does not list the origin refuses
// the page's WebSocket, and the page says so in words, naming the flag that fixes it.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { extname, join, normalize } from 'node:path';
import { launch } from './browser.mjs';
import { startRelay } from './relay.mjs';

const DIST = process.env.PEERLAB_DIST ?? new URL('../../dist', import.meta.url).pathname;
const WAIT = 30_000;

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.wasm': 'application/wasm',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.png': 'image/png',
};

// What a static host does: a file if there is one, else index.html (the fallback a single-page app asks
// the host for, so /room/x loads the app). No compression, no cache or security headers.
function startStaticServer(root) {
  const server = createServer(async (req, res) => {
    let path;
    try {
      path = normalize(decodeURIComponent(new URL(req.url, 'http://host').pathname));
    } catch {
      res.writeHead(400).end();
      return;
    }
    let file = join(root, path);
    const isFile = await stat(file).then((s) => s.isFile(), () => false);
    if (!isFile || !file.startsWith(root + '/')) file = join(root, 'index.html');
    const body = await readFile(file);
    res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream' });
    res.end(req.method === 'HEAD' ? undefined : body);
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const origin = `http://127.0.0.1:${server.address().port}`;
      resolve({ origin, close: () => new Promise((r) => server.close(r)) });
    });
  });
}

let browser;
let site;
let host;
before(async () => {
  browser = await launch();
  site = mkdtempSync(join(tmpdir(), 'peerlab-static-'));
  // Only the build itself: the relay's precompressed copies are of no use to a plain host.
  cpSync(DIST, site, { recursive: true, filter: (src) => !/\.(br|gz)$|\/\.trunk-lock$/.test(src) });
  host = await startStaticServer(site);
});
after(async () => {
  await browser?.close();
  await host?.close();
  if (site) rmSync(site, { recursive: true, force: true });
});

// Points the site's peerlab.json at `relay` (no rebuild: the app reads the file at start).
function useRelay(relay) {
  writeFileSync(join(site, 'peerlab.json'), JSON.stringify({ relay_url: `${relay.base.replace('http', 'ws')}/ws` }));
}

async function open(path) {
  const context = await browser.newContext();
  const page = await context.newPage();
  const problems = [];
  page.on('console', (msg) => { if (msg.type() === 'error') problems.push(`console: ${msg.text()}`); });
  page.on('pageerror', (err) => problems.push(`exception: ${err.message}`));
  await page.goto(host.origin + path);
  return { context, page, problems };
}

async function joinChat(name) {
  const who = await open('/chat');
  await who.page.getByTestId('page-chat').waitFor({ timeout: WAIT });
  await who.page.getByTestId('chat-name').fill(name);
  await who.page.getByTestId('chat-join').click();
  return { name, ...who };
}

const unique = (name) => `${name}-${Math.random().toString(36).slice(2, 7)}`;
const user = (who, name) => who.page.locator(`[data-testid="chat-user"][data-name="${name}"]`);

test('dist/ on a static host with a relay elsewhere: a deep link loads and two pages chat', async () => {
  const relay = await startRelay(['--allowed-origin', host.origin]);
  const pages = [];
  try {
    useRelay(relay);
    // A deep link: the host knows no /room/x and answers with index.html; the app routes it.
    const deep = await open('/room/x');
    pages.push(deep);
    await deep.page.getByTestId('page-room').waitFor({ timeout: WAIT });
    assert.equal(await deep.page.title(), 'peerlab');

    const ada = await joinChat(unique('Ada'));
    const bob = await joinChat(unique('Bob'));
    pages.push(ada, bob);
    for (const who of [ada, bob]) {
      await who.page.getByTestId('chat-self-id').filter({ hasText: /[0-9a-f]{32}/ }).waitFor({ timeout: WAIT });
    }
    await user(ada, bob.name).waitFor({ timeout: WAIT });
    await user(ada, bob.name).click();
    const text = `from a static host ${Date.now()}`;
    await ada.page.getByTestId('chat-input').fill(text);
    await ada.page.getByTestId('chat-send').click();
    await ada.page
      .locator('[data-testid="chat-message"][data-direction="out"][data-status="delivered"]')
      .filter({ hasText: text })
      .waitFor({ timeout: WAIT });
    await user(bob, ada.name).click();
    await bob.page
      .locator('[data-testid="chat-message"][data-direction="in"]')
      .filter({ hasText: text })
      .waitFor({ timeout: WAIT });
    assert.deepEqual(pages.flatMap((p) => p.problems), []);
  } finally {
    for (const p of pages) await p.context.close().catch(() => {});
    await relay.stop();
  }
});

test('a relay that does not list the static origin refuses the page, and the page says why in words', async () => {
  const relay = await startRelay();
  let who;
  try {
    useRelay(relay);
    who = await joinChat(unique('Ada'));
    const error = who.page.getByTestId('relay-error');
    await error.filter({ hasText: '--allowed-origin' }).waitFor({ timeout: WAIT }).catch(async (err) => {
      const shown = await who.page.locator('[data-testid="relay-status"], [data-testid="relay-error"]').allTextContents();
      throw new Error(`no words about the origin; the page shows ${JSON.stringify(shown)}`, { cause: err });
    });
    const words = await error.textContent();
    assert.match(words, /refused this page/i, words);
    assert.ok(words.includes(`--allowed-origin ${host.origin}`), `names the flag and this origin: ${words}`);
    assert.ok(words.includes(`${relay.base.replace('http', 'ws')}/ws`), `names the relay: ${words}`);
    // The cause the page names is the relay's: it refused the handshake for the origin.
    const metrics = await (await fetch(`${relay.base}/metrics`)).text();
    const refused = Number(metrics.match(/^peerlab_upgrades_refused_total\{reason="origin"\} (\d+)/m)?.[1]);
    assert.ok(refused >= 1, `the relay counts origin refusals: ${refused}`);
    // It keeps trying, and nobody is joined.
    await who.page.locator('[data-testid="relay-status"][data-state="reconnecting"]').waitFor({ timeout: WAIT });
    assert.equal(await who.page.getByTestId('chat-self-id').count(), 0);
  } finally {
    await who?.context.close().catch(() => {});
    await relay.stop();
  }
});
