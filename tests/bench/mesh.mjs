// Benchmark (not a test): how long a mesh call of N pages takes to come up — from the last join until every
// page has N−1 connected peers with remote video frames decoded — through the room page, beside a plain-JS
// mesh of the same size measured in the same run, same browser, same relay, same camera constraints.
// Prints one line per run and the medians; docs/BENCHMARKS.md keeps them.
//
// The plain-JS mesh is the smallest correct one: getUserMedia, one RTCPeerConnection per member with the
// camera and microphone tracks, MDN's perfect-negotiation pattern, and the relay's own protocol for the
// signals (join, welcome, signal). The newcomer creates a connection to every member in its welcome, as the
// app does. The app does more per connection (two data channels, bitrate caps, stats, level meters).
//
// Usage (inside the loopback namespace; scripts/bench-mesh.sh does it all):
//   node tests/bench/mesh.mjs [sizes=2,4,6] [runs=3]
// To compare builds of the app (single runs at N = 6 scatter by a factor of two on a shared 2-core machine,
// so a change needs several interleaved runs): MESH_COMPARE=distA,distB[,...] runs each `trunk build
// --dist` directory on a relay of its own, in rotating order with the plain mesh, and reports each.
import { launch } from '../e2e/browser.mjs';
import { startRelay } from '../e2e/relay.mjs';

const SIZES = (process.argv[2] ?? '2,4,6').split(',').map(Number);
const RUNS = Number(process.argv[3] ?? 3);
const VIDEO = { width: 320, height: 240, frameRate: 15 };
const WAIT = 120_000;

// One relay per app build compared (the first also serves the plain mesh's page).
const DISTS = (process.env.MESH_COMPARE ?? '').split(',').filter(Boolean);
const relays = [];
for (const dist of DISTS.length ? DISTS : [null]) {
  if (dist) process.env.PEERLAB_DIST = dist;
  relays.push(await startRelay());
}
const KINDS = DISTS.length
  ? [...DISTS.map((dist, i) => ({ label: dist, app: true, base: relays[i].base })), { label: 'plain', app: false, base: relays[0].base }]
  : [{ label: 'app', app: true, base: relays[0].base }, { label: 'plain', app: false, base: relays[0].base }];
const browser = await launch();
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const unique = (name) => `${name}-${Math.random().toString(36).slice(2, 7)}`;

// Resolves (in the page) with Date.now() at the first moment `ready()` holds, polled every 10 ms.
function installWaiter(page, readyBody) {
  return page.evaluate((body) => {
    // eslint-disable-next-line no-new-func
    const ready = new Function('n', body);
    window.__ready = (n) => new Promise((resolve, reject) => {
      const deadline = Date.now() + 120_000;
      const timer = setInterval(() => {
        let ok = false;
        try { ok = ready(n); } catch (e) { /* not yet */ }
        if (ok) { clearInterval(timer); resolve(Date.now()); }
        else if (Date.now() > deadline) { clearInterval(timer); reject(new Error('mesh never came up')); }
      }, 10);
    });
  }, readyBody);
}

// A video element has a decoded frame: the same test for both meshes.
const FRAME = 'v && v.readyState >= 2 && v.videoWidth > 0';

// ---- the app: /room/NAME with the page's own camera preview and name; joined by its "Join call" button.
const APP_READY = `
  const tiles = [...document.querySelectorAll('[data-testid="tile"][data-self="false"]')];
  return tiles.length === n - 1 && tiles.every((t) => {
    const v = t.querySelector('[data-testid="tile-video"]');
    return t.dataset.connection === 'connected' && ${FRAME};
  });`;

async function appPage(base, room, name) {
  const context = await browser.newContext();
  await context.addInitScript(MARK_CONNECTIONS);
  const page = await context.newPage();
  const { width, height, frameRate } = VIDEO;
  await page.goto(`${base}/room/${room}?video=${width}x${height}@${frameRate}`);
  await page.locator('[data-testid="room-preview"][data-live="true"]').waitFor({ timeout: WAIT });
  await page.getByLabel('Your name').fill(name);
  await installWaiter(page, APP_READY);
  const join = () => page.evaluate(() => {
    const button = [...document.querySelectorAll('button')].find((b) => b.textContent.trim() === 'Join call');
    button.click();
    return Date.now();
  });
  return { context, page, join };
}

// ---- plain JS, on a page of the relay's origin that runs no app (/healthz), so only this code runs.
const PLAIN_READY = `
  const peers = [...window.__mesh.peers.values()];
  return peers.length === n - 1 && peers.every((p) => {
    const v = p.video;
    return p.pc.connectionState === 'connected' && ${FRAME};
  });`;

async function plainPage(base, room, name) {
  const context = await browser.newContext();
  await context.addInitScript(MARK_CONNECTIONS);
  const page = await context.newPage();
  await page.goto(`${base}/healthz`);
  await page.evaluate(async ({ room, name, video }) => {
    const stream = await navigator.mediaDevices.getUserMedia({ audio: true, video });
    // The same picture as the room page: this page's camera and every member's video in a grid that fills
    // the window, so both pay the same decoding, scaling and compositing.
    document.body.innerHTML = '';
    document.body.style.cssText = 'margin:0;display:grid;gap:4px;height:100vh;background:#111';
    const layout = () => {
      const count = document.body.children.length;
      const columns = Math.ceil(Math.sqrt(count));
      document.body.style.gridTemplateColumns = `repeat(${columns}, minmax(0, 1fr))`;
      document.body.style.gridTemplateRows = `repeat(${Math.ceil(count / columns)}, minmax(0, 1fr))`;
    };
    // Remote videos play their sound, as in a call (the room page's tiles do); the own one is muted.
    const tile = (source) => {
      const v = document.createElement('video');
      v.autoplay = true;
      v.muted = Boolean(source);
      v.playsInline = true;
      v.style.cssText = 'width:100%;height:100%;object-fit:cover;background:#000';
      if (source) v.srcObject = source;
      document.body.append(v);
      layout();
      return v;
    };
    tile(stream);
    const ws = new WebSocket(`ws://${location.host}/ws`);
    const peers = new Map();
    let me = null;
    window.__mesh = { peers, ws };
    const send = (to, payload) => ws.send(JSON.stringify({ type: 'signal', to, payload }));
    const peer = (id) => {
      if (peers.has(id)) return peers.get(id);
      const pc = new RTCPeerConnection();
      const video = tile(null);
      const p = { pc, video, polite: me < id, makingOffer: false, ignoreOffer: false };
      peers.set(id, p);
      pc.ontrack = ({ streams: [remote] }) => { if (remote && video.srcObject !== remote) video.srcObject = remote; };
      pc.onicecandidate = ({ candidate }) => { if (candidate) send(id, { candidate }); };
      pc.onnegotiationneeded = async () => {
        try {
          p.makingOffer = true;
          await pc.setLocalDescription();
          send(id, { description: pc.localDescription });
        } catch (e) {
          console.error(e);
        } finally {
          p.makingOffer = false;
        }
      };
      for (const track of stream.getTracks()) pc.addTrack(track, stream);
      return p;
    };
    ws.onmessage = async ({ data }) => {
      const m = JSON.parse(data);
      if (m.type === 'welcome') {
        me = m.peer_id;
        for (const member of m.members) peer(member.id);
      } else if (m.type === 'member_left') {
        const p = peers.get(m.id);
        if (p) { p.pc.close(); p.video.srcObject = null; p.video.remove(); peers.delete(m.id); layout(); }
      } else if (m.type === 'signal') {
        const p = peer(m.from);
        const { description, candidate } = m.payload;
        try {
          if (description) {
            const collision = description.type === 'offer' && (p.makingOffer || p.pc.signalingState !== 'stable');
            p.ignoreOffer = !p.polite && collision;
            if (p.ignoreOffer) return;
            await p.pc.setRemoteDescription(description);
            if (description.type === 'offer') {
              await p.pc.setLocalDescription();
              send(m.from, { description: p.pc.localDescription });
            }
          } else if (candidate) {
            try { await p.pc.addIceCandidate(candidate); } catch (e) { if (!p.ignoreOffer) throw e; }
          }
        } catch (e) {
          console.error(e);
        }
      }
    };
    await new Promise((resolve, reject) => { ws.onopen = resolve; ws.onerror = reject; });
    window.__join = () => {
      ws.send(JSON.stringify({ type: 'join', version: 1, name, room }));
      return Date.now();
    };
  }, { room, name, video: VIDEO });
  await installWaiter(page, PLAIN_READY);
  return { context, page, join: () => page.evaluate(() => window.__join()) };
}

// In every page: the moment each peer connection first reports `connected`, for the per-connection median
// (steadier than the slowest page, which the figure is).
const MARK_CONNECTIONS = () => {
  const Native = window.RTCPeerConnection;
  window.__connected = [];
  window.RTCPeerConnection = function (...args) {
    const pc = new Native(...args);
    const mark = () => {
      if (pc.connectionState !== 'connected') return;
      window.__connected.push(Date.now());
      pc.removeEventListener('connectionstatechange', mark);
    };
    pc.addEventListener('connectionstatechange', mark);
    return pc;
  };
  window.RTCPeerConnection.prototype = Native.prototype;
};

// One call of `n` pages: every page is set up first (not timed), then all join at once; the figure runs
// from the last join to the moment the last page has its whole mesh with video. Also returns the median
// connection's time to `connected` from the same moment.
async function run(kind, n) {
  const room = unique(`bench-${kind.app ? 'app' : 'plain'}-${n}`);
  const open = kind.app ? appPage : plainPage;
  const pages = [];
  try {
    for (let i = 0; i < n; i++) pages.push(await open(kind.base, room, `p${i}`));
    const readies = pages.map((p) => p.page.evaluate((n) => window.__ready(n), n));
    const joined = await Promise.all(pages.map((p) => p.join()));
    const ready = await Promise.all(readies);
    const start = Math.max(...joined);
    const connected = [];
    for (const p of pages) connected.push(...(await p.page.evaluate(() => window.__connected)));
    return { ms: Math.max(...ready) - start, connection: median(connected.map((t) => t - start)) };
  } finally {
    for (const p of pages) await p.context.close().catch(() => {});
  }
}

const results = [];
try {
  for (const n of SIZES) {
    const times = new Map(KINDS.map((k) => [k.label, []]));
    const connections = new Map(KINDS.map((k) => [k.label, []]));
    for (let r = 1; r <= RUNS; r++) {
      // Rotate which goes first, so none always runs on a warmer machine.
      const order = KINDS.map((_, i) => KINDS[(i + r + 1) % KINDS.length]);
      for (const kind of order) {
        const { ms, connection } = await run(kind, n);
        times.get(kind.label).push(ms);
        connections.get(kind.label).push(connection);
        console.log(`N=${n} run ${r} ${kind.label.padEnd(5)} ${ms} ms (median connection ${connection} ms)`);
      }
    }
    const plain = median(times.get('plain'));
    for (const kind of KINDS) {
      const t = times.get(kind.label);
      results.push({ n, label: kind.label, runs: t, median: median(t), connection: median(connections.get(kind.label)), plain });
    }
    console.log(`N=${n} medians: ${KINDS.map((k) => `${k.label} ${median(times.get(k.label))} ms`).join(', ')}`);
  }
} finally {
  await browser.close();
  for (const relay of relays) await relay.stop();
}
console.log('\n| N | build | runs | median | median connection | / plain JS |');
console.log('|---:|---|---|---:|---:|---:|');
for (const r of results) {
  console.log(`| ${r.n} | ${r.label} | ${r.runs.join(' / ')} ms | **${r.median} ms** | ${r.connection} ms | ${(r.median / r.plain).toFixed(2)} |`);
}
