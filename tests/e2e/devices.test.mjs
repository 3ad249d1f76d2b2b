// End-to-end: a camera that stops mid-call, and devices plugged in. The browser has three fake cameras
// (Chromium's second delivers 16-bit depth frames, which a preview plays and an encoder does not send, so
// the call unplugs it first and switches to the third). On
// the media page and in a two-person room call, the live camera track ends as an unplugged camera's would
// (stopped, then `ended`): the page says so in words and offers the other camera; choosing it gives a live
// track again, and in the call the other side receives frames again (the new track replaced the old one
// on the peer connection). With one camera and none left in the list, the page says what still works.
// A `devicechange` (with one more camera listed) refreshes the pickers of both pages.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, openPage as open, BASE } from './browser.mjs';
import { audit, blocking, describe } from './axe.mjs';

let browser;
let oneCamera;
before(async () => {
  browser = await launch(['--use-fake-device-for-media-stream=device-count=3']);
  oneCamera = await launch();
});
after(async () => {
  await browser?.close();
  await oneCamera?.close();
});

const WAIT = 60_000;
const unique = (name) => `${name}-${Math.random().toString(36).slice(2, 7)}`;

// The camera track a <video> plays, as its label and ready state.
const trackOf = (page, selector) =>
  page.evaluate((sel) => {
    const t = document.querySelector(sel)?.srcObject?.getVideoTracks()[0];
    return t ? { label: t.label, readyState: t.readyState } : null;
  }, selector);

// What an unplugged camera does to its track: it ends (no more frames), and the browser fires `ended`.
async function unplugCamera(page, selector) {
  return page.evaluate((sel) => {
    const t = document.querySelector(sel).srcObject.getVideoTracks()[0];
    t.stop();
    t.dispatchEvent(new Event('ended'));
    return t.label;
  }, selector);
}

async function waitLiveCamera(page, selector, label) {
  await page.waitForFunction(
    ([sel, label]) => {
      const t = document.querySelector(sel)?.srcObject?.getVideoTracks()[0];
      return t && t.readyState === 'live' && t.label === label;
    },
    [selector, label],
    { timeout: WAIT },
  );
}

// Frames the <video> presented during `ms` (its playback quality counter).
async function framesDuring(page, selector, ms = 2_000) {
  return page.evaluate(
    async ([sel, ms]) => {
      const v = document.querySelector(sel);
      const count = () => v.getVideoPlaybackQuality().totalVideoFrames;
      const start = count();
      await new Promise((r) => setTimeout(r, ms));
      return count() - start;
    },
    [selector, ms],
  );
}

// Lists one more camera than the browser has, then tells the page the devices changed.
async function plugInCamera(page, label) {
  await page.evaluate((label) => {
    const devices = navigator.mediaDevices;
    const real = devices.enumerateDevices.bind(devices);
    devices.enumerateDevices = async () => [
      ...(await real()),
      { kind: 'videoinput', deviceId: 'plugged-in-camera', groupId: 'plugged-in', label },
    ];
    devices.dispatchEvent(new Event('devicechange'));
  }, label);
}

// Starts the media page's camera and microphone; returns the preview's selector once the first camera plays.
async function startCamera(page) {
  await page.getByTestId('media-start').click();
  await page.locator('[data-testid="media-status"][data-status="live"]').waitFor({ timeout: WAIT });
  const preview = '[data-testid="media-preview"]';
  await waitLiveCamera(page, preview, 'fake_device_0');
  return preview;
}

test('media page: a camera that stops is said, the other camera is offered and works', async () => {
  const { context, page, problems } = await open(browser, '/media');
  try {
    const preview = await startCamera(page);

    const lost = await unplugCamera(page, preview);
    const notice = page.locator('[data-testid="device-lost"][data-kind="video"]');
    await notice.waitFor({ timeout: WAIT });
    assert.match(await notice.textContent(), new RegExp(`Your camera \\(${lost}\\) stopped: it was unplugged or another app took it\\.`));
    const offer = notice.getByTestId('device-lost-switch');
    assert.equal(await offer.textContent(), 'Switch to fake_device_1');
    const violations = blocking(await audit(page));
    assert.equal(violations.length, 0, describe(violations));

    await offer.click();
    await waitLiveCamera(page, preview, 'fake_device_1');
    await notice.waitFor({ state: 'detached', timeout: WAIT });
    await page.locator('[data-testid="track-video"][data-ready-state="live"]').waitFor({ timeout: WAIT });
    assert.ok((await framesDuring(page, preview)) > 0, 'the preview plays the new camera');
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
  }
});

test('media page: stops the page makes itself (a switch, Stop) are not said as a lost device', async () => {
  const { context, page, problems } = await open(browser, '/media');
  try {
    const preview = await startCamera(page);
    // The old camera's track is stopped by the switch; `ended` does not fire for that.
    await page.getByTestId('camera-select').selectOption({ label: 'fake_device_1' });
    await waitLiveCamera(page, preview, 'fake_device_1');
    await page.getByTestId('media-stop').click();
    await page.locator('[data-testid="media-status"]:not([data-status="live"])').waitFor({ timeout: WAIT });
    await page.waitForTimeout(500);
    assert.equal(await page.getByTestId('device-lost').count(), 0);
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
  }
});

test('media page: with no other camera, the page says what still works', async () => {
  const { context, page, problems } = await open(oneCamera, '/media');
  try {
    const preview = await startCamera(page);

    // Still listed (another app took it): trying it again is offered.
    await unplugCamera(page, preview);
    const notice = page.locator('[data-testid="device-lost"][data-kind="video"]');
    await notice.waitFor({ timeout: WAIT });
    assert.equal(await notice.getByTestId('device-lost-switch').textContent(), 'Try fake_device_0 again');
    await notice.getByTestId('device-lost-switch').click();
    await waitLiveCamera(page, preview, 'fake_device_0');
    await notice.waitFor({ state: 'detached', timeout: WAIT });

    // Gone from the list (unplugged): nothing to offer, and the microphone still works.
    await page.evaluate(() => {
      const devices = navigator.mediaDevices;
      const real = devices.enumerateDevices.bind(devices);
      devices.enumerateDevices = async () => (await real()).filter((d) => d.kind !== 'videoinput');
    });
    await unplugCamera(page, preview);
    await notice.waitFor({ timeout: WAIT });
    await notice.getByTestId('device-lost-detail').filter({ hasText: 'No other camera is connected. Your microphone still works' }).waitFor({ timeout: WAIT });
    assert.equal(await notice.getByTestId('device-lost-switch').count(), 0);
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
  }
});

test('media page: devicechange lists a camera plugged in', async () => {
  const { context, page, problems } = await open(browser, '/media');
  try {
    const picker = page.getByTestId('camera-select');
    // The page's first listing is in (labels stay hidden until permission, so count them).
    await picker.locator('option').nth(2).waitFor({ state: 'attached', timeout: WAIT });
    assert.equal(await picker.locator('option[value="plugged-in-camera"]').count(), 0);
    await plugInCamera(page, 'Plugged-in Camera');
    await picker.locator('option[value="plugged-in-camera"]', { hasText: 'Plugged-in Camera' }).waitFor({ state: 'attached', timeout: WAIT });
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
  }
});

test('room lobby: devicechange lists a camera plugged in', async () => {
  const { context, page, problems } = await open(browser, `/room/${unique('devices')}?video=320x240@15`);
  try {
    await page.locator('[data-testid="room-preview"][data-live="true"]').waitFor({ timeout: WAIT });
    const picker = page.locator('.room-lobby [data-testid="room-camera-select"]');
    await picker.locator('option', { hasText: 'fake_device_1' }).waitFor({ state: 'attached', timeout: WAIT });
    await plugInCamera(page, 'Plugged-in Camera');
    await picker.locator('option[value="plugged-in-camera"]', { hasText: 'Plugged-in Camera' }).waitFor({ state: 'attached', timeout: WAIT });
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
  }
});

test('room call: a camera that stops is said, the other camera is offered, and the other side sees it', async () => {
  const room = unique('devices');
  const people = [];
  try {
    for (const name of ['Ada', 'Bob']) {
      const who = await open(browser, `/room/${room}?video=320x240@15`);
      who.name = unique(name);
      await who.page.locator('[data-testid="room-preview"][data-live="true"]').waitFor({ timeout: WAIT });
      await who.page.getByLabel('Your name').fill(who.name);
      await who.page.getByRole('button', { name: 'Join call' }).click();
      people.push(who);
    }
    const [ada, bob] = people;
    const adaSelf = '[data-testid="tile"][data-self="true"] [data-testid="tile-video"]';
    const adaOnBob = `[data-testid="tile"][data-name="${ada.name}"] [data-testid="tile-video"]`;
    await ada.page.locator(adaSelf).waitFor({ timeout: WAIT });
    await bob.page.locator(`[data-testid="tile"][data-name="${ada.name}"][data-connection="connected"]`).waitFor({ timeout: WAIT });
    await bob.page.waitForFunction((sel) => document.querySelector(sel)?.videoWidth > 0, adaOnBob, { timeout: WAIT });
    await waitLiveCamera(ada.page, adaSelf, 'fake_device_0');

    // fake_device_1 is gone too; the next camera is fake_device_2.
    await ada.page.evaluate(() => {
      const devices = navigator.mediaDevices;
      const real = devices.enumerateDevices.bind(devices);
      devices.enumerateDevices = async () => (await real()).filter((d) => d.label !== 'fake_device_1');
    });
    const lost = await unplugCamera(ada.page, adaSelf);
    const notice = ada.page.locator('[data-testid="device-lost"][data-kind="video"]');
    await notice.waitFor({ timeout: WAIT });
    assert.match(await notice.textContent(), new RegExp(`Your camera \\(${lost}\\) stopped: it was unplugged or another app took it\\.`));
    const offer = notice.getByTestId('device-lost-switch').filter({ hasText: 'Switch to fake_device_2' });
    await offer.waitFor({ timeout: WAIT });

    await offer.click();
    await waitLiveCamera(ada.page, adaSelf, 'fake_device_2');
    await notice.waitFor({ state: 'detached', timeout: WAIT });
    // The call's picker shows the camera in use.
    assert.equal(
      await ada.page.locator('.room-in-call [data-testid="room-camera-select"] option:checked').textContent(),
      'fake_device_2',
    );
    // Bob receives Ada's new camera on the same connection: frames arrive again (none came while the
    // ended track was the one sent).
    const deadline = Date.now() + WAIT;
    let frames = 0;
    while (Date.now() < deadline && (frames = await framesDuring(bob.page, adaOnBob, 1_000)) <= 3);
    assert.ok(frames > 3, `${bob.name} receives frames from ${ada.name}'s new camera (${frames} a second)`);
    for (const who of people) assert.deepEqual(who.problems, [], who.name);
  } finally {
    for (const who of people) await who.context.close();
  }
});
