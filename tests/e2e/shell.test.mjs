// End-to-end: the release build (trunk --release, wasm-opt) served by the relay loads, routes and joins.
// This is the only test of the optimised module; wasm-bindgen-test runs the unoptimised one.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { launch, openPage, SCREENSHOTS } from './browser.mjs';

let browser;
before(async () => { browser = await launch(); mkdirSync(SCREENSHOTS, { recursive: true }); });
after(async () => { await browser?.close(); });

test('release build mounts the home page without errors', async () => {
  const { context, page, problems } = await openPage(browser, '/');
  await page.getByTestId('page-home').waitFor();
  assert.equal(await page.title(), 'peerlab');
  for (const id of ['nav-media', 'nav-loopback', 'nav-chat']) {
    assert.ok(await page.getByTestId(id).isVisible(), `${id} is visible`);
  }
  await page.screenshot({ path: `${SCREENSHOTS}home.png`, fullPage: true });
  assert.deepEqual(problems, []);
  await context.close();
});

test('navigation moves between the pages without a reload', async () => {
  const { context, page, problems } = await openPage(browser, '/');
  await page.getByTestId('page-home').waitFor();
  await page.evaluate(() => { window.__peerlabMarker = 'same-document'; });
  for (const [nav, heading, path] of [
    ['nav-media', 'page-media', '/media'],
    ['nav-loopback', 'page-loopback', '/loopback'],
    ['nav-chat', 'page-chat', '/chat'],
    ['nav-home', 'page-home', '/'],
  ]) {
    await page.getByTestId(nav).click();
    await page.getByTestId(heading).waitFor();
    assert.equal(new URL(page.url()).pathname, path);
  }
  assert.equal(await page.evaluate(() => window.__peerlabMarker), 'same-document', 'client-side routing');
  assert.deepEqual(problems, []);
  await context.close();
});

test('a deep link to a room loads the app (SPA fallback) and joins through the relay', async () => {
  const room = `e2e-${Date.now()}`;
  const first = await openPage(browser, `/room/${room}`);
  const second = await openPage(browser, `/room/${room}`);
  for (const [who, { page }] of [['Ada', first], ['Bob', second]]) {
    await page.getByTestId('page-room').waitFor();
    await page.getByTestId('room-name').fill(who);
    await page.getByTestId('room-join').click();
    await page.getByTestId('peer-id').filter({ hasText: /[0-9a-f]{32}/ }).waitFor();
  }
  // Each page lists both members once both have joined.
  for (const { page } of [first, second]) {
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="member"]').length === 2);
  }
  await second.context.close();
  await first.page.waitForFunction(() => document.querySelectorAll('[data-testid="member"]').length === 1);
  assert.deepEqual(first.problems, []);
  await first.context.close();
});

test('an unknown path shows the not-found page', async () => {
  const { context, page } = await openPage(browser, '/no/such/page');
  await page.getByTestId('page-not-found').waitFor();
  await context.close();
});
