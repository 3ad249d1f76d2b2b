// End-to-end: the chat page while its tab is hidden. Two browsers in the lobby; Ada's page has a stand-in
// for `Notification` that records what it is asked to show and answers the permission prompt with
// "granted". Nothing asks on load; Ada turns notifications on with the button. While her tab is hidden,
// Bob's messages and file offer count in her title and each makes a notification (who, and the text or
// the file); showing the tab clears the count. A message while visible counts nothing. The button says
// when the browser blocks notifications or has none.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { launch, BASE } from './browser.mjs';
import { audit, blocking, describe } from './axe.mjs';

let browser;
let scratch;
before(async () => {
  browser = await launch();
  scratch = mkdtempSync(join(tmpdir(), 'peerlab-hidden-'));
});
after(async () => {
  await browser?.close();
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

const WAIT = 30_000;
const unique = (name) => `${name}-${Math.random().toString(36).slice(2, 7)}`;

// A `Notification` that records each one made, with the permission `permission` (or none at all).
function fakeNotification(permission) {
  window.__notifications = [];
  window.__permissionAsked = 0;
  if (permission === 'none') {
    delete window.Notification;
    return;
  }
  class FakeNotification {
    constructor(title, options = {}) {
      window.__notifications.push({ title, body: options.body });
    }
    static permission = permission;
    static async requestPermission() {
      window.__permissionAsked += 1;
      if (FakeNotification.permission === 'default') FakeNotification.permission = 'granted';
      return FakeNotification.permission;
    }
  }
  window.Notification = FakeNotification;
}

async function joinChat(name, permission = 'default') {
  const context = await browser.newContext();
  await context.addInitScript(fakeNotification, permission);
  const page = await context.newPage();
  const problems = [];
  page.on('console', (msg) => { if (msg.type() === 'error') problems.push(`console: ${msg.text()}`); });
  page.on('pageerror', (err) => problems.push(`exception: ${err.message}`));
  await page.goto(BASE + '/chat');
  await page.getByTestId('page-chat').waitFor();
  await page.getByTestId('chat-name').fill(name);
  await page.getByTestId('chat-join').click();
  await page.getByTestId('chat-self-id').filter({ hasText: /[0-9a-f]{32}/ }).waitFor();
  const id = (await page.getByTestId('chat-self-id').textContent()).match(/[0-9a-f]{32}/)[0];
  return { name, id, context, page, problems };
}

// Stands in for the browser hiding or showing the tab.
async function setHidden(page, hidden) {
  await page.evaluate((hidden) => {
    Object.defineProperty(document, 'visibilityState', { value: hidden ? 'hidden' : 'visible', configurable: true });
    Object.defineProperty(document, 'hidden', { value: hidden, configurable: true });
    document.dispatchEvent(new Event('visibilitychange'));
  }, hidden);
}

async function send(who, text) {
  await who.page.getByTestId('chat-input').fill(text);
  await who.page.getByTestId('chat-send').click();
  await who.page
    .locator('[data-testid="chat-message"][data-direction="out"][data-status="delivered"]')
    .filter({ hasText: text })
    .waitFor({ timeout: WAIT });
}

const waitTitle = (page, title) =>
  page.waitForFunction((t) => document.title === t, title, { timeout: WAIT });

test('a hidden chat tab counts new messages and file offers in its title and notifies', async () => {
  const ada = await joinChat(unique('Ada'));
  const bob = await joinChat(unique('Bob'));
  try {
    const base = await ada.page.title();
    assert.equal(base, 'peerlab');
    // Nothing asked on load; the button asks, from the click.
    const state = ada.page.getByTestId('notify-state');
    assert.match(await state.textContent(), /^Off: the browser asks you once you press the button\./);
    assert.equal(await ada.page.evaluate(() => window.__permissionAsked), 0);
    await ada.page.getByTestId('notify-toggle').click();
    await ada.page.locator('[data-testid="notify-toggle"][aria-pressed="true"]').waitFor({ timeout: WAIT });
    assert.match(await state.textContent(), /^Allowed:/);
    const violations = blocking(await audit(ada.page));
    assert.equal(violations.length, 0, describe(violations));
    assert.equal(await ada.page.evaluate(() => window.__permissionAsked), 1);

    // A message while Ada looks: no count, no notification.
    await bob.page.locator(`[data-testid="chat-user"][data-name="${ada.name}"]`).click();
    await send(bob, 'while you look');
    await ada.page.locator(`[data-testid="chat-user"][data-name="${bob.name}"]`).getByTestId('chat-unread').waitFor({ timeout: WAIT });
    assert.equal(await ada.page.title(), base);

    // Hidden: two messages and a file offer.
    await setHidden(ada.page, true);
    await send(bob, 'first while away');
    await waitTitle(ada.page, `(1) ${base}`);
    const long = `second ${'x'.repeat(300)}`;
    await send(bob, long);
    await waitTitle(ada.page, `(2) ${base}`);
    const file = join(scratch, 'notes.txt');
    writeFileSync(file, 'a'.repeat(2048));
    await bob.page.getByTestId('chat-file-input').setInputFiles(file);
    await waitTitle(ada.page, `(3) ${base}`);

    const made = await ada.page.evaluate(() => window.__notifications);
    assert.equal(made.length, 3, JSON.stringify(made));
    assert.deepEqual(made[0], { title: bob.name, body: 'first while away' });
    assert.equal(made[1].title, bob.name);
    assert.ok(made[1].body.startsWith('second xxx') && made[1].body.endsWith('…') && made[1].body.length <= 120, made[1].body);
    assert.deepEqual(made[2], { title: bob.name, body: 'offers you a file: notes.txt (2.0 KiB)' });

    // Shown again: the count goes.
    await setHidden(ada.page, false);
    await waitTitle(ada.page, base);
    await send(bob, 'back again');
    await ada.page.waitForTimeout(500);
    assert.equal(await ada.page.title(), base);
    assert.equal((await ada.page.evaluate(() => window.__notifications)).length, 3);

    // Turned off: a hidden tab still counts, and notifies no more.
    await ada.page.getByTestId('notify-toggle').click();
    await ada.page.locator('[data-testid="notify-toggle"][aria-pressed="false"]').waitFor({ timeout: WAIT });
    await setHidden(ada.page, true);
    await send(bob, 'after turning them off');
    await waitTitle(ada.page, `(1) ${base}`);
    assert.equal((await ada.page.evaluate(() => window.__notifications)).length, 3);
    assert.equal(await ada.page.evaluate(() => window.__permissionAsked), 1, 'asked once in all');
    assert.deepEqual(ada.problems, []);
    assert.deepEqual(bob.problems, []);
  } finally {
    await ada.context.close();
    await bob.context.close();
  }
});

test('the notification setting says when the browser blocks them or has none, and counts still work', async () => {
  const blocked = await joinChat(unique('Blocked'), 'denied');
  const none = await joinChat(unique('None'), 'none');
  try {
    await blocked.page.getByTestId('notify-toggle').click();
    assert.match(await blocked.page.getByTestId('notify-state').textContent(), /^Blocked by the browser/);
    assert.equal(await blocked.page.getByTestId('notify-toggle').getAttribute('aria-pressed'), 'false');
    // A browser that blocks them is not asked again: only the browser's settings can undo it.
    assert.equal(await blocked.page.evaluate(() => window.__permissionAsked), 0);
    assert.match(await none.page.getByTestId('notify-state').textContent(), /^Not supported/);
    assert.equal(await none.page.getByTestId('notify-toggle').isDisabled(), true);

    // Without notifications, a hidden tab still counts.
    await setHidden(none.page, true);
    await blocked.page.locator(`[data-testid="chat-user"][data-name="${none.name}"]`).click();
    await send(blocked, 'hello');
    await waitTitle(none.page, '(1) peerlab');
    assert.deepEqual(await blocked.page.evaluate(() => window.__notifications), []);
    assert.deepEqual(blocked.problems, []);
    assert.deepEqual(none.problems, []);
  } finally {
    await blocked.context.close();
    await none.context.close();
  }
});
