// End-to-end: renaming from the page. In the chat lobby and in a room call, one of two people changes
// their name while joined; a name the join would refuse is refused next to the field, in words; the other
// page shows the new name in its list, the open conversation's header and the call's tile.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, BASE } from './browser.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

const unique = (name) => `${name}-${Math.random().toString(36).slice(2, 7)}`;
const WAIT = 60_000;

async function open(path) {
  const context = await browser.newContext();
  const page = await context.newPage();
  const problems = [];
  page.on('console', (msg) => { if (msg.type() === 'error') problems.push(`console: ${msg.text()}`); });
  page.on('pageerror', (err) => problems.push(`exception: ${err.message}`));
  await page.goto(BASE + path);
  return { context, page, problems };
}

async function rename(who, name) {
  await who.page.getByLabel('Change your name').fill(name);
  await who.page.getByRole('button', { name: 'Rename' }).click();
}

test('a chat user renames; the other sees the new name in the list and the conversation', async () => {
  const names = { ada: unique('Ada'), bob: unique('Bob'), ada2: unique('Ada L.') };
  const ada = await open('/chat');
  const bob = await open('/chat');
  try {
    for (const [who, name] of [[ada, names.ada], [bob, names.bob]]) {
      await who.page.getByTestId('chat-name').fill(name);
      await who.page.getByTestId('chat-join').click();
      await who.page.getByTestId('chat-self-id').filter({ hasText: /[0-9a-f]{32}/ }).waitFor();
    }
    await bob.page.locator(`[data-testid="chat-user"][data-name="${names.ada}"]`).click();
    await bob.page.getByTestId('chat-conversation').getByRole('heading', { name: names.ada }).waitFor();

    // The rename form starts with the current name; an empty one is refused before anything is sent.
    assert.equal(await ada.page.getByTestId('rename-input').inputValue(), names.ada);
    await rename(ada, '  ');
    await ada.page.getByTestId('rename-error').filter({ hasText: 'Not renamed: the name is empty' }).waitFor();
    assert.equal(await ada.page.getByTestId('rename-input').getAttribute('aria-invalid'), 'true');

    await rename(ada, names.ada2);
    await ada.page.locator('.chat-self strong').filter({ hasText: names.ada2 }).waitFor();
    assert.equal(await ada.page.getByTestId('rename-error').textContent(), '');
    await bob.page.locator(`[data-testid="chat-user"][data-name="${names.ada2}"]`).waitFor();
    await bob.page.getByTestId('chat-conversation').getByRole('heading', { name: names.ada2 }).waitFor();
    assert.equal(await bob.page.locator(`[data-testid="chat-user"][data-name="${names.ada}"]`).count(), 0);
    // Said to screen readers too, in the page's polite activity region.
    await bob.page.getByTestId('activity-log').filter({ hasText: `${names.ada} is now ${names.ada2}` }).waitFor();
    assert.deepEqual([...ada.problems, ...bob.problems], []);
  } finally {
    await ada.context.close();
    await bob.context.close();
  }
});

test('a member of a call renames; the other sees the new name on the tile and in the member list', async () => {
  const room = unique('rename');
  const names = { ada: unique('Ada'), bob: unique('Bob'), ada2: unique('Ada L.') };
  const ada = await open(`/room/${room}?video=320x240@15`);
  const bob = await open(`/room/${room}?video=320x240@15`);
  try {
    for (const [who, name] of [[ada, names.ada], [bob, names.bob]]) {
      await who.page.locator('[data-testid="room-preview"][data-live="true"]').waitFor({ timeout: WAIT });
      await who.page.getByLabel('Your name').fill(name);
      await who.page.getByRole('button', { name: 'Join call' }).click();
    }
    await bob.page.locator(`[data-testid="tile"][data-name="${names.ada}"]`).waitFor({ timeout: WAIT });

    await rename(ada, 'x'.repeat(33));
    await ada.page.getByTestId('rename-error').filter({ hasText: 'use at most 32' }).waitFor();
    await rename(ada, names.ada2);
    await bob.page.locator(`[data-testid="tile"][data-name="${names.ada2}"]`).waitFor({ timeout: WAIT });
    await bob.page.getByTestId('member').filter({ hasText: names.ada2 }).waitFor();
    await ada.page.getByTestId('member').filter({ hasText: `${names.ada2} (you)` }).waitFor();
    await ada.page.locator(`[data-testid="tile"][data-self="true"][data-name="${names.ada2}"]`).waitFor();
    assert.equal(await bob.page.locator(`[data-testid="tile"][data-name="${names.ada}"]`).count(), 0);
    await bob.page.getByTestId('activity-log').filter({ hasText: `${names.ada} is now ${names.ada2}` }).waitFor();
    assert.deepEqual([...ada.problems, ...bob.problems], []);
  } finally {
    await ada.context.close();
    await bob.context.close();
  }
});
