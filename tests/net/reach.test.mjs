// End-to-end across NATs: the network check (/network) in one home of the test network (netlab.mjs) gives
// the verdict its network deserves, one scenario per verdict: STUN through a full-cone router, TURN over UDP
// from behind a symmetric one, TURN over TCP where UDP is blocked, and UDP blocked with no TURN over TCP.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { scenario, openPage } from './lab.mjs';

const CASES = [
  { name: 'full cone with STUN only: STUN works, symmetric NATs would need TURN', homes: { a: 'full-cone' }, ice: 'stun', reached: 'stun', outlook: 'needs-turn', type: 'srflx', answered: ['STUN'] },
  { name: 'symmetric NAT with TURN over UDP: relayed over UDP', homes: { a: 'symmetric' }, ice: 'turn-udp', reached: 'turn-udp', outlook: 'works', type: 'relay', answered: ['STUN', 'TURN over UDP'] },
  { name: 'UDP blocked with TURN over TCP: relayed over TCP', homes: { a: 'tcp-only' }, ice: 'turn', reached: 'turn-tcp', outlook: 'works-over-tcp', type: 'relay', answered: ['TURN over TCP'] },
  { name: 'UDP blocked and TURN over UDP only: calls will fail', homes: { a: 'tcp-only' }, ice: 'turn-udp', reached: 'host-only', outlook: 'udp-blocked', type: 'host', answered: [] },
];

for (const c of CASES) {
  test(`network check — ${c.name}`, async (t) => {
    const s = await scenario({ homes: c.homes, ice: c.ice });
    try {
      const { context, page, problems } = await openPage(s.browsers[0].browser, '/network');
      const verdict = page.getByTestId('network-verdict');
      await verdict.waitFor({ timeout: 30_000 });
      assert.deepEqual(
        [await verdict.getAttribute('data-reached'), await verdict.getAttribute('data-outlook')],
        [c.reached, c.outlook],
        await verdict.innerText(),
      );
      const types = await page.getByTestId('network-candidate').evaluateAll((rows) => rows.map((r) => r.dataset.type));
      assert.ok(types.includes(c.type), `a ${c.type} candidate is listed (${types})`);
      // Each configured server is listed once, and those that answered have a round-trip time.
      const servers = await page.getByTestId('network-server').evaluateAll((rows) => rows.map((r) => ({
        kind: r.dataset.kind, answered: r.dataset.answered === 'true', rtt: r.querySelector('[data-testid="network-server-rtt"]').textContent,
      })));
      assert.deepEqual(servers.filter((x) => x.answered).map((x) => x.kind), c.answered, JSON.stringify(servers));
      t.diagnostic(`servers: ${JSON.stringify(servers)}; candidates: ${types.join(' ')}`);
      for (const x of servers) assert.match(x.rtt, x.answered ? /^\d+ ms$/ : /^—$/);
      assert.deepEqual(problems, []);
      await context.close();
    } finally {
      await s.close();
    }
  });
}
