// End-to-end: axe-core finds no serious or critical accessibility violation on any page in any of its main
// states — home, media (before and with the camera), loopback (before and connected), the chat lobby (not
// joined, a refused name, joined alone, a conversation, a file offer received), the room (its lobby, a bad
// room name, a call with two members, the room-full page), the TURN help page and the not-found page.
// Each state's findings are printed in full when one fails; lesser findings are listed as diagnostics.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { launch, BASE } from './browser.mjs';
import { startRelay } from './relay.mjs';
import { audit, blocking, describe } from './axe.mjs';

let browser;
let scratch;
before(async () => {
  browser = await launch();
  scratch = mkdtempSync(join(tmpdir(), 'peerlab-a11y-'));
});
after(async () => {
  await browser?.close();
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

const unique = (name) => `${name}-${Math.random().toString(36).slice(2, 7)}`;
const WAIT = 60_000;

async function open(path, base = BASE) {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(base + path);
  return { context, page };
}

// Audits the page as it is now; serious and critical findings are kept in `found`, named by `state`, for
// the test to assert on at its end (so one run lists every state's findings).
async function check(t, page, state, found) {
  const all = await audit(page);
  const minor = all.filter((v) => !blocking([v]).length);
  if (minor.length) t.diagnostic(`${state}: ${describe(minor)}`);
  if (blocking(all).length) found.push(`${state}:\n${describe(blocking(all))}`);
}

const none = (found) => assert.deepEqual(found, [], found.join('\n'));

test('home, TURN help and not-found pages have no serious accessibility violations', async (t) => {
  const found = [];
  const { context, page } = await open('/');
  try {
    await page.getByTestId('page-home').waitFor();
    await page.getByTestId('home-reach').waitFor();
    await check(t, page, 'home', found);
    // The room form's error state.
    await page.getByTestId('room-name-input').fill('not a room');
    await page.getByTestId('room-go').click();
    await page.getByTestId('room-name-error').filter({ hasText: /not allowed/ }).waitFor();
    await check(t, page, 'home, bad room name', found);
    await page.goto(`${BASE}/help/turn-server`);
    await page.getByTestId('page-turn-help').waitFor();
    await check(t, page, 'TURN help', found);
    await page.goto(`${BASE}/no/such/page`);
    await page.getByTestId('page-not-found').waitFor();
    await check(t, page, 'not found', found);
  } finally {
    await context.close();
  }
  none(found);
});

test('the network check (with its verdict) and the guide have no serious accessibility violations', async (t) => {
  const found = [];
  const { context, page } = await open('/network');
  try {
    await page.getByTestId('page-network').waitFor();
    await page.getByTestId('network-verdict').waitFor({ timeout: 20_000 });
    await check(t, page, 'network check, verdict', found);
    await page.goto(`${BASE}/learn`);
    await page.getByTestId('page-learn').waitFor();
    await check(t, page, 'guide, contents', found);
    await page.goto(`${BASE}/learn/topologies`);
    await page.getByTestId('learn-chapter-title').waitFor();
    await check(t, page, 'guide, topologies (cost table)', found);
  } finally {
    await context.close();
  }
  none(found);
});

test('media and loopback pages have no serious accessibility violations before and while running', async (t) => {
  const found = [];
  const { context, page } = await open('/media');
  try {
    await page.getByTestId('page-media').waitFor();
    await check(t, page, 'media, before start', found);
    await page.getByRole('button', { name: 'Start camera' }).click();
    await page.locator('[data-testid="track-video"][data-ready-state="live"]').waitFor();
    await page.getByRole('button', { name: 'Take snapshot' }).click();
    await page.getByTestId('snapshot-link').waitFor();
    await check(t, page, 'media, camera started', found);

    await page.goto(`${BASE}/loopback`);
    await page.getByTestId('page-loopback').waitFor();
    await check(t, page, 'loopback, before start', found);
    await page.getByRole('button', { name: 'Start', exact: true }).click();
    await page.locator('[data-testid="callee-state-connection"][data-state="connected"]').waitFor();
    await page.getByLabel('Message from caller to callee').fill('hello');
    await page.getByRole('button', { name: 'Send', exact: true }).click();
    await page.getByTestId('received-message').first().waitFor();
    await page.waitForFunction(() => /host/.test(document.querySelector('[data-testid="selected-pair"]').textContent));
    await check(t, page, 'loopback, connected', found);
  } finally {
    await context.close();
  }
  none(found);
});

test('chat lobby, a refused name, a conversation and a file offer have no serious accessibility violations', async (t) => {
  const found = [];
  const ada = await open('/chat');
  const bob = await open('/chat');
  try {
    await ada.page.getByTestId('page-chat').waitFor();
    await check(t, ada.page, 'chat, not joined', found);

    // A name the app refuses before anything is sent.
    await ada.page.getByTestId('chat-name').fill('   ');
    await ada.page.getByTestId('chat-join').click();
    await ada.page.getByTestId('relay-error').waitFor();
    await check(t, ada.page, 'chat, refused name', found);

    const names = { ada: unique('Ada'), bob: unique('Bob') };
    await ada.page.getByTestId('chat-name').fill(names.ada);
    await ada.page.getByTestId('chat-join').click();
    await ada.page.getByTestId('chat-self-id').filter({ hasText: /[0-9a-f]{32}/ }).waitFor();
    await check(t, ada.page, 'chat, joined', found);

    await bob.page.getByTestId('chat-name').fill(names.bob);
    await bob.page.getByTestId('chat-join').click();
    await bob.page.getByTestId('chat-self-id').filter({ hasText: /[0-9a-f]{32}/ }).waitFor();
    await ada.page.locator(`[data-testid="chat-user"][data-name="${names.bob}"]`).click();
    await ada.page.getByTestId('chat-input').fill('hello Bob');
    await ada.page.getByTestId('chat-send').click();
    await ada.page.locator('[data-testid="chat-message"][data-status="delivered"]').waitFor({ timeout: WAIT });
    await bob.page.locator(`[data-testid="chat-user"][data-name="${names.ada}"]`).click();
    await bob.page.locator('[data-testid="chat-message"][data-direction="in"]').waitFor();
    await check(t, ada.page, 'chat, conversation (sender)', found);
    await check(t, bob.page, 'chat, conversation (receiver)', found);

    const file = join(scratch, 'notes.txt');
    writeFileSync(file, 'a small file for the accessibility test\n');
    await ada.page.getByTestId('chat-file-input').setInputFiles(file);
    await bob.page.getByTestId('transfer-accept').waitFor({ timeout: WAIT });
    await check(t, bob.page, 'chat, file offer received', found);
    await check(t, ada.page, 'chat, file offered', found);
    await bob.page.getByTestId('transfer-accept').click();
    await bob.page.getByTestId('transfer-download').waitFor({ timeout: WAIT });
    await check(t, bob.page, 'chat, file received', found);
  } finally {
    await ada.context.close();
    await bob.context.close();
  }
  none(found);
});

async function openRoom(base, room, name) {
  const who = await open(`/room/${room}?video=320x240@15`, base);
  await who.page.locator('[data-testid="room-preview"][data-live="true"]').waitFor({ timeout: WAIT });
  await who.page.getByLabel('Your name').fill(name);
  return who;
}

const joinCall = (who) => who.page.getByRole('button', { name: 'Join call' }).click();

test('room lobby, a call of two, a bad room name and the room-full page have no serious accessibility violations', async (t) => {
  const found = [];
  const room = unique('a11y');
  const ada = await openRoom(BASE, room, unique('Ada'));
  const bob = await openRoom(BASE, room, unique('Bob'));
  try {
    await check(t, ada.page, 'room lobby', found);
    await joinCall(ada);
    await joinCall(bob);
    for (const who of [ada, bob]) {
      await who.page.locator('[data-testid="tile"][data-self="false"][data-connection="connected"]').waitFor({ timeout: WAIT });
    }
    await ada.page.getByTestId('room-chat-input').fill('hello room');
    await ada.page.getByTestId('room-chat-send').click();
    await bob.page.getByTestId('room-chat-message').filter({ hasText: 'hello room' }).waitFor();
    await check(t, ada.page, 'room, in a call of two', found);
    await ada.page.locator('[data-testid="inspector"] > summary').click();
    await ada.page.locator('[data-testid="inspector-peer"]').first().waitFor();
    await check(t, ada.page, 'room, in a call with the inspector open', found);
  } finally {
    await ada.context.close();
    await bob.context.close();
  }

  const bad = await open('/room/not%20a%20room');
  try {
    await bad.page.getByTestId('room-param-error').waitFor();
    await check(t, bad.page, 'room, bad room name', found);
  } finally {
    await bad.context.close();
  }

  const relay = await startRelay(['--max-peers', '1']);
  const first = await openRoom(relay.base, room, unique('Cyd'));
  const second = await openRoom(relay.base, room, unique('Dee'));
  try {
    await joinCall(first);
    await first.page.locator('[data-testid="tile"][data-self="true"]').waitFor({ timeout: WAIT });
    await check(t, first.page, 'room, in a call alone', found);
    await joinCall(second);
    await second.page.getByTestId('room-full').waitFor({ timeout: WAIT });
    await check(t, second.page, 'room full', found);
  } finally {
    await first.context.close();
    await second.context.close();
    await relay.stop();
  }
  none(found);
});
