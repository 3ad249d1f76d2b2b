// End-to-end: the chat flow and a room join with the keyboard alone — Tab, Shift+Tab, Enter, Space and
// typing, never a click. Every control the focus lands on on the way shows a visible focus ring.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, BASE } from './browser.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

const unique = (name) => `${name}-${Math.random().toString(36).slice(2, 7)}`;
const WAIT = 60_000;
// More than any page has focusable elements before the one a step looks for.
const MAX_TABS = 80;

async function open(path) {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(BASE + path);
  return { context, page };
}

// What the focused element is, and whether its focus shows: an outline at least 2 px wide that is not
// `none` (the stylesheet's `:focus-visible` ring).
function focusNow(page) {
  return page.evaluate(() => {
    const el = document.activeElement;
    if (!el || el === document.body) return null;
    const style = getComputedStyle(el);
    return {
      tag: el.tagName.toLowerCase(),
      testid: el.getAttribute('data-testid') ?? '',
      text: (el.getAttribute('aria-label') ?? el.textContent ?? '').trim().slice(0, 40),
      ring: style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) >= 2,
    };
  });
}

// Presses Tab (or Shift+Tab) until the focused element matches `selector`, checking the focus ring of
// every element passed on the way.
async function tabTo(page, selector, { back = false } = {}) {
  for (let i = 0; i < MAX_TABS; i++) {
    await page.keyboard.press(back ? 'Shift+Tab' : 'Tab');
    const focus = await focusNow(page);
    if (focus) assert.ok(focus.ring, `focus on <${focus.tag} data-testid="${focus.testid}"> "${focus.text}" shows no ring`);
    if (await page.evaluate((s) => document.activeElement?.matches(s) ?? false, selector)) return;
  }
  throw new Error(`${MAX_TABS} presses of ${back ? 'Shift+Tab' : 'Tab'} never reached ${selector}`);
}

async function joinChatByKeyboard(who, name) {
  await who.page.getByTestId('page-chat').waitFor();
  await tabTo(who.page, '[data-testid="chat-name"]');
  await who.page.keyboard.type(name);
  await tabTo(who.page, '[data-testid="chat-join"]');
  await who.page.keyboard.press('Enter');
  await who.page.getByTestId('chat-self-id').filter({ hasText: /[0-9a-f]{32}/ }).waitFor();
}

test('the chat flow with the keyboard alone: name, join, pick someone, send, receive', async () => {
  const names = { ada: unique('Ada'), bob: unique('Bob') };
  const ada = await open('/chat');
  const bob = await open('/chat');
  try {
    await joinChatByKeyboard(ada, names.ada);
    await joinChatByKeyboard(bob, names.bob);
    await ada.page.locator(`[data-testid="chat-user"][data-name="${names.bob}"]`).waitFor();

    // On to Bob's entry in the list; Space opens the conversation.
    await tabTo(ada.page, `[data-testid="chat-user"][data-name="${names.bob}"]`);
    await ada.page.keyboard.press('Space');
    await ada.page.locator('[data-testid="chat-conversation"]').waitFor();
    await tabTo(ada.page, '[data-testid="chat-input"]');
    await ada.page.keyboard.type('typed, never clicked');
    await ada.page.keyboard.press('Enter');
    await ada.page.locator('[data-testid="chat-message"][data-direction="out"][data-status="delivered"]')
      .filter({ hasText: 'typed, never clicked' }).waitFor({ timeout: WAIT });

    // Bob sees an unread message on Ada's entry, and Enter opens it.
    await bob.page.locator(`[data-testid="chat-user"][data-name="${names.ada}"] [data-testid="chat-unread"]`).waitFor();
    await tabTo(bob.page, `[data-testid="chat-user"][data-name="${names.ada}"]`);
    await bob.page.keyboard.press('Enter');
    await bob.page.locator('[data-testid="chat-message"][data-direction="in"]')
      .filter({ hasText: 'typed, never clicked' }).waitFor();
    // Shift+Tab walks back to the list from the message box.
    await tabTo(bob.page, '[data-testid="chat-input"]');
    await tabTo(bob.page, `[data-testid="chat-user"][data-name="${names.ada}"]`, { back: true });
  } finally {
    await ada.context.close();
    await bob.context.close();
  }
});

test('a room join and the call controls with the keyboard alone', async () => {
  const room = unique('keys');
  const who = await open(`/room/${room}?video=320x240@15`);
  try {
    await who.page.locator('[data-testid="room-preview"][data-live="true"]').waitFor({ timeout: WAIT });
    await tabTo(who.page, '[data-testid="room-name"]');
    await who.page.keyboard.type(unique('Ada'));
    await tabTo(who.page, '[data-testid="room-join"]');
    await who.page.keyboard.press('Enter');
    await who.page.locator('[data-testid="tile"][data-self="true"]').waitFor({ timeout: WAIT });
    // The focus was on the lobby's button, which the call hides: the next Tab goes on into the call.
    await tabTo(who.page, '[data-testid="control-mic"]');
    await who.page.keyboard.press('Space');
    await who.page.locator('[data-testid="control-mic"][aria-pressed="true"]').waitFor();
    await tabTo(who.page, '[data-testid="room-chat-input"]');
    await who.page.keyboard.type('hello by keyboard');
    await who.page.keyboard.press('Enter');
    await who.page.getByTestId('room-chat-message').filter({ hasText: 'hello by keyboard' }).waitFor();
    await tabTo(who.page, '[data-testid="control-leave"]', { back: true });
    await who.page.keyboard.press('Enter');
    await who.page.locator('[data-testid="room-lobby"]:not([hidden]), .room-lobby:not([hidden])').waitFor({ timeout: WAIT });
  } finally {
    await who.context.close();
  }
});
