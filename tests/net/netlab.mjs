// A test network of Linux network namespaces, for end-to-end tests across NATs and firewalls.
//
//   home-a ──lan── router-a ──wan──┐
//   (10.1.0.2)   (10.1.0.1 | .11)  │  "internet" 203.0.113.0/24: a bridge in the namespace `inet`,
//                                   ├─ the relay on 203.0.113.1 and coturn (STUN + TURN) on 203.0.113.2
//   home-b ──lan── router-b ──wan──┘
//   (10.2.0.2)   (10.2.0.1 | .12)
//
// Addresses come from the documentation ranges and no namespace has a link to the machine's real network.
// Each router is an nftables NAT of one kind (see `ROUTERS`), can drop a share of forwarded packets at
// random (this kernel has no netem) and can cut its home off the internet altogether. Every namespace's name
// starts with a per-run prefix; `down()` removes them all, and scripts/test.sh runs these tests inside a
// mount namespace of their own, so even a killed run leaves no namespace behind.
import { execFileSync, spawn } from 'node:child_process';
import { writeFileSync, chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const RELAY_IP = '203.0.113.1';
export const TURN_IP = '203.0.113.2';

// The NAT kinds a router can be, as nftables rules. `wan` and `lan` are the router's two interfaces,
// `host` the one machine of the home.
export const ROUTERS = {
  // Full cone: the public port is the private one, and any packet to it from anywhere reaches the host.
  'full-cone': ({ wanIp, host }) => ({
    post: `oifname "wan" snat to ${wanIp} persistent`,
    pre: `iifname "wan" meta l4proto udp dnat to ${host}`,
  }),
  // Port-restricted cone: Linux keeps the port if it can, admits only replies, and re-maps a port when both
  // sides punch at once (so STUN alone often fails).
  'port-restricted': () => ({ post: 'oifname "wan" masquerade' }),
  // Symmetric: a new random public port for every destination. Only TURN gets through.
  symmetric: () => ({ post: 'oifname "wan" masquerade fully-random' }),
  // A firewall that lets only TCP leave the home (UDP is dropped both ways).
  'tcp-only': () => ({ post: 'oifname "wan" masquerade', forward: 'meta l4proto udp drop' }),
};

const sh = (cmd, args, input) => {
  try {
    return execFileSync(cmd, args, { input, stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] })
      .toString();
  } catch (err) {
    throw new Error(`${cmd} ${args.join(' ')}: ${String(err.stderr ?? err.message).trim()}`);
  }
};
const inNs = (ns, cmd, ...args) => sh('ip', ['netns', 'exec', ns, cmd, ...args]);

// Builds the network: the internet namespace and one home per entry of `homes` ({ name: kind }), or two
// machines in one home when `sameHome` names it. Returns the controls.
export function up({ homes, loss = 0 }) {
  if (process.getuid?.() !== 0) throw new Error('the NAT test network needs root (network namespaces)');
  const prefix = `pl${process.pid % 100000}`;
  const created = [];
  const ns = (name) => `${prefix}-${name}`;
  const add = (name) => {
    sh('ip', ['netns', 'add', ns(name)]);
    created.push(ns(name));
    inNs(ns(name), 'ip', 'link', 'set', 'lo', 'up');
    return ns(name);
  };
  try {
    const inet = add('inet');
    inNs(inet, 'ip', 'link', 'add', 'br0', 'type', 'bridge');
    inNs(inet, 'ip', 'addr', 'add', `${RELAY_IP}/24`, 'dev', 'br0');
    inNs(inet, 'ip', 'addr', 'add', `${TURN_IP}/24`, 'dev', 'br0');
    inNs(inet, 'ip', 'link', 'set', 'br0', 'up');
    const homeNs = {};
    Object.entries(homes).forEach(([name, kind], i) => {
      const n = i + 1;
      const router = add(`rt-${name}`);
      const home = add(`home-${name}`);
      const wanIp = `203.0.113.${10 + n}`;
      const lan = process.env.SAME_SUBNET ? '10.0.0' : `10.${n}.0`;
      const host = `${lan}.2`;
      // router ── internet
      sh('ip', ['link', 'add', 'wan', 'netns', router, 'type', 'veth', 'peer', 'name', `w-${name}`, 'netns', inet]);
      inNs(inet, 'ip', 'link', 'set', `w-${name}`, 'master', 'br0', 'up');
      inNs(router, 'ip', 'addr', 'add', `${wanIp}/24`, 'dev', 'wan');
      inNs(router, 'ip', 'link', 'set', 'wan', 'up');
      // router ── home
      sh('ip', ['link', 'add', 'lan', 'netns', router, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', home]);
      inNs(router, 'ip', 'addr', 'add', `${lan}.1/24`, 'dev', 'lan');
      inNs(router, 'ip', 'link', 'set', 'lan', 'up');
      inNs(home, 'ip', 'addr', 'add', `${host}/24`, 'dev', 'eth0');
      inNs(home, 'ip', 'link', 'set', 'eth0', 'up');
      inNs(home, 'ip', 'route', 'add', 'default', 'via', `${lan}.1`);
      inNs(router, 'sysctl', '-qw', 'net.ipv4.ip_forward=1');
      const rules = ROUTERS[kind]({ wanIp, host });
      if (!rules) throw new Error(`unknown router kind ${kind}`);
      // `linkcut` is empty until the home's link is cut; `loss` drops a share of what crosses the router.
      const ruleset = `
table ip peerlab {
  chain linkcut { type filter hook forward priority -10; policy accept; }
  chain forward_filter {
    type filter hook forward priority 0; policy accept;
    ${rules.forward ?? ''}
    ${loss > 0 ? `numgen random mod 100 < ${loss} drop` : ''}
  }
  chain nat_out {
    type nat hook postrouting priority 100;
    ${rules.post}
  }
  chain nat_in {
    type nat hook prerouting priority -100;
    ${rules.pre ?? ''}
  }
}`;
      sh('ip', ['netns', 'exec', router, 'nft', '-f', '-'], ruleset);
      homeNs[name] = { ns: home, router, kind, host, wanIp };
    });
    return {
      prefix,
      inet,
      homes: homeNs,
      // Cuts the home off the internet (nothing crosses its router either way) until `restore`.
      cut(name) {
        inNs(homeNs[name].router, 'nft', 'add', 'rule', 'ip', 'peerlab', 'linkcut', 'drop');
      },
      restore(name) {
        inNs(homeNs[name].router, 'nft', 'flush', 'chain', 'ip', 'peerlab', 'linkcut');
      },
      down() {
        for (const name of created.reverse()) {
          try { sh('ip', ['netns', 'del', name]); } catch { /* already gone */ }
        }
        created.length = 0;
      },
    };
  } catch (err) {
    for (const name of created.reverse()) {
      try { sh('ip', ['netns', 'del', name]); } catch { /* already gone */ }
    }
    throw err;
  }
}

// Starts a program inside a namespace; returns the child and its log lines.
export function startIn(nsName, cmd, args, env = {}) {
  const child = spawn('ip', ['netns', 'exec', nsName, cmd, ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const log = [];
  child.stdout.on('data', (d) => log.push(String(d)));
  child.stderr.on('data', (d) => log.push(String(d)));
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 3_000);
    await exited;
    clearTimeout(timer);
  };
  return { child, log, stop };
}

// Waits until `url` answers inside `nsName` (the test process itself is outside every namespace).
export async function waitHttp(nsName, url, ms = 20_000) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    try {
      inNs(nsName, 'curl', '-fsS', '-o', '/dev/null', '--max-time', '1', url);
      return;
    } catch { /* not yet */ }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${url} did not answer within ${ms} ms`);
}

// A two-line executable that starts Chromium inside a home namespace: Playwright starts it as the browser
// and talks to it over the pipe it inherits, across the namespace.
export function chromiumWrapper(nsName) {
  const dir = mkdtempSync(join(tmpdir(), 'peerlab-ns-'));
  const path = join(dir, 'chromium');
  const bin = process.env.CHROME_BIN ?? '/usr/lib/chromium/chromium';
  writeFileSync(path, `#!/bin/sh\nexec ip netns exec ${nsName} ${bin} "$@"\n`);
  chmodSync(path, 0o755);
  return { path, remove: () => rmSync(dir, { recursive: true, force: true }) };
}
