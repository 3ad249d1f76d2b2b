// The chat and room flows the NAT tests run between two homes, through the app's own UI.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { openSync, writeSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { openPage } from './lab.mjs';

export const WAIT = 60_000;
const unique = (name) => `${name}-${Math.random().toString(36).slice(2, 7)}`;

// A file of `mib` MiB of random bytes, written in 1 MiB pieces.
export function randomFile(dir, name, mib) {
  const path = join(dir, name);
  const fd = openSync(path, 'w');
  const hash = createHash('sha256');
  for (let i = 0; i < mib; i++) {
    const piece = randomBytes(1 << 20);
    hash.update(piece);
    writeSync(fd, piece);
  }
  closeSync(fd);
  return { path, name, size: mib << 20, sha256: hash.digest('hex') };
}

export async function joinChat(browser, label, init) {
  const name = unique(label);
  const who = await openPage(browser, '/chat', init);
  await who.page.getByTestId('page-chat').waitFor();
  await who.page.getByTestId('chat-name').fill(name);
  await who.page.getByTestId('chat-join').click();
  await who.page.getByTestId('chat-self-id').filter({ hasText: /[0-9a-f]{32}/ }).waitFor({ timeout: WAIT });
  const id = (await who.page.getByTestId('chat-self-id').textContent()).match(/[0-9a-f]{32}/)[0];
  return { ...who, name, id };
}

export const user = (who, other) => who.page.locator(`[data-testid="chat-user"][data-name="${other.name}"]`);

export async function openConversation(who, other) {
  await user(who, other).waitFor({ timeout: WAIT });
  await user(who, other).click();
  await who.page.locator(`[data-testid="chat-conversation"][data-peer-id="${other.id}"]`).waitFor();
}

export async function send(who, text) {
  await who.page.getByTestId('chat-input').fill(text);
  await who.page.getByTestId('chat-send').click();
}

export async function delivered(who, text, timeout = WAIT) {
  await who.page
    .locator('[data-testid="chat-message"][data-direction="out"][data-status="delivered"]')
    .filter({ hasText: text })
    .waitFor({ timeout });
}

export async function received(who, text, timeout = WAIT) {
  await who.page
    .locator('[data-testid="chat-message"][data-direction="in"]')
    .filter({ hasText: text })
    .waitFor({ timeout });
}

// Waits until `locator` (a path element) shows a `data-path` token that `matches`, and returns what it
// shows then or at the deadline (the first reading may still change: a `.local` address of the other side
// is resolved after the pair is chosen, turning a "prflx" end into the host it is).
async function waitPath(locator, matches, timeout = WAIT) {
  const deadline = Date.now() + timeout;
  let last = { token: '', words: '' };
  while (Date.now() < deadline) {
    if (await locator.count()) {
      last = {
        token: (await locator.getAttribute('data-path')) ?? '',
        words: ((await locator.textContent()) ?? '').trim(),
      };
      if (last.token && matches(last.token)) return last;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  return last;
}

// The path the conversation shows, once it is the one `matches` accepts (or the last one shown).
export const chatPath = (who, matches) => waitPath(who.page.getByTestId('chat-path'), matches);

const transfer = (who, direction) =>
  who.page.locator(`[data-testid="chat-transfer"][data-direction="${direction}"]`).last();

// Sends `file` from `from` to `to` (their conversation open on both sides) and checks both ends and the
// downloaded bytes.
export async function sendFile(from, to, file, timeout = 180_000) {
  await from.page.getByTestId('chat-file-input').setInputFiles(file.path);
  const incoming = transfer(to, 'in');
  await incoming.and(to.page.locator('[data-state="offered"]')).waitFor({ timeout: WAIT });
  await incoming.getByTestId('transfer-accept').click();
  const started = Date.now();
  for (const t of [incoming, transfer(from, 'out')]) {
    await t.and(t.page().locator('[data-state="done"]')).waitFor({ timeout });
    assert.equal(await t.getByTestId('transfer-sha256').getAttribute('data-sha256'), file.sha256);
  }
  const seconds = (Date.now() - started) / 1000;
  const href = await incoming.getByTestId('transfer-download').getAttribute('href');
  const digest = await to.page.evaluate(async (href) => {
    const bytes = await (await fetch(href)).arrayBuffer();
    const d = await crypto.subtle.digest('SHA-256', bytes);
    return [bytes.byteLength, [...new Uint8Array(d)].map((b) => b.toString(16).padStart(2, '0')).join('')];
  }, href);
  assert.deepEqual(digest, [file.size, file.sha256]);
  return seconds;
}

// Text both ways: Ada opens the conversation and writes, Bob answers. Returns the time from Ada's click to
// Bob seeing the message.
export async function chatBothWays(ada, bob) {
  await user(bob, ada).waitFor({ timeout: WAIT });
  const started = Date.now();
  await openConversation(ada, bob);
  const hello = `hello across the networks ${Math.random().toString(36).slice(2)}`;
  await send(ada, hello);
  await user(bob, ada).getByTestId('chat-unread').waitFor({ timeout: WAIT });
  const firstMessage = (Date.now() - started) / 1000;
  await openConversation(bob, ada);
  await received(bob, hello);
  await delivered(ada, hello);
  const reply = `and back ${Math.random().toString(36).slice(2)}`;
  await send(bob, reply);
  await received(ada, reply);
  await delivered(bob, reply);
  return firstMessage;
}

// Small video keeps two encoders and decoders light on a 2-core machine.
const VIDEO = 'video=320x240@15';

export async function joinRoom(browser, room, label) {
  const name = unique(label);
  const who = await openPage(browser, `/room/${room}?${VIDEO}`);
  await who.page.locator('[data-testid="room-preview"][data-live="true"]').waitFor({ timeout: WAIT });
  await who.page.getByLabel('Your name').fill(name);
  await who.page.getByRole('button', { name: 'Join call' }).click();
  await who.page.locator('[data-testid="tile"][data-self="true"]').waitFor({ timeout: WAIT });
  who.id = await who.page.locator('[data-testid="tile"][data-self="true"]').getAttribute('data-peer-id');
  return { ...who, name };
}

export const tileOf = (who, other) => who.page.locator(`[data-testid="tile"][data-name="${other.name}"]`);

// Waits until `who` sees `other`'s video connected with its playback time advancing (frames arrive).
export async function waitVideo(who, other, timeout = WAIT) {
  await tileOf(who, other).waitFor({ timeout });
  await who.page.waitForFunction(
    (name) => {
      const t = document.querySelector(`[data-testid="tile"][data-name="${name}"]`);
      const v = t?.querySelector('[data-testid="tile-video"]');
      window.__seen = window.__seen || {};
      const prev = window.__seen[name];
      window.__seen[name] = v ? v.currentTime : undefined;
      return !!v && t.dataset.connection === 'connected' && v.videoWidth > 0 && prev !== undefined
        && v.currentTime > prev;
    },
    other.name,
    { timeout, polling: 500 },
  );
}

export const tilePath = (who, other, matches) => waitPath(tileOf(who, other).getByTestId('tile-path'), matches);
