// End-to-end: the guide (/learn). Every chapter renders from the table of contents, every link of a chapter
// opens a page that renders (never the not-found page), the headings go down one level at a time, and the
// signaling chapter's live relay log shows its own join, and another tab arriving in the same room.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, openPage, BASE } from './browser.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

// The heading levels inside <main>, in document order.
const headingLevels = (page) =>
  page.locator('main').evaluate((main) => [...main.querySelectorAll('h1, h2, h3, h4, h5, h6')].map((h) => Number(h.tagName[1])));

function assertHeadingsInOrder(levels, where) {
  assert.equal(levels[0], 1, `${where}: starts with one h1`);
  assert.equal(levels.filter((l) => l === 1).length, 1, `${where}: one h1`);
  for (let i = 1; i < levels.length; i += 1) {
    assert.ok(levels[i] <= levels[i - 1] + 1, `${where}: no heading level skipped (${levels})`);
  }
}

test('every chapter renders from the contents, and each of its links opens a page that renders', async () => {
  const { context, page, problems } = await openPage(browser, '/');
  await page.getByTestId('page-home').waitFor();
  await page.getByTestId('home-learn').click();
  await page.getByTestId('page-learn').waitFor();
  assertHeadingsInOrder(await headingLevels(page), '/learn');
  const entries = page.getByTestId('learn-toc-entry').locator('a');
  const chapters = await entries.evaluateAll((links) => links.map((a) => [a.getAttribute('href'), a.textContent]));
  assert.equal(chapters.length, 8);
  assert.deepEqual(chapters.map(([href]) => href.replace('/learn/', '')), [
    'media', 'peer-connection', 'data-channels', 'signaling', 'nat-traversal', 'topologies', 'shared-store', 'security',
  ]);

  const liveTargets = new Set();
  for (const [i, [href, title]] of chapters.entries()) {
    await page.getByTestId('nav-learn').click();
    await page.getByTestId('page-learn').waitFor();
    await entries.nth(i).click();
    const chapter = page.locator(`[data-testid="learn-chapter"][data-slug="${href.replace('/learn/', '')}"]`);
    await chapter.waitFor();
    assert.equal(await page.getByTestId('learn-chapter-title').innerText(), title);
    assertHeadingsInOrder(await headingLevels(page), href);
    assert.ok(await page.getByTestId('learn-code').count() > 0, `${href} quotes code`);
    for (const link of await page.getByTestId('learn-live-link').evaluateAll((as) => as.map((a) => a.getAttribute('href')))) {
      liveTargets.add(link);
    }
    // Previous and next walk the chapters in order.
    if (i + 1 < chapters.length) {
      assert.equal(await page.getByTestId('learn-next').getAttribute('href'), chapters[i + 1][0]);
    } else {
      assert.equal(await page.getByTestId('learn-next').count(), 0);
    }
  }
  assert.ok(liveTargets.has('/network') && liveTargets.has('/loopback'), [...liveTargets].join(' '));

  for (const target of liveTargets) {
    await page.goto(BASE + target);
    await page.locator('main h1').first().waitFor();
    assert.equal(await page.getByTestId('page-not-found').count(), 0, `${target} is a page of the app`);
  }
  await page.goto(`${BASE}/learn/no-such-chapter`);
  await page.getByTestId('page-not-found').waitFor();
  assert.deepEqual(problems, []);
  await context.close();
});

test('the topology chapter counts streams for 2 to 8 people', async () => {
  const { context, page } = await openPage(browser, '/learn/topologies');
  const rows = page.getByTestId('learn-cost-row');
  await rows.first().waitFor();
  assert.deepEqual(await rows.evaluateAll((trs) => trs.map((tr) => Number(tr.dataset.people))), [2, 3, 4, 5, 6, 7, 8]);
  assert.equal(await page.locator('[data-testid="learn-cost-row"][data-people="8"] [data-testid="learn-cost-mesh"]').innerText(), '7 / 7');
  await context.close();
});

test('the signaling chapter shows its own relay messages live, and a second tab arriving in its room', async () => {
  const first = await openPage(browser, '/learn/signaling');
  const log = first.page.getByTestId('relay-log-entry');
  await first.page.locator('[data-testid="relay-log-entry"][data-kind="welcome"]').waitFor({ timeout: 15_000 });
  const kinds = await log.evaluateAll((lis) => lis.map((li) => li.dataset.kind));
  assert.ok(kinds.includes('connected'), kinds.join(' '));
  const href = await first.page.getByTestId('learn-relay-log').locator('a[target="_blank"]').getAttribute('href');
  assert.match(href, /^\/learn\/signaling\?room=learn-[0-9a-f]{16}$/);

  const second = await openPage(browser, href);
  await second.page.locator('[data-testid="relay-log-entry"][data-kind="welcome"]').waitFor({ timeout: 15_000 });
  assert.match(await second.page.locator('[data-testid="relay-log-entry"][data-kind="welcome"]').innerText(), /1 other member/);
  await first.page.locator('[data-testid="relay-log-entry"][data-kind="member_joined"]').waitFor({ timeout: 15_000 });
  assert.deepEqual([...first.problems, ...second.problems], []);
  await second.context.close();
  await first.context.close();
});
