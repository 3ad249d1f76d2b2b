// End-to-end: every page on a 390×844 phone screen (a touch viewport, like Chromium's device emulation):
// nothing scrolls sideways, and every control — button, input, select, textarea, link, summary — lies
// within the page's width and is the topmost element at its centre once scrolled into view (nothing
// covers it). Saves a picture of each page's viewport as docs/screenshots/<page>-390.png.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { launch, BASE } from './browser.mjs';

const SHOTS = new URL('../../docs/screenshots/', import.meta.url).pathname;
const PHONE = { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 1 };
const WAIT = 60_000;

let browser;
before(async () => { browser = await launch(); mkdirSync(SHOTS, { recursive: true }); });
after(async () => { await browser?.close(); });

const unique = (name) => `${name}-${Math.random().toString(36).slice(2, 7)}`;

async function open(path) {
  const context = await browser.newContext(PHONE);
  const page = await context.newPage();
  await page.goto(BASE + path);
  return { context, page };
}

// The page's sideways overflow and every control that is out of reach, described.
function layoutProblems(page) {
  return page.evaluate(() => {
    const root = document.scrollingElement;
    const problems = [];
    if (root.scrollWidth > root.clientWidth) {
      const wide = [...document.querySelectorAll('body *')]
        .filter((el) => el.getBoundingClientRect().right > root.clientWidth + 0.5)
        .filter((el) => !el.closest('.skip-link, .visually-hidden'))
        // The outermost ones: where the overflow starts.
        .filter((el) => !(el.parentElement.getBoundingClientRect().right > root.clientWidth + 0.5))
        .slice(0, 3)
        .map((el) => `<${el.tagName.toLowerCase()} class="${el.className}"> ${Math.round(el.getBoundingClientRect().width)} px`);
      problems.push(`the page scrolls sideways: ${root.scrollWidth} px wide in ${root.clientWidth} px (${wide.join(', ')})`);
    }
    const describe = (el) =>
      `<${el.tagName.toLowerCase()}${el.dataset.testid ? ` data-testid="${el.dataset.testid}"` : ''}> "${(el.getAttribute('aria-label') ?? el.textContent ?? '').trim().slice(0, 30)}"`;
    for (const el of document.querySelectorAll('button, input, select, textarea, a[href], summary')) {
      // Not shown now (a hidden part of the page, a closed <details>), or shown only to screen readers or
      // on focus (the skip link, the visually hidden file input inside its label).
      if (el.closest('[hidden], .visually-hidden, .skip-link')) continue;
      // A summary shows while every <details> around its own is open.
      let closed = el.closest('details:not([open])');
      if (closed && el.tagName === 'SUMMARY' && el.parentElement === closed) {
        closed = closed.parentElement.closest('details:not([open])');
      }
      if (closed) continue;
      if (el.getClientRects().length === 0) continue;
      // A control drawn by its label (a file input styled as a button): the label is what a finger hits.
      let target = el;
      const box = el.getBoundingClientRect();
      if ((box.width <= 1 || box.height <= 1) && el.labels?.length) target = el.labels[0];
      target.scrollIntoView({ block: 'center', inline: 'center' });
      // A link that wraps is several boxes: its first line is where it starts.
      const r = target.getClientRects()[0] ?? target.getBoundingClientRect();
      if (r.width <= 1 || r.height <= 1) continue;
      if (r.left < -0.5 || r.right > root.clientWidth + 0.5) {
        problems.push(`${describe(el)} lies outside the page's width (${Math.round(r.left)}..${Math.round(r.right)})`);
        continue;
      }
      const hit = document.elementFromPoint(r.left + r.width / 2, r.top + Math.min(r.height / 2, 10));
      const own = hit && (target.contains(hit) || [...(el.labels ?? [])].some((l) => l.contains(hit)));
      if (!own) problems.push(`${describe(el)} is covered by ${hit ? describe(hit) : 'nothing at all'}`);
    }
    window.scrollTo(0, 0);
    return problems;
  });
}

async function checkAndShoot(page, name) {
  const problems = await layoutProblems(page);
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: `${SHOTS}${name}-390.png` });
  assert.deepEqual(problems, [], `${name} at 390×844:\n${problems.join('\n')}`);
}

test('home, TURN help and not-found pages fit a 390 px wide screen', async () => {
  const { context, page } = await open('/');
  try {
    await page.getByTestId('home-reach').waitFor();
    await checkAndShoot(page, 'home');
    await page.goto(`${BASE}/help/turn-server`);
    await page.getByTestId('page-turn-help').waitFor();
    await checkAndShoot(page, 'turn-help');
    await page.goto(`${BASE}/no/such/page`);
    await page.getByTestId('page-not-found').waitFor();
    await checkAndShoot(page, 'not-found');
  } finally {
    await context.close();
  }
});

test('the network check and the guide fit a 390 px wide screen', async () => {
  const { context, page } = await open('/network');
  try {
    await page.getByTestId('page-network').waitFor();
    await page.getByTestId('network-verdict').waitFor({ timeout: 20_000 });
    await checkAndShoot(page, 'network');
    await page.goto(`${BASE}/learn/topologies`);
    await page.getByTestId('learn-chapter-title').waitFor();
    await checkAndShoot(page, 'learn-topologies');
  } finally {
    await context.close();
  }
});

test('media and loopback pages fit a 390 px wide screen while running', async () => {
  const { context, page } = await open('/media');
  try {
    await page.getByRole('button', { name: 'Start camera' }).click();
    await page.locator('[data-testid="track-video"][data-ready-state="live"]').waitFor();
    await checkAndShoot(page, 'media');
    await page.goto(`${BASE}/loopback`);
    await page.getByRole('button', { name: 'Start', exact: true }).click();
    await page.locator('[data-testid="callee-state-connection"][data-state="connected"]').waitFor();
    await page.waitForFunction(() => /host/.test(document.querySelector('[data-testid="selected-pair"]').textContent));
    await page.locator('[data-testid="sdp-offer"] > summary').click();
    await checkAndShoot(page, 'loopback');
  } finally {
    await context.close();
  }
});

test('the chat fits a 390 px wide screen with a conversation open', async () => {
  const names = { ada: unique('Ada'), bob: unique('Bob') };
  const ada = await open('/chat');
  const bob = await open('/chat');
  try {
    await checkAndShoot(ada.page, 'chat-lobby');
    for (const [who, name] of [[ada, names.ada], [bob, names.bob]]) {
      await who.page.getByTestId('chat-name').fill(name);
      await who.page.getByTestId('chat-join').click();
      await who.page.getByTestId('chat-self-id').filter({ hasText: /[0-9a-f]{32}/ }).waitFor();
    }
    await ada.page.locator(`[data-testid="chat-user"][data-name="${names.bob}"]`).click();
    await ada.page.getByTestId('chat-input').fill('a message long enough to need wrapping on a narrow phone screen, with-a-rather-long-unbroken-word-in-it-too');
    await ada.page.getByTestId('chat-send').click();
    await ada.page.locator('[data-testid="chat-message"][data-status="delivered"]').waitFor({ timeout: WAIT });
    await checkAndShoot(ada.page, 'chat');
    // The inspector's view of the connection, with its description unfolded.
    await ada.page.locator('[data-testid="inspector-peer-detail"] > summary').click();
    await ada.page.locator('[data-testid="inspector-sdp-local"] > summary').click();
    await ada.page.locator('[data-testid="inspector-sdp-local"] [data-testid="sdp-section"] > summary').last().click();
    await ada.page.locator('[data-testid="inspector-candidate"]').first().waitFor({ timeout: WAIT });
    await checkAndShoot(ada.page, 'chat-inspector');
  } finally {
    await ada.context.close();
    await bob.context.close();
  }
});

test('the room fits a 390 px wide screen in its lobby and in a call of two', async () => {
  const room = unique('phone');
  const ada = await open(`/room/${room}?video=320x240@15`);
  const bob = await open(`/room/${room}?video=320x240@15`);
  try {
    for (const who of [ada, bob]) {
      await who.page.locator('[data-testid="room-preview"][data-live="true"]').waitFor({ timeout: WAIT });
    }
    await checkAndShoot(ada.page, 'room-lobby');
    for (const [who, name] of [[ada, unique('Ada')], [bob, unique('Bob')]]) {
      await who.page.getByLabel('Your name').fill(name);
      await who.page.getByRole('button', { name: 'Join call' }).click();
    }
    await ada.page.locator('[data-testid="tile"][data-self="false"][data-connection="connected"]').waitFor({ timeout: WAIT });
    await checkAndShoot(ada.page, 'room-call');
    await ada.page.locator('[data-testid="inspector"] > summary').click();
    await ada.page.locator('[data-testid="inspector-peer-detail"] > summary').click();
    await ada.page.locator('[data-testid="inspector-uplink"][data-streams="1"]').waitFor({ timeout: WAIT });
    await checkAndShoot(ada.page, 'room-inspector');
  } finally {
    await ada.context.close();
    await bob.context.close();
  }
});
