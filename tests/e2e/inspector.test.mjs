// End-to-end: the chat's and the room's inspectors show each connection as the browser holds it — the
// local and remote descriptions folded by section are exactly `localDescription.sdp` and
// `remoteDescription.sdp`, every candidate `getStats` knows is listed with the same type, the selected
// pair and its step are shown, the charts move while data flows (a file transfer peaks the chat's
// received chart), and in a room of three the frame rate, the sender's cap and the uplink (two streams in
// the mesh next to one through an SFU) come from the live figures.
//
// Both opened inspectors pass axe-core. Each page records its RTCPeerConnections (an init script wraps the constructor), so the test compares
// the page with the browser's own objects.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { launch, BASE, SCREENSHOTS } from './browser.mjs';
import { audit, blocking, describe } from './axe.mjs';

let browser;
before(async () => {
  browser = await launch();
  mkdirSync(SCREENSHOTS, { recursive: true });
});
after(async () => { await browser?.close(); });

const unique = (name) => `${name}-${Math.random().toString(36).slice(2, 7)}`;
const WAIT = 60_000;

// Records every RTCPeerConnection the page makes, and counts the page's calls to getStats (the test's own
// calls are not counted: they go through `__ownStats`).
function recordPeerConnections() {
  const Native = window.RTCPeerConnection;
  window.__pcs = [];
  window.__statsCalls = 0;
  const getStats = Native.prototype.getStats;
  Native.prototype.getStats = function (...args) {
    window.__statsCalls += 1;
    return getStats.apply(this, args);
  };
  window.__ownStats = (pc) => getStats.call(pc);
  window.RTCPeerConnection = class extends Native {
    constructor(...args) {
      super(...args);
      window.__pcs.push(this);
    }
  };
}

// How many times the page called getStats in `ms` milliseconds.
async function statsCallsDuring(page, ms) {
  const before = await page.evaluate(() => window.__statsCalls);
  await new Promise((r) => setTimeout(r, ms));
  return (await page.evaluate(() => window.__statsCalls)) - before;
}

async function newPage() {
  const context = await browser.newContext();
  await context.addInitScript(recordPeerConnections);
  const page = await context.newPage();
  const problems = [];
  page.on('console', (msg) => { if (msg.type() === 'error') problems.push(`console: ${msg.text()}`); });
  page.on('pageerror', (err) => problems.push(`exception: ${err.message}`));
  return { context, page, problems };
}

async function joinChat(name) {
  const who = { name, ...(await newPage()) };
  await who.page.goto(`${BASE}/chat`);
  await who.page.getByTestId('chat-name').fill(name);
  await who.page.getByTestId('chat-join').click();
  await who.page.getByTestId('chat-self-id').filter({ hasText: /[0-9a-f]{32}/ }).waitFor();
  who.id = (await who.page.getByTestId('chat-self-id').textContent()).match(/[0-9a-f]{32}/)[0];
  return who;
}

// The opened inspector is as usable as the rest of the page: no serious or critical axe-core finding.
async function accessible(page) {
  const found = blocking(await audit(page));
  assert.deepEqual(found, [], describe(found));
}

const detailOf = (page, id) => page.locator(`[data-testid="inspector-peer-detail"][data-peer-id="${id}"]`);

// Waits until the detail's local and remote SDP, its sections joined, equal the descriptions of one of
// the page's live connections (gathering adds candidates to the local one, so it is read until it holds
// still); returns that connection's index in `__pcs`, and the local sections' titles.
async function checkSdp(page, detail) {
  const handle = await detail.elementHandle();
  const found = await page.waitForFunction((el) => {
    const text = (id) => [...el.querySelectorAll(`[data-testid="${id}"] [data-testid="sdp-text"]`)]
      .map((p) => p.textContent).join('');
    const local = text('inspector-sdp-local');
    const remote = text('inspector-sdp-remote');
    const index = window.__pcs.findIndex((pc) => pc.connectionState !== 'closed'
      && pc.iceGatheringState === 'complete'
      && pc.localDescription?.sdp === local && pc.remoteDescription?.sdp === remote);
    return local.length > 0 && index >= 0 && index;
  }, handle, { timeout: WAIT, polling: 250 });
  const pc = await found.jsonValue();
  // Folded: one section for the session and one per media line, each titled.
  const titles = await detail.locator('[data-testid="inspector-sdp-local"] [data-testid="sdp-section"] > summary').allTextContents();
  assert.ok(titles.length >= 2, `sections: ${titles}`);
  assert.match(titles[0], /^session/);
  return { pc, titles };
}

// Every candidate getStats reports for the detail's own connection (bar peer-reflexive ones, which are
// learnt from checks rather than signaled) is listed with its end, type, protocol and port.
async function checkCandidates(page, detail, pc) {
  const listed = await detail.locator('[data-testid="inspector-candidate"]').evaluateAll((rows) => rows.map((r) => ({
    end: r.dataset.end, type: r.dataset.type, protocol: r.dataset.protocol, port: r.dataset.address.split(':').pop(),
  })));
  assert.ok(listed.some((c) => c.end === 'local') && listed.some((c) => c.end === 'remote'), JSON.stringify(listed));
  const reported = await page.evaluate(async (index) => {
    const out = [];
    (await window.__ownStats(window.__pcs[index])).forEach((s) => {
      if ((s.type === 'local-candidate' || s.type === 'remote-candidate') && s.candidateType !== 'prflx') {
        out.push({ end: s.type.split('-')[0], type: s.candidateType, protocol: s.protocol, port: String(s.port) });
      }
    });
    return out;
  }, pc);
  assert.ok(reported.some((c) => c.end === 'local') && reported.some((c) => c.end === 'remote'),
    `getStats reports both ends: ${JSON.stringify(reported)}`);
  const missing = reported.filter((c) =>
    !listed.some((l) => l.end === c.end && l.type === c.type && l.protocol === c.protocol && l.port === c.port));
  assert.deepEqual(missing, [], `listed ${JSON.stringify(listed)}`);
}

test('the chat inspector shows the SDP, candidates, path, timeline and moving charts of a connection', async () => {
  const ada = await joinChat(unique('Ada'));
  const bob = await joinChat(unique('Bob'));
  try {
    await ada.page.locator(`[data-testid="chat-user"][data-name="${bob.name}"]`).click();
    await ada.page.locator(`[data-testid="chat-user"][data-name="${bob.name}"][data-connection="connected"]`).waitFor({ timeout: WAIT });
    await bob.page.locator(`[data-testid="chat-user"][data-name="${ada.name}"]`).click();
    // With every connection's details closed, the inspector reads nothing: the page's only getStats is
    // the conversation's path, every few seconds.
    const closed = await statsCallsDuring(ada.page, 3000);
    for (const [who, other] of [[ada, bob], [bob, ada]]) {
      const detail = detailOf(who.page, other.id);
      await detail.locator('summary').first().click();
      const { pc, titles } = await checkSdp(who.page, detail);
      assert.ok(titles.some((t) => t.startsWith('data channels (SCTP)')), `a data-channel section: ${titles}`);
      await checkCandidates(who.page, detail, pc);
      await detail.getByTestId('inspector-path').filter({ hasText: /host/ }).waitFor({ timeout: WAIT });
      // The timeline holds the connection's steps with their explanations, and the path it took.
      await detail.locator('[data-testid="inspector-step"][data-step="path"]').waitFor({ timeout: WAIT });
      const connected = detail.locator('[data-testid="inspector-step"][data-step="connection-state"]').filter({ hasText: 'connected' });
      assert.ok(await connected.count() > 0, 'the connection step is on the timeline');
      assert.match(await connected.first().textContent(), /packets flow and the keys are agreed/);
      // Candidates of both ends are steps too, with the line itself on demand.
      assert.ok(await detail.locator('[data-testid="inspector-step"][data-step="candidate"]').count() > 0);
    }

    // Open, it reads the connection every second.
    const open = await statsCallsDuring(ada.page, 3000);
    assert.ok(open >= closed + 2, `getStats calls in 3 s: ${closed} closed, ${open} open`);

    // Idle, the connection carries only keep-alives; a 16 MiB file peaks Bob's received chart.
    const chart = detailOf(bob.page, ada.id).getByTestId('inspector-chart-received');
    const peak = async () => Number(((await chart.locator('.chart-max').textContent()).match(/[\d.]+/) ?? ['0'])[0]);
    await bob.page.waitForFunction((el) => el.querySelectorAll('polyline').length > 0, await chart.elementHandle());
    const idle = await peak();
    assert.ok(idle < 1000, `idle peak ${idle} kbit/s`);
    const body = detailOf(bob.page, ada.id).locator('.peer-detail-body');
    const readings = async () => Number(await body.getAttribute('data-readings'));
    const before = await readings();
    await ada.page.getByTestId('chat-file-input').setInputFiles({ name: 'sixteen.bin', mimeType: 'application/octet-stream', buffer: Buffer.alloc(16 << 20, 7) });
    const incoming = bob.page.locator('[data-testid="chat-transfer"][data-direction="in"]').last();
    await incoming.getByTestId('transfer-accept').click({ timeout: WAIT });
    await incoming.and(bob.page.locator('[data-state="done"]')).waitFor({ timeout: WAIT });
    await bob.page.waitForFunction(([el, min]) => {
      const max = Number((el.querySelector('.chart-max').textContent.match(/[\d.]+/) ?? ['0'])[0]);
      return max > min;
    }, [await chart.elementHandle(), 10_000], { timeout: 10_000 });
    assert.ok(await readings() > before, 'readings keep coming, a point a second on each chart');
    await detailOf(bob.page, ada.id).getByTestId('inspector-sdp-local').locator('summary').first().click();
    await detailOf(bob.page, ada.id).screenshot({ path: `${SCREENSHOTS}chat-inspector.png` });
    await accessible(bob.page);
    assert.deepEqual([...ada.problems, ...bob.problems], []);
  } finally {
    for (const who of [ada, bob]) await who.context.close().catch(() => {});
  }
});

async function openRoom(room, name) {
  const who = { name, ...(await newPage()) };
  await who.page.goto(`${BASE}/room/${room}?video=320x240@15`);
  await who.page.locator('[data-testid="room-preview"][data-live="true"]').waitFor({ timeout: WAIT });
  await who.page.getByLabel('Your name').fill(name);
  return who;
}

test('the room inspector shows each connection with frame rate and cap, and the mesh uplink next to an SFU', async () => {
  const room = unique('inspect');
  const people = [];
  for (const name of ['Ada', 'Bob', 'Cyd']) people.push(await openRoom(room, unique(name)));
  const [ada] = people;
  try {
    await Promise.all(people.map((who) => who.page.getByRole('button', { name: 'Join call' }).click()));
    await ada.page.locator('[data-testid="tile"][data-self="false"][data-connection="connected"]').nth(1).waitFor({ timeout: 90_000 });
    // Closed, the inspector reads nothing; open, it reads every connection every second (the uplink is
    // made from the readings); closed again, it stops.
    const closed = await statsCallsDuring(ada.page, 4000);
    await ada.page.locator('[data-testid="inspector"] > summary').click();
    const open = await statsCallsDuring(ada.page, 4000);
    assert.ok(open >= closed + 4, `getStats calls in 4 s: ${closed} closed, ${open} open`);
    // Two others: two streams sent in the mesh, one through an SFU, both from the live bitrates.
    const uplink = ada.page.getByTestId('inspector-uplink');
    await ada.page.locator('[data-testid="inspector-uplink"][data-streams="2"]').waitFor({ timeout: WAIT });
    await ada.page.waitForFunction(() => {
      const el = document.querySelector('[data-testid="inspector-uplink"]');
      return Number(el.dataset.sfuKbps) > 20 && Number(el.dataset.meshKbps) > Number(el.dataset.sfuKbps);
    }, null, { timeout: WAIT });
    assert.match(await uplink.textContent(), /you send 2 copies of your media/);

    // The browser's own figure for what the page sends, over two seconds, is of the same size.
    const measured = await ada.page.evaluate(async () => {
      const sent = async () => {
        let bytes = 0;
        for (const pc of window.__pcs.filter((p) => p.connectionState === 'connected')) {
          (await window.__ownStats(pc)).forEach((s) => { if (s.type === 'outbound-rtp') bytes += s.bytesSent; });
        }
        return bytes;
      };
      const a = await sent();
      await new Promise((r) => setTimeout(r, 2000));
      return ((await sent()) - a) * 8 / 2000;
    });
    const now = Number(await uplink.getAttribute('data-mesh-kbps'));
    assert.ok(measured > 0.3 * now && measured < 3 * now, `page ${now} kbit/s, getStats ${measured} kbit/s`);

    const rows = await ada.page.getByTestId('inspector-peer-detail').all();
    assert.equal(rows.length, 2);
    const detail = rows[0];
    await detail.locator('summary').first().click();
    const { pc, titles } = await checkSdp(ada.page, detail);
    assert.ok(titles.some((t) => /^video · mid \d+ · sendrecv/.test(t)), `a video section: ${titles}`);
    assert.ok(titles.some((t) => /^audio/.test(t)), `an audio section: ${titles}`);
    await checkCandidates(ada.page, detail, pc);
    // Frames arrive, and the cap the room set (2.5 Mbit/s over two peers) is shown.
    await ada.page.waitForFunction((el) => {
      const v = el.querySelector('[data-testid="inspector-chart-fps-value"]');
      return v && Number((v.textContent.match(/[\d.]+/) ?? ['0'])[0]) > 0;
    }, await detail.elementHandle(), { timeout: WAIT });
    await detail.locator('[data-testid="inspector-cap"][data-cap-bps="1250000"]').waitFor({ timeout: WAIT });
    assert.match(await detail.getByTestId('inspector-cap').textContent(), /1250 kbit\/s/);
    // The cap is drawn on the chart of what this side sends.
    await detail.locator('[data-testid="inspector-chart-sent-limit"][data-value="1250"]').waitFor({ state: 'attached', timeout: WAIT });
    await ada.page.getByTestId('inspector').screenshot({ path: `${SCREENSHOTS}room-inspector.png` });
    await accessible(ada.page);
    await ada.page.locator('[data-testid="inspector"] > summary').click();
    const again = await statsCallsDuring(ada.page, 4000);
    assert.ok(again <= open - 4, `getStats calls in 4 s: ${open} open, ${again} closed again`);
    for (const who of people) assert.deepEqual(who.problems, []);
  } finally {
    for (const who of people) await who.context.close().catch(() => {});
  }
});
