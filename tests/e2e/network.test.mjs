// End-to-end: the network check (/network) on loopback, against relays of the test's own. Without STUN or
// TURN servers it can only find this device's addresses; with servers that never answer (nothing listens
// on their port) it says UDP is blocked, which also proves the TURN credentials of the relay's welcome
// reached the browser (a TURN URL without them makes RTCPeerConnection refuse the configuration).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch } from './browser.mjs';
import { startRelay, freePort } from './relay.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

// The relay's count of rooms with a member, from /metrics, once it has settled (a leave is asynchronous).
async function roomsOn(relay, settleMs = 5_000) {
  const deadline = Date.now() + settleMs;
  let rooms;
  do {
    const text = await (await fetch(`${relay.base}/metrics`)).text();
    rooms = Number(/^peerlab_rooms (\d+)$/m.exec(text)?.[1]);
    if (rooms === 0) return 0;
    await new Promise((r) => setTimeout(r, 100));
  } while (Date.now() < deadline);
  return rooms;
}

async function open(base, path) {
  const context = await browser.newContext();
  const page = await context.newPage();
  const problems = [];
  page.on('console', (msg) => { if (msg.type() === 'error') problems.push(`console: ${msg.text()}`); });
  page.on('pageerror', (err) => problems.push(`exception: ${err.message}`));
  await page.goto(base + path);
  return { context, page, problems };
}

test('without STUN or TURN servers the check finds host candidates only and says calls stay on this network', async () => {
  const relay = await startRelay();
  try {
    const { context, page, problems } = await open(relay.base, '/network');
    await page.getByTestId('page-network').waitFor();
    const verdict = page.getByTestId('network-verdict');
    await verdict.waitFor({ timeout: 20_000 });
    assert.equal(await verdict.getAttribute('data-reached'), 'host-only');
    assert.equal(await verdict.getAttribute('data-outlook'), 'same-network-only');
    assert.match(await verdict.innerText(), /Host only/);
    assert.match(await page.getByTestId('network-verdict-words').innerText(), /only between devices on the same network/);
    const types = await page.getByTestId('network-candidate').evaluateAll((rows) => rows.map((r) => r.dataset.type));
    assert.ok(types.length > 0, 'candidates are listed');
    assert.deepEqual([...new Set(types)], ['host']);
    assert.equal(await page.getByTestId('network-server').count(), 0);
    // The check left its private room once it had the servers: the relay holds no room.
    assert.equal(await roomsOn(relay), 0);
    assert.deepEqual(problems, []);
    await context.close();
  } finally {
    await relay.stop();
  }
});

test('servers that never answer: UDP blocked, each listed without an answer, and Check again runs anew', async () => {
  const silent = await freePort();
  const relay = await startRelay([
    '--ice-url', `stun:127.0.0.1:${silent}`,
    '--turn-url', `turn:127.0.0.1:${silent}?transport=udp`,
    '--turn-secret', 'e2e-secret',
  ]);
  try {
    const { context, page, problems } = await open(relay.base, '/network');
    await page.locator('[data-testid="network-status"][data-phase="gathering"]').waitFor({ timeout: 10_000 });
    const servers = page.getByTestId('network-server');
    await servers.first().waitFor();
    assert.deepEqual(await servers.evaluateAll((rows) => rows.map((r) => r.dataset.kind)), ['STUN', 'TURN over UDP']);
    const verdict = page.getByTestId('network-verdict');
    await verdict.waitFor({ timeout: 30_000 });
    assert.equal(await verdict.getAttribute('data-reached'), 'host-only');
    assert.equal(await verdict.getAttribute('data-outlook'), 'udp-blocked');
    assert.match(await verdict.innerText(), /will fail because UDP is blocked and no TURN over TCP is configured/);
    assert.deepEqual(await servers.evaluateAll((rows) => rows.map((r) => r.dataset.answered)), ['false', 'false']);

    await page.getByTestId('network-run').click();
    await page.locator('[data-testid="network-status"][data-phase="gathering"]').waitFor({ timeout: 10_000 });
    assert.equal(await verdict.count(), 0, 'the old verdict is gone while the new check runs');
    await verdict.waitFor({ timeout: 30_000 });
    assert.equal(await verdict.getAttribute('data-outlook'), 'udp-blocked');
    assert.deepEqual(problems, []);
    await context.close();
  } finally {
    await relay.stop();
  }
});

test('a relay that protects its rooms refuses the check, and the page says so instead of guessing', async () => {
  const relay = await startRelay(['--join-secret', 'e2e-join-secret']);
  try {
    const { context, page, problems } = await open(relay.base, '/network');
    const status = page.locator('[data-testid="network-status"][data-phase="failed"]');
    await status.waitFor({ timeout: 20_000 });
    assert.match(await status.innerText(), /TURN credentials only to members of a room/);
    assert.equal(await page.getByTestId('network-verdict').count(), 0);
    assert.equal(await page.getByTestId('network-candidate').count(), 0, 'nothing was gathered');
    assert.ok(await page.getByTestId('network-run').isEnabled(), 'it can be tried again');
    assert.deepEqual(problems, []);
    await context.close();
  } finally {
    await relay.stop();
  }
});

test('the home page and the navigation lead to the network check', async () => {
  const relay = await startRelay();
  try {
    const { context, page } = await open(relay.base, '/');
    await page.getByTestId('page-home').waitFor();
    await page.getByTestId('home-network').click();
    await page.getByTestId('page-network').waitFor();
    await page.getByTestId('nav-home').click();
    await page.getByTestId('nav-network').click();
    await page.getByTestId('page-network').waitFor();
    assert.equal(new URL(page.url()).pathname, '/network');
    await context.close();
  } finally {
    await relay.stop();
  }
});
