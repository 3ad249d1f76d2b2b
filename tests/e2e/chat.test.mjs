// End-to-end: the chat page with two and three browsers through the real relay — the user list follows
// joins and leaves, text goes both ways over the data channel (never through the relay) with delivery
// receipts, HTML stays text, a 50 MiB file arrives with its SHA-256 checked, decline and cancel work from
// both sides, a peer that vanishes mid-transfer fails the transfer, and a relay restart is survived.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, openSync, writeSync, closeSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { launch, BASE, SCREENSHOTS } from './browser.mjs';
import { startRelay } from './relay.mjs';

let browser;
let scratch;
before(async () => {
  browser = await launch();
  mkdirSync(SCREENSHOTS, { recursive: true });
  scratch = mkdtempSync(join(tmpdir(), 'peerlab-chat-'));
});
after(async () => {
  await browser?.close();
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

const LONG = 120_000; // bound for big transfers on a slow, shared 2-core machine

// A file of `mib` MiB of random bytes, written in 1 MiB pieces so the test itself never holds it whole.
function randomFile(name, mib) {
  const path = join(scratch, name);
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

const unique = (name) => `${name}-${Math.random().toString(36).slice(2, 7)}`;

// Opens /chat, records every WebSocket frame the page exchanges with the relay, and joins the lobby.
async function joinChat(name, base = BASE) {
  const context = await browser.newContext();
  const page = await context.newPage();
  const problems = [];
  const frames = [];
  page.on('console', (msg) => { if (msg.type() === 'error') problems.push(`console: ${msg.text()}`); });
  page.on('pageerror', (err) => problems.push(`exception: ${err.message}`));
  page.on('websocket', (ws) => {
    ws.on('framesent', (f) => frames.push(String(f.payload)));
    ws.on('framereceived', (f) => frames.push(String(f.payload)));
  });
  await page.goto(base + '/chat');
  await page.getByTestId('page-chat').waitFor();
  await page.getByTestId('chat-name').fill(name);
  await page.getByTestId('chat-join').click();
  await page.getByTestId('chat-self-id').filter({ hasText: /[0-9a-f]{32}/ }).waitFor();
  const id = (await page.getByTestId('chat-self-id').textContent()).match(/[0-9a-f]{32}/)[0];
  return { name, id, context, page, problems, frames };
}

const user = (who, name) => who.page.locator(`[data-testid="chat-user"][data-name="${name}"]`);

async function openConversation(who, other) {
  await user(who, other.name).click();
  await who.page.locator(`[data-testid="chat-conversation"][data-peer-id="${other.id}"]`).waitFor();
}

async function waitConnected(who, other, timeout = 30_000) {
  await who.page
    .locator(`[data-testid="chat-user"][data-name="${other.name}"][data-connection="connected"]`)
    .waitFor({ timeout });
}

async function send(who, text) {
  await who.page.getByTestId('chat-input').fill(text);
  await who.page.getByTestId('chat-send').click();
}

const messages = (who, direction) =>
  who.page.locator(`[data-testid="chat-message"][data-direction="${direction}"]`);

async function lastOutgoingDelivered(who, text) {
  await who.page
    .locator('[data-testid="chat-message"][data-direction="out"][data-status="delivered"]')
    .filter({ hasText: text })
    .waitFor({ timeout: 30_000 });
}

const transfer = (who, direction) =>
  who.page.locator(`[data-testid="chat-transfer"][data-direction="${direction}"]`).last();

async function offerFile(from, file) {
  await from.page.getByTestId('chat-file-input').setInputFiles(file.path);
}

async function progressOf(locator) {
  return Number(await locator.getByTestId('transfer-progress').evaluate((p) => p.value / (p.max || 1)));
}

async function waitProgress(locator, fraction = 0) {
  await locator.page().waitForFunction(
    ([el, f]) => {
      const p = el.querySelector('[data-testid="transfer-progress"]');
      return p && p.value / (p.max || 1) > f;
    },
    [await locator.elementHandle(), fraction],
    { timeout: LONG },
  );
}

test('users find each other, chat both ways with receipts, HTML stays text, and the relay sees none of it', async () => {
  const ada = await joinChat(unique('Ada'));
  const bob = await joinChat(unique('Bob'));
  const cyd = await joinChat(unique('Cyd'));
  try {
    // Every page lists the other two.
    for (const [who, others] of [[ada, [bob, cyd]], [bob, [ada, cyd]], [cyd, [ada, bob]]]) {
      for (const other of others) await user(who, other.name).waitFor();
    }

    // Ada starts; the message may be queued until the channel opens, and is then delivered.
    await openConversation(ada, bob);
    const hello = 'héllo 👋 — ñ, 日本語, emoji 🧪 and a newline-free line';
    await send(ada, hello);
    await lastOutgoingDelivered(ada, hello);
    await waitConnected(ada, bob);
    // Bob was not looking: an unread badge, then the message itself.
    await user(bob, ada.name).getByTestId('chat-unread').filter({ hasText: '1' }).waitFor();
    await openConversation(bob, ada);
    assert.equal(await messages(bob, 'in').last().getByTestId('chat-message-text').textContent(), hello);
    await assert.rejects(
      user(bob, ada.name).getByTestId('chat-unread').waitFor({ timeout: 1_000 }),
      'reading the conversation clears the badge',
    );

    // Bob answers over the same connection (whoever starts, one connection per pair), with HTML in it.
    const html = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script><b>bold</b>';
    await send(bob, html);
    await lastOutgoingDelivered(bob, '<b>bold</b>');
    const got = messages(ada, 'in').last();
    await got.waitFor();
    assert.equal(await got.getByTestId('chat-message-text').textContent(), html);
    assert.equal(await got.locator('b, img, script').count(), 0, 'the HTML was rendered as text');
    assert.equal(await ada.page.evaluate(() => window.__pwned), undefined, 'nothing in the message ran');

    // Both sides show the same verification code for the call.
    const codeA = (await ada.page.getByTestId('chat-verification').textContent()).replace(/\D/g, '');
    const codeB = (await bob.page.getByTestId('chat-verification').textContent()).replace(/\D/g, '');
    assert.match(codeA, /^\d{6}$/);
    assert.equal(codeA, codeB);

    // The inspector saw the negotiation both ways, and shows the peer connected.
    await ada.page.locator('[data-testid="inspector-entry"][data-direction="out"][data-kind="signal"]').first().waitFor();
    await ada.page.locator('[data-testid="inspector-entry"][data-direction="in"][data-kind="signal"]').first().waitFor();
    await ada.page
      .locator(`[data-testid="inspector-peer"][data-peer-id="${bob.id}"][data-connection="connected"]`)
      .waitFor();
    await ada.page.screenshot({ path: `${SCREENSHOTS}chat.png`, fullPage: true });

    // Cyd leaves: the others' lists drop Cyd.
    await cyd.context.close();
    for (const who of [ada, bob]) await user(who, cyd.name).waitFor({ state: 'detached', timeout: 30_000 });

    // The relay carried signaling only: no frame either page exchanged with it contains the chat text.
    for (const who of [ada, bob]) {
      assert.ok(who.frames.some((f) => f.includes('"signal"')), 'signaling did go through the relay');
      for (const secret of ['héllo', 'bold', '__pwned', '日本語']) {
        const seen = who.frames.filter((f) => f.includes(secret) || f.includes(JSON.stringify(secret).slice(1, -1)));
        assert.deepEqual(seen, [], `${who.name}'s relay frames contain "${secret}"`);
      }
    }
    assert.deepEqual([...ada.problems, ...bob.problems], []);
  } finally {
    for (const who of [ada, bob, cyd]) await who.context.close().catch(() => {});
  }
});

test('a 50 MiB file arrives with its SHA-256 verified, and the download holds the same bytes', async () => {
  const ada = await joinChat(unique('Ada'));
  const bob = await joinChat(unique('Bob'));
  try {
    const file = randomFile('fifty.bin', 50);
    await user(ada, bob.name).waitFor();
    await openConversation(ada, bob);
    await offerFile(ada, file);
    await user(bob, ada.name).waitFor();
    await openConversation(bob, ada);
    const incoming = transfer(bob, 'in');
    await incoming.and(bob.page.locator('[data-state="offered"]')).waitFor({ timeout: 30_000 });
    assert.equal(await incoming.getByTestId('transfer-name').textContent(), file.name);
    assert.match(await incoming.getByTestId('transfer-size').textContent(), /50(\.0)? MiB|52[,.]?428[,.]?800/);
    await incoming.getByTestId('transfer-accept').click();

    const outgoing = transfer(ada, 'out');
    for (const t of [incoming, outgoing]) {
      await t.and(t.page().locator('[data-state="done"]')).waitFor({ timeout: LONG });
      assert.equal(await t.getByTestId('transfer-sha256').getAttribute('data-sha256'), file.sha256);
      assert.ok(await progressOf(t) >= 1);
    }
    // The link serves exactly the bytes that were sent.
    const link = incoming.getByTestId('transfer-download');
    assert.equal(await link.getAttribute('download'), file.name);
    const digest = await bob.page.evaluate(async (href) => {
      const bytes = await (await fetch(href)).arrayBuffer();
      const d = await crypto.subtle.digest('SHA-256', bytes);
      return [bytes.byteLength, [...new Uint8Array(d)].map((b) => b.toString(16).padStart(2, '0')).join('')];
    }, await link.getAttribute('href'));
    assert.deepEqual(digest, [file.size, file.sha256]);
    assert.deepEqual([...ada.problems, ...bob.problems], []);
  } finally {
    for (const who of [ada, bob]) await who.context.close().catch(() => {});
  }
});

test('a file can be declined, and cancelled by the sender or by the receiver', async () => {
  const ada = await joinChat(unique('Ada'));
  const bob = await joinChat(unique('Bob'));
  try {
    const small = randomFile('small.bin', 1);
    const big = randomFile('big.bin', 400);
    await user(ada, bob.name).waitFor();
    await openConversation(ada, bob);
    await offerFile(ada, small);
    await user(bob, ada.name).waitFor();
    await openConversation(bob, ada);

    // Declined: both sides say so, nothing was sent.
    await transfer(bob, 'in').getByTestId('transfer-decline').click();
    for (const t of [transfer(ada, 'out'), transfer(bob, 'in')]) {
      await t.and(t.page().locator('[data-state="declined"]')).waitFor({ timeout: 30_000 });
    }

    // Cancelled by the sender once bytes flow; then by the receiver.
    for (const [canceller, name] of [[ada, ada.name], [bob, bob.name]]) {
      await offerFile(ada, big);
      const incoming = transfer(bob, 'in');
      await incoming.and(bob.page.locator('[data-state="offered"]')).waitFor({ timeout: 30_000 });
      await incoming.getByTestId('transfer-accept').click();
      const mine = canceller === ada ? transfer(ada, 'out') : incoming;
      await waitProgress(mine, 0.01);
      await mine.getByTestId('transfer-cancel').click();
      const theirs = canceller === ada ? incoming : transfer(ada, 'out');
      for (const t of [mine, theirs]) {
        await t.and(t.page().locator('[data-state="cancelled"]')).waitFor({ timeout: 30_000 });
      }
      assert.match(await theirs.getByTestId('transfer-error').textContent(), new RegExp(`cancelled by ${name}`, 'i'));
      assert.ok(await progressOf(theirs) < 1, 'it stopped before the end');
    }
    // The conversation still works afterwards.
    await send(ada, 'still here');
    await lastOutgoingDelivered(ada, 'still here');
    assert.deepEqual([...ada.problems, ...bob.problems], []);
  } finally {
    for (const who of [ada, bob]) await who.context.close().catch(() => {});
  }
});

test('a peer that vanishes mid-transfer gives "transfer failed" on the other side, not a hang', async () => {
  const big = randomFile('vanish.bin', 400);
  for (const vanishing of ['receiver', 'sender']) {
    const ada = await joinChat(unique('Ada'));
    const bob = await joinChat(unique('Bob'));
    try {
      await user(ada, bob.name).waitFor();
      await openConversation(ada, bob);
      await offerFile(ada, big);
      await user(bob, ada.name).waitFor();
      await openConversation(bob, ada);
      const incoming = transfer(bob, 'in');
      await incoming.and(bob.page.locator('[data-state="offered"]')).waitFor({ timeout: 30_000 });
      await incoming.getByTestId('transfer-accept').click();
      await waitProgress(incoming, 0.01);
      const [gone, stays, left] =
        vanishing === 'receiver' ? [bob, transfer(ada, 'out'), bob.name] : [ada, incoming, ada.name];
      await gone.context.close();
      await stays.and(stays.page().locator('[data-state="failed"]')).waitFor({ timeout: 30_000 });
      const why = await stays.getByTestId('transfer-error').textContent();
      assert.match(why, /transfer failed/i, `${vanishing} vanished: ${why}`);
      assert.ok(why.includes(left) || /left|closed|lost/i.test(why), why);
    } finally {
      for (const who of [ada, bob]) await who.context.close().catch(() => {});
    }
  }
});

test('the relay restarts mid-session: data channels keep working, clients reconnect with their ids', async () => {
  const relay = await startRelay();
  try {
    const ada = await joinChat(unique('Ada'), relay.base);
    const bob = await joinChat(unique('Bob'), relay.base);
    await user(ada, bob.name).waitFor();
    await openConversation(ada, bob);
    await send(ada, 'before the restart');
    await lastOutgoingDelivered(ada, 'before the restart');
    await waitConnected(ada, bob);

    await relay.kill();
    await ada.page.locator('[data-testid="relay-status"][data-state="reconnecting"]').waitFor({ timeout: 30_000 });
    // Peer to peer: the relay being away changes nothing for the open conversation.
    await send(ada, 'while the relay is away');
    await lastOutgoingDelivered(ada, 'while the relay is away');

    await relay.start();
    for (const who of [ada, bob]) {
      await who.page.locator('[data-testid="relay-status"][data-state="joined"]').waitFor({ timeout: 60_000 });
      const id = (await who.page.getByTestId('chat-self-id').textContent()).match(/[0-9a-f]{32}/)[0];
      assert.equal(id, who.id, `${who.name} kept its peer id across the restart`);
    }
    await user(ada, bob.name).waitFor({ timeout: 30_000 });
    await user(bob, ada.name).waitFor({ timeout: 30_000 });
    await openConversation(bob, ada);
    await send(bob, 'after the restart');
    await lastOutgoingDelivered(bob, 'after the restart');

    // Signaling works again too: a newcomer reaches Ada through the restarted relay.
    const cyd = await joinChat(unique('Cyd'), relay.base);
    await user(cyd, ada.name).waitFor();
    await openConversation(cyd, ada);
    await send(cyd, 'new since the restart');
    await lastOutgoingDelivered(cyd, 'new since the restart');
    const unexpected = [...ada.problems, ...bob.problems, ...cyd.problems]
      .filter((p) => !/WebSocket|ERR_CONNECTION_REFUSED|net::/i.test(p));
    assert.deepEqual(unexpected, [], 'only the expected connection errors while the relay was down');
    for (const who of [ada, bob, cyd]) await who.context.close();
  } finally {
    await relay.stop();
  }
});
