// axe-core (npm `axe-core`, tools/) run inside a page: what it finds, and a readable list of it.
import { readFileSync } from 'node:fs';

const AXE = readFileSync(new URL('../../tools/node_modules/axe-core/axe.min.js', import.meta.url), 'utf8');

// The impacts this project allows none of.
const BLOCKING = new Set(['serious', 'critical']);

// Runs axe-core's default rules (WCAG 2.x A and AA plus best practices) on the whole page. The script
// goes in through the DevTools protocol, which the relay's Content-Security-Policy does not govern.
export async function audit(page) {
  if (!(await page.evaluate(() => typeof window.axe === 'object'))) await page.evaluate(AXE);
  const { violations } = await page.evaluate(() =>
    window.axe.run(document, { resultTypes: ['violations'] }));
  return violations.map((v) => ({
    id: v.id,
    impact: v.impact,
    help: v.help,
    targets: v.nodes.map((n) => n.target.join(' ')),
    summary: v.nodes[0]?.failureSummary ?? '',
  }));
}

export const blocking = (violations) => violations.filter((v) => BLOCKING.has(v.impact));

export function describe(violations) {
  return violations
    .map((v) => `${v.impact} ${v.id}: ${v.help}\n    ${v.targets.slice(0, 5).join('\n    ')}\n    ${v.summary.replace(/\n/g, ' ')}`)
    .join('\n');
}
