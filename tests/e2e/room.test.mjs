// End-to-end: the room page (/room/:name), a full-mesh video call, with four browsers through the real
// relay — every page sees three remote tiles with frames flowing and the same verification code on both
// ends of each connection; a muted microphone and a camera turned off show on the others' tiles; a shared
// screen replaces the camera's track on the others' tiles (the picture changes shape) and stopping it
// restores the camera; room chat reaches everyone; the bitrate cap follows the number of peers; a member
// who leaves (button or closed tab) disappears from the others, and so does one whose browser dies
// without a goodbye, once the relay's resume grace ends; a fifth member of a room for four gets
// the "room is full" page; a relay restart does not end a call; and a join while the relay is down waits
// in the lobby (saying so, and cancellable) until the relay is back. Saves target/screenshots/room.png
// (four participants).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { launch, launchKillable, BASE, SCREENSHOTS } from './browser.mjs';
import { startRelay } from './relay.mjs';

let browser;
before(async () => {
  browser = await launch();
  mkdirSync(SCREENSHOTS, { recursive: true });
});
after(async () => {
  await browser?.close();
});

const unique = (name) => `${name}-${Math.random().toString(36).slice(2, 7)}`;
// Small video keeps four pages with three encoders each within a 2-core machine.
const VIDEO = 'video=320x240@15';
const WAIT = 60_000;

// Opens the room, waits for the camera preview, and joins under `name` (unless `join` is false).
async function openRoom(base, room, name, { join = true, from = browser } = {}) {
  const context = await from.newContext();
  const page = await context.newPage();
  const problems = [];
  page.on('console', (msg) => { if (msg.type() === 'error') problems.push(`console: ${msg.text()}`); });
  page.on('pageerror', (err) => problems.push(`exception: ${err.message}`));
  await page.goto(`${base}/room/${room}?${VIDEO}`);
  await page.locator('[data-testid="room-preview"][data-live="true"]').waitFor({ timeout: WAIT });
  await page.getByLabel('Your name').fill(name);
  const who = { name, context, page, problems };
  if (join) await clickJoin(who);
  return who;
}

async function clickJoin(who) {
  await who.page.getByRole('button', { name: 'Join call' }).click();
}

async function waitSelfTile(who) {
  await who.page.locator('[data-testid="tile"][data-self="true"]').waitFor({ timeout: WAIT });
  const id = await who.page.locator('[data-testid="tile"][data-self="true"]').getAttribute('data-peer-id');
  who.id = id;
  return id;
}

const tileOf = (who, other) => who.page.locator(`[data-testid="tile"][data-name="${other.name}"]`);

// Waits until `who` shows exactly `n` remote tiles, each connected, with a picture and its playback time
// advancing (frames keep arriving).
async function waitRemoteVideo(who, n, timeout = WAIT) {
  await who.page.waitForFunction(
    (n) => {
      const tiles = [...document.querySelectorAll('[data-testid="tile"][data-self="false"]')];
      if (tiles.length !== n) return false;
      window.__seen = window.__seen || {};
      let ok = true;
      for (const t of tiles) {
        const v = t.querySelector('[data-testid="tile-video"]');
        const id = t.dataset.peerId;
        const prev = window.__seen[id];
        window.__seen[id] = v ? v.currentTime : undefined;
        if (!v || t.dataset.connection !== 'connected' || v.videoWidth === 0) ok = false;
        else if (prev === undefined || !(v.currentTime > prev)) ok = false;
      }
      return ok;
    },
    n,
    { timeout, polling: 500 },
  );
}

// The shape (width / height) of `other`'s picture on `who`'s page.
async function aspectOf(who, other) {
  return tileOf(who, other)
    .getByTestId('tile-video')
    .evaluate((v) => (v.videoHeight ? v.videoWidth / v.videoHeight : 0));
}

async function waitAspect(who, other, predicate, label) {
  const deadline = Date.now() + WAIT;
  let last = 0;
  while (Date.now() < deadline) {
    last = await aspectOf(who, other);
    if (predicate(last)) return last;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`${who.name} never saw ${other.name}'s picture become ${label} (last aspect ${last})`);
}

test('four people in a mesh call: video both ways, mute, camera, screen share, chat, cap, leave', async () => {
  const room = unique('mesh');
  // Everyone opens the page first, then all join at once: no staggering is needed.
  const people = [];
  for (const name of ['Ada', 'Bob', 'Cyd', 'Dee']) people.push(await openRoom(BASE, room, unique(name), { join: false }));
  const [ada, bob, cyd, dee] = people;
  try {
    await Promise.all(people.map(clickJoin));
    await Promise.all(people.map(waitSelfTile));
    await Promise.all(people.map((who) => waitRemoteVideo(who, 3, 90_000)));

    // Each connection shows the same six-digit code on both ends, and a quality line from its stats.
    for (const [x, y] of [[ada, bob], [bob, cyd], [cyd, dee], [dee, ada]]) {
      const fromX = tileOf(x, y).getByTestId('tile-verification');
      const fromY = tileOf(y, x).getByTestId('tile-verification');
      await x.page.waitForFunction((el) => /^\d{3} \d{3}$/.test(el.textContent.trim()), await fromX.elementHandle());
      await y.page.waitForFunction((el) => /^\d{3} \d{3}$/.test(el.textContent.trim()), await fromY.elementHandle());
      assert.equal((await fromX.textContent()).trim(), (await fromY.textContent()).trim());
    }
    await tileOf(ada, bob).getByTestId('tile-quality').filter({ hasText: /RTT \d+ ms · loss \d+\.\d% · host→host/ })
      .waitFor({ timeout: WAIT });
    // Chromium's fake microphone beeps: Bob's tile on Ada's page lights up while the beep arrives.
    await tileOf(ada, bob).locator('[data-testid="tile-speaking"][data-speaking="true"]').waitFor({ timeout: WAIT });
    // 2.5 Mbit/s over three peers.
    assert.equal(await ada.page.getByTestId('room-bitrate-cap').getAttribute('data-bps'), '833333');
    await ada.page.getByTestId('room-bitrate-cap').filter({ hasText: '833 kbit/s per peer' }).waitFor();
    // The inspector starts closed (it renders nothing while the call forms); opened, it shows the three
    // peer connections and the relay messages it kept meanwhile.
    assert.equal(await ada.page.getByTestId('inspector-peer').count(), 0);
    await ada.page.locator('[data-testid="inspector"] > summary').click();
    await ada.page.locator('[data-testid="inspector-peer"][data-connection="connected"]').nth(2).waitFor({ timeout: WAIT });
    await ada.page.locator('[data-testid="inspector-entry"][data-direction="in"][data-kind="signal"]').first().waitFor();
    await ada.page.screenshot({ path: `${SCREENSHOTS}room.png`, fullPage: true });

    // Mute: shown on every other page, and gone again after unmuting.
    const mic = ada.page.getByRole('button', { name: 'Mute microphone' });
    await mic.click();
    await ada.page.getByRole('button', { name: 'Unmute microphone' }).waitFor();
    assert.equal(await ada.page.getByTestId('control-mic').getAttribute('aria-pressed'), 'true');
    for (const other of [bob, cyd, dee]) await tileOf(other, ada).getByTestId('tile-mic-muted').waitFor();
    await ada.page.getByRole('button', { name: 'Unmute microphone' }).click();
    for (const other of [bob, cyd, dee]) {
      await tileOf(other, ada).getByTestId('tile-mic-muted').waitFor({ state: 'detached' });
    }
    // Camera off on Bob's side shows on Ada's tile of Bob.
    await bob.page.getByTestId('control-camera').click();
    await tileOf(ada, bob).getByTestId('tile-camera-off').waitFor();
    await bob.page.getByTestId('control-camera').click();
    await tileOf(ada, bob).getByTestId('tile-camera-off').waitFor({ state: 'detached' });

    // Screen share: the camera is 4:3, the (fake) screen 16:9; the others' tile of Cyd changes shape
    // without renegotiation, and goes back when the share stops.
    assert.ok((await aspectOf(ada, cyd)) < 1.5, 'camera picture is 4:3');
    await cyd.page.getByRole('button', { name: 'Share screen' }).click();
    await cyd.page.getByRole('button', { name: 'Stop sharing' }).waitFor({ timeout: WAIT });
    for (const other of [ada, bob, dee]) await waitAspect(other, cyd, (a) => a > 1.6, 'the 16:9 screen');
    await tileOf(ada, cyd).getByTestId('tile-sharing').waitFor();
    await cyd.page.getByRole('button', { name: 'Stop sharing' }).click();
    await cyd.page.getByRole('button', { name: 'Share screen' }).waitFor();
    for (const other of [ada, bob, dee]) await waitAspect(other, cyd, (a) => a > 1.2 && a < 1.5, 'the 4:3 camera');

    // Room chat reaches everyone over the data channels, and the sender sees three acknowledgements.
    await dee.page.getByTestId('room-chat-input').fill('hello <b>room</b>');
    await dee.page.getByTestId('room-chat-send').click();
    for (const other of [ada, bob, cyd]) {
      await other.page.getByTestId('room-chat-message').filter({ hasText: 'hello <b>room</b>' }).waitFor();
    }
    await dee.page.locator('[data-testid="room-chat-message"][data-mine="true"][data-delivered="3"]').waitFor();

    // Dee leaves with the button: gone from the others at once, and the cap grows for three.
    await dee.page.getByTestId('control-leave').click();
    await dee.page.getByRole('button', { name: 'Join call' }).waitFor();
    for (const other of [ada, bob, cyd]) await waitRemoteVideo(other, 2, 15_000);
    await ada.page.locator('[data-testid="room-bitrate-cap"][data-bps="1250000"]').waitFor();

    // Cyd closes the tab: gone from the others too.
    await cyd.context.close();
    for (const other of [ada, bob]) await waitRemoteVideo(other, 1, 15_000);

    for (const who of people) assert.deepEqual(who.problems, [], `${who.name}'s console`);
  } finally {
    for (const who of people) await who.context.close().catch(() => {});
  }
});

test('a fifth person in a room for four gets the room-full page, and gets in once someone leaves', async () => {
  const relay = await startRelay(['--max-peers', '4']);
  const room = unique('full');
  const people = [];
  try {
    for (const name of ['Ada', 'Bob', 'Cyd', 'Dee']) {
      const who = await openRoom(relay.base, room, unique(name));
      await waitSelfTile(who);
      people.push(who);
    }
    const eve = await openRoom(relay.base, room, unique('Eve'));
    people.push(eve);
    const full = eve.page.getByTestId('room-full');
    await full.waitFor({ timeout: WAIT });
    assert.match(await full.textContent(), /This room is full \(4 people\)/);
    assert.match(await full.textContent(), /Try again when someone leaves/);
    assert.equal(await eve.page.locator('[data-testid="tile"]').count(), 0);

    await people[3].page.getByTestId('control-leave').click();
    await eve.page.getByRole('button', { name: 'Try again' }).click();
    await waitSelfTile(eve);
    await waitRemoteVideo(eve, 3, 90_000);
  } finally {
    for (const who of people) await who.context.close().catch(() => {});
    await relay.stop();
  }
});

test('the relay restarts mid-call: video keeps flowing, everyone keeps their id, and a newcomer still gets in', async () => {
  const relay = await startRelay();
  const room = unique('restart');
  const people = [];
  const state = (who) => who.page.getByTestId('connection-state');
  try {
    for (const name of ['Ada', 'Bob']) people.push(await openRoom(relay.base, room, unique(name)));
    const [ada, bob] = people;
    await Promise.all(people.map(waitSelfTile));
    await Promise.all(people.map((who) => waitRemoteVideo(who, 1, 90_000)));

    await relay.kill();
    for (const who of people) {
      await who.page.locator('[data-testid="connection-state"][data-state="reconnecting"]').waitFor({ timeout: 30_000 });
    }
    // The media is peer to peer: with the relay gone, frames still arrive and nobody's tile goes.
    for (const who of people) await waitRemoteVideo(who, 1, 15_000);

    await relay.start();
    for (const who of people) {
      await who.page.locator('[data-testid="connection-state"][data-state="joined"]').waitFor({ timeout: 60_000 });
      const id = await who.page.locator('[data-testid="tile"][data-self="true"]').getAttribute('data-peer-id');
      assert.equal(id, who.id, `${who.name} kept its peer id across the restart`);
      assert.equal(await state(who).getAttribute('data-state'), 'joined');
    }
    await waitRemoteVideo(ada, 1, 15_000);

    // Signaling works again: a newcomer connects to both through the restarted relay.
    const cyd = await openRoom(relay.base, room, unique('Cyd'));
    people.push(cyd);
    await waitSelfTile(cyd);
    for (const who of [ada, bob, cyd]) await waitRemoteVideo(who, 2, 90_000);

    const unexpected = people.flatMap((who) => who.problems)
      .filter((p) => !/WebSocket|ERR_CONNECTION_REFUSED|net::/i.test(p));
    assert.deepEqual(unexpected, [], 'only the expected connection errors while the relay was down');
  } finally {
    for (const who of people) await who.context.close().catch(() => {});
    await relay.stop();
  }
});

// A counter of the relay's /metrics (Prometheus text), 0 when absent.
async function metric(relay, name) {
  const text = await (await fetch(`${relay.base}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line ? Number(line.split(' ')[1]) : 0;
}

test('a member whose browser dies (no goodbye) disappears from the others within the resume grace, and their call goes on', async () => {
  // A short grace keeps the test quick; the bound is the relay's setting (default 20 s).
  const relay = await startRelay(['--resume-grace-ms', '2000']);
  const room = unique('crash');
  const people = [];
  // Cyd runs in a browser of its own, so it can die whole: its sockets end with no close frame (as with a
  // power cut or a lost network), unlike a closed tab or a crashed page, whose browser says goodbye.
  const doomed = await launchKillable();
  try {
    for (const name of ['Ada', 'Bob']) people.push(await openRoom(relay.base, room, unique(name)));
    const cyd = await openRoom(relay.base, room, unique('Cyd'), { from: doomed.browser });
    people.push(cyd);
    const [ada, bob] = people;
    await Promise.all(people.map(waitSelfTile));
    await Promise.all(people.map((who) => waitRemoteVideo(who, 2, 90_000)));
    assert.equal(await metric(relay, 'peerlab_away_total'), 0);

    doomed.kill();

    // The relay keeps Cyd as away for the grace, then tells the others, who drop the tile and the
    // connection; the call between the two who are left goes on.
    for (const who of [ada, bob]) await waitRemoteVideo(who, 1, 30_000);
    assert.equal(await tileOf(ada, cyd).count(), 0);
    assert.equal(await tileOf(bob, cyd).count(), 0);
    assert.equal(await metric(relay, 'peerlab_away_total'), 1, 'the relay saw a drop, not a leave');
    // The relay counts the expiry just after it has told the others.
    for (let i = 0; i < 50 && (await metric(relay, 'peerlab_away_expired_total')) === 0; i++) {
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(await metric(relay, 'peerlab_away_expired_total'), 1, 'the grace ran out and was announced');
    await ada.page.locator('[data-testid="room-bitrate-cap"][data-bps="1500000"]').waitFor({ timeout: WAIT });
    for (const who of [ada, bob]) assert.deepEqual(who.problems, [], `${who.name}'s console`);
  } finally {
    for (const who of people) await who.context.close().catch(() => {});
    await doomed.close();
    await relay.stop();
  }
});

test('a join while the relay is down waits in the lobby, says so, can be cancelled, and enters the call once the relay is back', async () => {
  const relay = await startRelay();
  const room = unique('down');
  let who;
  try {
    who = await openRoom(relay.base, room, unique('Ada'), { join: false });
    const { page } = who;
    const joinStatus = page.getByTestId('room-join-status');
    await relay.kill();
    await clickJoin(who);
    // No call view without a welcome: the lobby stays, its button busy and disabled, and it says why.
    const joining = page.getByRole('button', { name: 'Joining…' });
    await joining.waitFor({ timeout: WAIT });
    assert.equal(await joining.isDisabled(), true);
    assert.equal(await joining.getAttribute('aria-busy'), 'true');
    await page.getByText(/relay cannot be reached — trying again/).first().waitFor({ timeout: WAIT });
    assert.match(await joinStatus.textContent(), /attempt \d+/);

    // Cancel stops the attempts: with the relay back, the person stays in the lobby until they join.
    await page.getByTestId('room-cancel-join').click();
    const joinButton = page.getByRole('button', { name: 'Join call' });
    await joinButton.waitFor({ timeout: WAIT });
    assert.equal(await joinButton.isDisabled(), false);
    assert.equal(await joinStatus.count(), 0);
    await relay.start();
    await page.waitForTimeout(3_000);
    assert.equal(await page.locator('[data-testid="tile"]').count(), 0, 'a cancelled join does not go on by itself');
    assert.equal(await page.getByTestId('room-join').textContent(), 'Join call');

    // Joined again while the relay is away: it keeps trying, and gets in once the relay is back.
    await relay.kill();
    await clickJoin(who);
    await joining.waitFor({ timeout: WAIT });
    await page.getByText(/relay cannot be reached/).first().waitFor({ timeout: WAIT });
    await page.waitForTimeout(1_000);
    assert.equal(await page.locator('[data-testid="tile"]').count(), 0);
    await relay.start();
    await waitSelfTile(who);
    assert.equal(await page.getByTestId('room-join').isVisible(), false, 'the lobby is hidden once welcomed');
    await page.locator('[data-testid="connection-state"][data-state="joined"]').waitFor({ timeout: WAIT });
  } finally {
    await who?.context.close().catch(() => {});
    await relay.stop();
  }
});

test('the copy-link button copies the room link with its join token', async () => {
  const room = unique('link');
  const context = await browser.newContext({ permissions: ['clipboard-read', 'clipboard-write'] });
  const page = await context.newPage();
  try {
    await page.goto(`${BASE}/room/${room}?token=abc.def`);
    const link = await page.getByTestId('room-link').textContent();
    assert.equal(link, `${BASE}/room/${room}?token=abc.def`);
    await page.getByTestId('room-copy-link').click();
    await page.getByText('Copied.').waitFor();
    assert.equal(await page.evaluate(() => navigator.clipboard.readText()), link);
  } finally {
    await context.close();
  }
});
