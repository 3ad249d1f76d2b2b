// End-to-end: the release build's media and loopback pages work in Chromium with fake devices — the camera
// preview plays and reports its settings, and the loopback connects, shows candidate steps and stats.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { launch, openPage, SCREENSHOTS } from './browser.mjs';

let browser;
before(async () => { browser = await launch(); mkdirSync(SCREENSHOTS, { recursive: true }); });
after(async () => { await browser?.close(); });

test('media page previews the camera, meters the microphone and takes a snapshot', async () => {
  const { context, page, problems } = await openPage(browser, '/media');
  await page.getByTestId('page-media').waitFor();
  await page.getByRole('button', { name: 'Start camera' }).click();
  await page.locator('[data-testid="track-video"][data-ready-state="live"]').waitFor();
  // The preview really plays frames.
  await page.waitForFunction(() => {
    const v = document.querySelector('[data-testid="media-preview"]');
    return v && v.videoWidth > 0 && v.currentTime > 0;
  });
  assert.match(await page.getByTestId('video-resolution').textContent(), /\d+ × \d+/);
  // Device pickers are labelled and list the fake devices by name once permission is granted.
  const cameras = await page.getByLabel('Camera device').locator('option').allTextContents();
  assert.ok(cameras.length >= 2, `cameras: ${cameras}`);
  await page.waitForFunction(() => Number(document.querySelector('[data-testid="mic-level"]').value) > 0);
  await page.getByRole('button', { name: 'Take snapshot' }).click();
  const href = await page.getByTestId('snapshot-link').getAttribute('href');
  assert.ok(href.startsWith('data:image/png;base64,'), 'a downloadable PNG');
  await page.getByRole('button', { name: 'Mute camera' }).click();
  assert.equal(await page.getByTestId('mute-video').getAttribute('aria-pressed'), 'true');
  await page.getByRole('button', { name: 'Unmute camera' }).click();
  await page.screenshot({ path: `${SCREENSHOTS}media.png`, fullPage: true });
  assert.deepEqual(problems, []);
  await context.close();
});

test('loopback page connects, shows candidate steps, carries a message and charts stats', async () => {
  const { context, page, problems } = await openPage(browser, '/loopback');
  await page.getByTestId('page-loopback').waitFor();
  await page.getByRole('button', { name: 'Start', exact: true }).click();
  await page.locator('[data-testid="callee-state-connection"][data-state="connected"]').waitFor();
  assert.ok(await page.locator('[data-step="candidate"]').count() > 0, 'candidate steps are shown');
  assert.match(await page.locator('[data-step="candidate"]').first().textContent(), /host/);
  await page.getByLabel('Message from caller to callee').fill('hello from e2e');
  await page.getByRole('button', { name: 'Send', exact: true }).click();
  await page.getByTestId('received-message').filter({ hasText: 'hello from e2e' }).waitFor();
  // Stats arrive every second: wait for a bitrate value and a selected pair.
  await page.waitForFunction(() => /\d/.test(document.querySelector('[data-testid="chart-bitrate-value"]').textContent));
  await page.waitForFunction(() => /host/.test(document.querySelector('[data-testid="selected-pair"]').textContent));
  await page.waitForFunction(() => {
    const v = document.querySelector('[data-testid="loopback-remote-video"]');
    return v && v.videoWidth > 0 && v.currentTime > 0;
  });
  // A few more seconds of chart before the picture.
  await page.waitForFunction(() => document.querySelectorAll('[data-testid="chart-bitrate"] polyline').length > 0
    && document.querySelector('[data-testid="chart-bitrate"] polyline').getAttribute('points').split(' ').length >= 4);
  // The verification code both sides of a call would read aloud: six digits from the two DTLS fingerprints.
  assert.match(await page.getByTestId('verification-code').textContent(), /^\d{3} \d{3}$/);
  await page.locator('[data-testid="sdp-offer"] > summary').click();
  await page.screenshot({ path: `${SCREENSHOTS}loopback.png`, fullPage: true });
  await page.getByRole('button', { name: 'Hang up' }).click();
  await page.locator('[data-testid="callee-state-connection"][data-state="closed"]').waitFor();
  assert.deepEqual(problems, []);
  await context.close();
});
