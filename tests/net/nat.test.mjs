// End-to-end across NATs and firewalls: two people in two homes of the test network (netlab.mjs), each with
// a Chromium of their own, reach each other through the relay and coturn on the "internet". Chat (text both
// ways, a 20 MiB file byte-exact) and a two-person room call (video both ways) must work on every path, the
// path the app shows must be the one expected, and no connection may be torn down and made again while ICE
// works. Then: 5 % loss on both homes, a home cut off for 10 s (the inspector shows the pair changing), and
// a connection that cannot be made.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { scenario, scratchDir, openPage } from './lab.mjs';
import {
  joinChat, chatBothWays, randomFile, sendFile, joinRoom, waitVideo, chatPath, tilePath, tileOf, user,
  openConversation, send, delivered, received, WAIT,
} from './flows.mjs';

const files = scratchDir();
after(() => rmSync(files, { recursive: true, force: true }));
let file;
const twentyMiB = () => (file ??= randomFile(files, 'twenty.bin', 20));

const PATHS = [
  { name: 'same home: direct (host)', homes: { a: 'port-restricted' }, browsers: ['a', 'a'], ice: 'turn', path: 'host' },
  { name: 'full cone ↔ full cone with STUN: through the routers (srflx)', homes: { a: 'full-cone', b: 'full-cone' }, ice: 'stun', path: 'srflx' },
  // TURN over UDP only: given TCP as well, Chromium may keep a TURN/TCP pair it found first (seen on a loaded
  // machine), which is a working path but not the one this case is about.
  { name: 'symmetric ↔ symmetric with TURN: relayed over UDP', homes: { a: 'symmetric', b: 'symmetric' }, ice: 'turn-udp', path: 'relay-udp' },
  { name: 'UDP blocked on both sides: relayed over TURN/TCP', homes: { a: 'tcp-only', b: 'tcp-only' }, ice: 'turn', path: 'relay-tcp' },
  { name: 'port-restricted ↔ symmetric with TURN: relayed', homes: { a: 'port-restricted', b: 'symmetric' }, ice: 'turn', path: /^relay-(udp|tcp)$/ },
];

// The words a person reads for each path, as the issue words them.
const WORDS = {
  host: /direct \(same network\)/,
  srflx: /direct through your routers \(STUN\)/,
  'relay-udp': /relayed by the TURN server \(UDP\)/,
  'relay-tcp': /relayed by the TURN server \(TCP\)/,
};

const matches = (token, expected) =>
  expected instanceof RegExp ? expected.test(token) : token === expected;

for (const p of PATHS) {
  test(`chat and call across the networks — ${p.name}`, async () => {
    const s = await scenario({ homes: p.homes, ice: p.ice, browsers: p.browsers });
    try {
      const [a, b] = s.browsers.map((x) => x.browser);
      // What this relay's settings reach, on the home page and in the relay's log at start.
      const reach = p.ice === 'stun' ? 'stun' : 'turn';
      const home = await openPage(a, '/');
      await home.page.locator(`[data-testid="home-reach"][data-reach="${reach}"]`).waitFor({ timeout: WAIT });
      await home.context.close();
      assert.equal(s.relay.log.join('').includes('no TURN server'), reach === 'stun', 'the relay warns without TURN');

      const ada = await joinChat(a, 'Ada');
      const bob = await joinChat(b, 'Bob');
      await chatBothWays(ada, bob);
      for (const who of [ada, bob]) {
        const path = await chatPath(who, (t) => matches(t, p.path));
        assert.ok(matches(path.token, p.path), `${who.name}'s chat shows ${path.token} (${path.words}), expected ${p.path}`);
        assert.match(path.words, WORDS[path.token]);
        assert.equal(await user(who, who === ada ? bob : ada).getAttribute('data-path'), path.token);
      }
      await sendFile(ada, bob, twentyMiB());
      assert.deepEqual([await ada.peerConnections(), await bob.peerConnections()], [1, 1],
        'one connection per side: none was torn down and made again');

      const room = `nat-${Math.random().toString(36).slice(2, 8)}`;
      const cat = await joinRoom(a, room, 'Cat');
      const dan = await joinRoom(b, room, 'Dan');
      await waitVideo(cat, dan);
      await waitVideo(dan, cat);
      for (const [who, other] of [[cat, dan], [dan, cat]]) {
        const path = await tilePath(who, other, (t) => matches(t, p.path));
        assert.ok(matches(path.token, p.path), `${who.name}'s tile shows ${path.token} (${path.words}), expected ${p.path}`);
        assert.match(path.words, WORDS[path.token]);
      }
      assert.deepEqual([await cat.peerConnections(), await dan.peerConnections()], [1, 1]);
      for (const who of [ada, bob, cat, dan]) assert.deepEqual(who.problems, [], `${who.name}'s page had errors`);
    } finally {
      await s.close();
    }
  });
}

test('with 5 % loss on both homes the 20 MiB file arrives byte-exact and the call keeps video', async () => {
  const s = await scenario({ homes: { a: 'symmetric', b: 'symmetric' }, ice: 'turn', loss: 5 });
  try {
    const [a, b] = s.browsers.map((x) => x.browser);
    const ada = await joinChat(a, 'Ada');
    const bob = await joinChat(b, 'Bob');
    await chatBothWays(ada, bob);
    await sendFile(ada, bob, twentyMiB(), 240_000);
    const room = `loss-${Math.random().toString(36).slice(2, 8)}`;
    const cat = await joinRoom(a, room, 'Cat');
    const dan = await joinRoom(b, room, 'Dan');
    await waitVideo(cat, dan);
    await waitVideo(dan, cat);
    // Video keeps coming for a while: the playback time still advances ten seconds later.
    await new Promise((r) => setTimeout(r, 10_000));
    await waitVideo(cat, dan);
    await waitVideo(dan, cat);
  } finally {
    await s.close();
  }
});

test('a home cut off for 10 s comes back by itself: the conversation and the call resume without a reload', async () => {
  const s = await scenario({ homes: { a: 'symmetric', b: 'symmetric' }, ice: 'turn' });
  try {
    const [a, b] = s.browsers.map((x) => x.browser);
    const ada = await joinChat(a, 'Ada');
    const bob = await joinChat(b, 'Bob');
    await chatBothWays(ada, bob);
    const room = `cut-${Math.random().toString(36).slice(2, 8)}`;
    const cat = await joinRoom(a, room, 'Cat');
    const dan = await joinRoom(b, room, 'Dan');
    await waitVideo(cat, dan);
    await waitVideo(dan, cat);

    // Marks the pages, so that a reload (which would clear it) shows.
    for (const who of [ada, bob, cat, dan]) await who.page.evaluate(() => { window.__notReloaded = true; });
    // Ada's inspector follows the connection to Bob (it reads it while its details are open).
    const detail = ada.page.locator(`[data-testid="inspector-peer-detail"][data-peer-id="${bob.id}"]`);
    await detail.locator('summary').first().click();
    await detail.getByTestId('inspector-path').filter({ hasText: /relay/ }).waitFor({ timeout: WAIT });
    s.net.cut('a');
    // The others notice: the connection leaves `connected` (ICE consent checks go unanswered).
    await tileOf(dan, cat).and(dan.page.locator(':not([data-connection="connected"])')).waitFor({ timeout: WAIT });
    await new Promise((r) => setTimeout(r, 10_000));
    s.net.restore('a');

    await waitVideo(cat, dan, 90_000);
    await waitVideo(dan, cat, 90_000);
    const after = `after the cut ${Math.random().toString(36).slice(2)}`;
    await send(ada, after);
    await received(bob, after, 90_000);
    await delivered(ada, after, 90_000);
    const back = `and back ${Math.random().toString(36).slice(2)}`;
    await send(bob, back);
    await received(ada, back);
    for (const who of [ada, bob, cat, dan]) {
      assert.equal(await who.page.evaluate(() => window.__notReloaded), true, `${who.name}'s page was not reloaded`);
    }
    assert.deepEqual([await ada.peerConnections(), await bob.peerConnections()], [1, 1],
      'the chat came back over the same connection (ICE restart), not a new one');
    // The restart found new relay addresses: Ada's inspector shows the pair changing, as a step with its
    // explanation and in the list of the connection's paths.
    await detail.locator('[data-testid="inspector-step"][data-step="path"]').filter({ hasText: 'Path changed' })
      .first().waitFor({ timeout: WAIT });
    assert.ok(await detail.getByTestId('inspector-path-change').count() >= 2, 'the paths before and after the cut');
    assert.ok(await detail.locator('[data-testid="inspector-step"][data-step="ice-restart"]').count() > 0,
      'the ICE restart is on the timeline');
    assert.deepEqual([await cat.peerConnections(), await dan.peerConnections()], [1, 1],
      'the call came back over the same connection (ICE restart), not a new one');
  } finally {
    await s.close();
  }
});

const PROBLEMS = [
  { name: 'symmetric NATs with STUN only: no relay to fall back on', homes: { a: 'symmetric', b: 'symmetric' }, ice: 'stun', cause: 'needs-turn' },
  { name: 'UDP blocked and TURN only over UDP', homes: { a: 'tcp-only', b: 'tcp-only' }, ice: 'turn-udp', cause: 'udp-blocked' },
];

for (const p of PROBLEMS) {
  test(`a connection that cannot be made says why and what would fix it — ${p.name}`, async () => {
    const s = await scenario({ homes: p.homes, ice: p.ice });
    try {
      const [a, b] = s.browsers.map((x) => x.browser);
      const ada = await joinChat(a, 'Ada');
      const bob = await joinChat(b, 'Bob');
      await user(bob, ada).waitFor({ timeout: WAIT });
      await openConversation(ada, bob);
      await send(ada, 'this cannot arrive');
      const problem = ada.page.getByTestId('connection-problem');
      await problem.waitFor({ timeout: 90_000 });
      assert.equal(await problem.getAttribute('data-cause'), p.cause);
      assert.match(await problem.textContent(), /TURN/);
      // The link opens the app's page on running a TURN server, beside the conversation.
      const [help] = await Promise.all([
        ada.context.waitForEvent('page'),
        problem.getByTestId('connection-problem-help').click(),
      ]);
      await help.getByTestId('page-turn-help').waitFor({ timeout: WAIT });
      await help.close();
      // And the network check, which tests this browser's ways out.
      const [check] = await Promise.all([
        ada.context.waitForEvent('page'),
        problem.getByTestId('connection-problem-check').click(),
      ]);
      await check.getByTestId('page-network').waitFor({ timeout: WAIT });
      await check.close();

      const room = `fail-${Math.random().toString(36).slice(2, 8)}`;
      const cat = await joinRoom(a, room, 'Cat');
      const dan = await joinRoom(b, room, 'Dan');
      const inTile = tileOf(cat, dan).getByTestId('connection-problem');
      await inTile.waitFor({ timeout: 90_000 });
      assert.equal(await inTile.getAttribute('data-cause'), p.cause);
      void dan;
    } finally {
      await s.close();
    }
  });
}
