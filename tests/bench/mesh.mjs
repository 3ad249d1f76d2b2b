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
// Switches that look inside (none changes the figure): MESH_TRACE=1 (milestones per step, CPU per thread),
// MESH_DUMP=1 (with MESH_TRACE: every page's milestones in order), MESH_SYNC=1, MESH_PROFILE=1 (or =cpu),
// MESH_CHROME_TRACE=1 (MESH_TRACE_FILE=prefix keeps each trace, MESH_TRACE_CATEGORIES=a,b adds trace
// categories), MESH_STEADY_MS=ms, MESH_PERF=1 (under `perf record --switch-output=signal`).
// MESH_PLAIN_CHANNELS=K and MESH_PLAIN_BUNDLE=max-bundle add a second plain mesh with K negotiated data
// channels per connection (and that bundle policy); MESH_PLAIN_BURN=ms[,ms] adds a plain mesh whose pages
// do that many ms of work on their main thread per relay message. MESH_LOBBY_MS=ms (1500 unless set) is how long every
// page waits in the lobby before the joins, as a person would; 0 joins at once (the wait changes the figure:
// the window the browsers' own start-up work falls in; docs/bench-log/2026-12-05-mesh-round-11.md). PEERLAB_CHROME_ARGS
// adds Chromium flags (tests/e2e/browser.mjs). A copy of a build made by scripts/count-imports.mjs adds,
// with MESH_TRACE=1, how often the WebAssembly called each browser function per page.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
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
// Say what each relay serves, so a comparison can be checked to compare what it claims to.
for (const relay of relays) console.log(`relay ${relay.base} serves ${relay.dist}`);
// MESH_PLAIN_CHANNELS=2 adds a second plain mesh whose connections also open that many negotiated data
// channels (as the app's do: chat and control), to measure what they cost on their own.
// MESH_PLAIN_BUNDLE=max-bundle gives that second mesh the app's bundle policy too.
const PLAIN_CHANNELS = Number(process.env.MESH_PLAIN_CHANNELS ?? 0);
// MESH_LOBBY_MS=T: every page waits T ms between being set up and the join (a person in the lobby). The
// browser windows just opened finish their own start-up meanwhile, which otherwise lands on the set-up of
// both meshes alike.
const LOBBY_MS = Number(process.env.MESH_LOBBY_MS ?? 1500);
const PLAIN_BUNDLE = process.env.MESH_PLAIN_BUNDLE ?? null;
// MESH_PLAIN_BURN=a,b adds a plain mesh per value whose pages do that many ms of work (CPU, as measured
// on the page before the join) on every relay message (the welcome too): the price of main-thread CPU per page at this size, for comparing
// with the app's extra (docs/bench-log/2026-12-05-mesh-round-12.md).
const PLAIN_BURN = (process.env.MESH_PLAIN_BURN ?? '').split(',').filter(Boolean).map(Number);
const KINDS = [
  ...(DISTS.length
    ? DISTS.map((dist, i) => ({ label: dist, app: true, base: relays[i].base }))
    : [{ label: 'app', app: true, base: relays[0].base }]),
  { label: 'plain', app: false, base: relays[0].base, channels: 0 },
  ...(PLAIN_CHANNELS > 0
    ? [{ label: `plain+${PLAIN_CHANNELS}dc${PLAIN_BUNDLE ? `+${PLAIN_BUNDLE}` : ''}`, app: false, base: relays[0].base, channels: PLAIN_CHANNELS, bundle: PLAIN_BUNDLE }]
    : []),
  ...PLAIN_BURN.map((ms) => ({ label: `plain+${ms}ms/msg`, app: false, base: relays[0].base, channels: 0, burn: ms })),
];
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
  if (TRACE) await context.addInitScript(TRACE_SCRIPT);
  if (SYNC) await context.addInitScript(SYNC_SCRIPT);
  const page = await context.newPage();
  const { width, height, frameRate } = VIDEO;
  await page.goto(`${base}/room/${room}?video=${width}x${height}@${frameRate}`);
  await page.locator('[data-testid="room-preview"][data-live="true"]').waitFor({ timeout: WAIT });
  await page.getByLabel('Your name').fill(name);
  await installWaiter(page, APP_READY);
  if (LOBBY_MS) await page.waitForTimeout(LOBBY_MS);
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

async function plainPage(base, room, name, channels = 0, bundle = null, burn = 0) {
  const context = await browser.newContext();
  await context.addInitScript(MARK_CONNECTIONS);
  if (TRACE) await context.addInitScript(TRACE_SCRIPT);
  if (SYNC) await context.addInitScript(SYNC_SCRIPT);
  const page = await context.newPage();
  await page.goto(`${base}/healthz`);
  await page.evaluate(async ({ room, name, video, channels, bundle, burn }) => {
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
    // MESH_PLAIN_BURN: a fixed amount of work per message, not a wall-time wait (a thread that waits for a
    // core would spin for less CPU). Calibrated here as the fastest of twenty 5 ms trials.
    let perMs = 0;
    let sink = 0;
    const work = (rounds) => { for (let r = 0; r < rounds; r++) for (let i = 0; i < 100; i++) sink += Math.sqrt(i + r); };
    if (burn) {
      for (let trial = 0; trial < 20; trial++) {
        const t0 = performance.now();
        let rounds = 0;
        while (performance.now() - t0 < 5) { work(10); rounds += 10; }
        perMs = Math.max(perMs, rounds / (performance.now() - t0));
      }
    }
    const spin = (ms) => { work(Math.round(perMs * ms)); window.__sink = sink; };
    const ws = new WebSocket(`ws://${location.host}/ws`);
    const peers = new Map();
    let me = null;
    window.__mesh = { peers, ws };
    const send = (to, payload) => ws.send(JSON.stringify({ type: 'signal', to, payload }));
    const peer = (id) => {
      if (peers.has(id)) return peers.get(id);
      const pc = new RTCPeerConnection(bundle ? { bundlePolicy: bundle } : undefined);
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
      p.channels = Array.from({ length: channels }, (_, i) => pc.createDataChannel(`dc${i}`, { negotiated: true, id: i }));
      return p;
    };
    ws.onmessage = async ({ data }) => {
      const m = JSON.parse(data);
      if (burn) spin(burn);
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
  }, { room, name, video: VIDEO, channels, bundle, burn });
  await installWaiter(page, PLAIN_READY);
  if (LOBBY_MS) await page.waitForTimeout(LOBBY_MS);
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

// With MESH_TRACE=1, every page also records when each step of the set-up happened (relay socket, welcome,
// each description and candidate sent and received, each peer connection's browser calls and state
// changes), and the benchmark prints, per build, the median time of each step from the last join: where
// one build falls behind the other shows as the first step whose median grows.
const TRACE = process.env.MESH_TRACE === '1' || Boolean(process.env.MESH_STEADY_MS) || process.env.MESH_SYNC === '1';
// With MESH_SYNC=1, every method and property of the WebRTC and media objects the pages use is timed
// while it runs (not its promise): the synchronous calls hold the main thread until the browser's WebRTC
// threads answer, and the benchmark prints each one's time per page after the join.
const SYNC = process.env.MESH_SYNC === '1';
const SYNC_SCRIPT = () => {
  const spent = (window.__sync = new Map());
  const add = (name, ms) => {
    if (!window.__joinedAt) return;
    const entry = spent.get(name) ?? [0, 0];
    entry[0] += ms;
    entry[1] += 1;
    spent.set(name, entry);
  };
  const timed = (name, f) => function (...args) {
    const t = performance.now();
    try { return f.apply(this, args); } finally { add(name, performance.now() - t); }
  };
  for (const type of ['RTCPeerConnection', 'RTCRtpSender', 'RTCRtpReceiver', 'RTCRtpTransceiver', 'RTCDataChannel',
    'MediaStream', 'MediaStreamTrack', 'HTMLMediaElement', 'RTCSessionDescription', 'RTCIceCandidate', 'WebSocket', 'AudioContext', 'BaseAudioContext', 'AnalyserNode']) {
    const proto = window[type]?.prototype;
    if (!proto) continue;
    for (const key of Object.getOwnPropertyNames(proto)) {
      if (key === 'constructor') continue;
      const d = Object.getOwnPropertyDescriptor(proto, key);
      if (!d.configurable) continue;
      if (typeof d.value === 'function') {
        Object.defineProperty(proto, key, { ...d, value: timed(`${type}.${key}()`, d.value) });
      } else if (d.get || d.set) {
        Object.defineProperty(proto, key, {
          ...d,
          get: d.get && timed(`${type}.${key}`, d.get),
          set: d.set && timed(`${type}.${key}=`, d.set),
        });
      }
    }
  }
  const Native = window.RTCPeerConnection;
  const Timed = function (...args) {
    const t = performance.now();
    try { return new Native(...args); } finally { add('new RTCPeerConnection', performance.now() - t); }
  };
  Timed.prototype = Native.prototype;
  window.RTCPeerConnection = Timed;
};
// With MESH_STEADY_MS=T, after each call is up (and 2 s more), the CPU every Chromium thread used in T ms.
const STEADY = Number(process.env.MESH_STEADY_MS ?? 0);
const TRACE_SCRIPT = () => {
  const marks = (window.__trace = []);
  const mark = (what) => marks.push([Date.now(), what]);
  const kindOf = (payload) => {
    if (!payload) return '?';
    if (payload.kind) return payload.kind === 'description' ? (payload.type ?? 'description') : payload.kind;
    if (payload.description) return payload.description.type;
    if (payload.candidate) return 'candidate';
    return '?';
  };
  const NativeSocket = window.WebSocket;
  const Socket = function (...args) {
    const ws = new NativeSocket(...args);
    mark('socket created');
    ws.addEventListener('open', () => mark('socket open'));
    ws.addEventListener('message', ({ data }) => {
      try {
        const m = JSON.parse(data);
        if (m.type === 'welcome') mark('welcome received');
        else if (m.type === 'signal') mark(`${kindOf(m.payload)} received`);
      } catch (e) { /* not JSON */ }
    });
    const send = ws.send.bind(ws);
    ws.send = (data) => {
      try {
        const m = JSON.parse(data);
        if (m.type === 'join') mark('join sent');
        else if (m.type === 'signal') mark(`${kindOf(m.payload)} sent`);
      } catch (e) { /* not JSON */ }
      return send(data);
    };
    return ws;
  };
  Socket.prototype = NativeSocket.prototype;
  for (const k of ['CONNECTING', 'OPEN', 'CLOSING', 'CLOSED']) Socket[k] = NativeSocket[k];
  window.WebSocket = Socket;
  const proto = window.RTCPeerConnection.prototype;
  for (const method of ['setLocalDescription', 'setRemoteDescription', 'addIceCandidate']) {
    const native = proto[method];
    proto[method] = function (...args) {
      const label = method === 'setLocalDescription' || method === 'setRemoteDescription'
        ? `${method}(${args[0]?.type ?? ''})` : method;
      mark(`${label} called`);
      const result = native.apply(this, args);
      if (result && result.then) result.then(() => mark(`${label} done`), () => mark(`${label} failed`));
      return result;
    };
  }
  const Native = window.RTCPeerConnection;
  const Traced = function (...args) {
    const pc = new Native(...args);
    mark('peer connection created');
    pc.addEventListener('iceconnectionstatechange', () => mark(`ice ${pc.iceConnectionState}`));
    pc.addEventListener('connectionstatechange', () => mark(`connection ${pc.connectionState}`));
    pc.addEventListener('track', ({ track }) => {
      mark('track');
      track.addEventListener('unmute', () => mark(`${track.kind} track unmuted`), { once: true });
    });
    return pc;
  };
  Traced.prototype = Native.prototype;
  window.RTCPeerConnection = Traced;
  // How much of the page changes, and how long the main thread is blocked, from the join on: every DOM
  // mutation counted by the nearest element with a test id (or class), and every long task.
  window.__mutations = new Map();
  window.__longTasks = [];
  const region = (node) => {
    const el = node.nodeType === 1 ? node : node.parentElement;
    const owner = el && el.closest('[data-testid]');
    return owner ? owner.dataset.testid : (el?.className || el?.tagName || '?');
  };
  // A remote video's first frame, as the player reports it (own preview excluded: it plays before the join).
  document.addEventListener('loadeddata', ({ target }) => {
    if (window.__joinedAt && !target.muted) mark('video loadeddata');
  }, true);
  const observe = () => {
    new MutationObserver((records) => {
      if (!window.__joinedAt) return;
      for (const r of records) {
        const key = `${region(r.target)} ${r.type}`;
        window.__mutations.set(key, (window.__mutations.get(key) ?? 0) + 1);
      }
    }).observe(document, { subtree: true, childList: true, attributes: true, characterData: true });
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) if (window.__joinedAt) window.__longTasks.push(e.duration);
    }).observe({ type: 'longtask' });
  };
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', observe); else observe();
};

// CPU time (ms) of every Chromium thread on the machine, keyed by process type and thread name, from
// /proc; the difference of two snapshots says where the cores went during a call's set-up.
function chromiumCpu() {
  const ticks = new Map();
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    let type;
    try {
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      if (!cmdline.includes('chromium')) continue;
      type = (cmdline.match(/--type=([a-z-]+)/) ?? [null, 'browser'])[1];
      if (type === 'utility') type = `utility ${(cmdline.match(/--utility-sub-type=([\w.]+)/) ?? [null, '?'])[1].split('.').pop()}`;
    } catch (e) { continue; }
    let tasks = [];
    try { tasks = readdirSync(`/proc/${pid}/task`); } catch (e) { continue; }
    for (const tid of tasks) {
      try {
        const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
        const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')).replace(/\d+$/, '#');
        const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        const key = `${type}: ${name}`;
        ticks.set(key, (ticks.get(key) ?? 0) + (Number(fields[11]) + Number(fields[12])) * 10);
      } catch (e) { /* thread gone */ }
    }
  }
  return ticks;
}

// With MESH_CHROME_TRACE=1, each run's set-up is recorded with Chromium's tracing (devtools.timeline), and
// the pages' main threads are summed up: wall and CPU time of their tasks, and the event kinds that took
// the most wall time (self time, children subtracted).
const CHROME_TRACE = process.env.MESH_CHROME_TRACE === '1';
// MESH_TRACE_CATEGORIES=a,b adds trace categories (for example v8.wasm) to MESH_CHROME_TRACE's.
const TRACE_CATEGORIES = (process.env.MESH_TRACE_CATEGORIES ?? '').split(',').filter(Boolean);
// With MESH_PROFILE=1, V8's sampling profiler runs in every page from the join until its mesh is up, and
// the benchmark prints the functions with the most self time per page (wall time: a function blocked in a
// synchronous browser call is sampled too). Build the app with names (index.html's rust link:
// `data-keep-debug data-wasm-opt-params="-g"`) to see Rust function names.
// MESH_PROFILE=cpu counts samples instead (0.5 ms each): V8's sampler signals the thread, and a thread that
// waits for a core takes one pending signal when it runs again, so the count follows CPU time, not wall.
const PROFILE = process.env.MESH_PROFILE === '1' || process.env.MESH_PROFILE === 'cpu';
const PROFILE_CPU = process.env.MESH_PROFILE === 'cpu';
function selfTimes(profile, into, inclusive) {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parent = new Map();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const name = (f) => `${f.functionName || '(anonymous)'} ${f.url.split('/').pop()}`;
  profile.samples.forEach((id, i) => {
    const ms = PROFILE_CPU ? 0.5 : (profile.timeDeltas[i] ?? 0) / 1000;
    const key = name(byId.get(id).callFrame);
    into.set(key, (into.get(key) ?? 0) + ms);
    // Every function on the sampled stack, once.
    const seen = new Set();
    for (let at = id; at !== undefined; at = parent.get(at)) {
      const k = name(byId.get(at).callFrame);
      if (seen.has(k)) continue;
      seen.add(k);
      inclusive.set(k, (inclusive.get(k) ?? 0) + ms);
    }
  });
}
function mainThreads(buffer) {
  const { traceEvents } = JSON.parse(buffer.toString());
  const names = new Map();
  for (const e of traceEvents) if (e.ph === 'M' && e.name === 'thread_name') names.set(`${e.pid}:${e.tid}`, e.args.name);
  const threads = new Map();
  for (const e of traceEvents) {
    const key = `${e.pid}:${e.tid}`;
    if (e.ph !== 'X' || names.get(key) !== 'CrRendererMain') continue;
    if (!threads.has(key)) threads.set(key, []);
    threads.get(key).push(e);
  }
  const summary = { threads: 0, wall: 0, cpu: 0, self: new Map(), selfCpu: new Map() };
  for (const events of threads.values()) {
    const tasks = events.filter((e) => e.name === 'ThreadControllerImpl::RunTask');
    const wall = tasks.reduce((a, e) => a + e.dur, 0) / 1000;
    if (wall < 100) continue; // a renderer with no page of the call
    summary.threads += 1;
    summary.tasks = (summary.tasks ?? 0) + tasks.length;
    summary.wall += wall;
    summary.cpu += tasks.reduce((a, e) => a + (e.tdur ?? 0), 0) / 1000;
    events.sort((a, b) => a.ts - b.ts || b.dur - a.dur);
    const stack = [];
    for (const e of events) {
      while (stack.length && stack.at(-1).ts + stack.at(-1).dur <= e.ts) stack.pop();
      if (stack.length) {
        stack.at(-1).children = (stack.at(-1).children ?? 0) + e.dur;
        stack.at(-1).childrenCpu = (stack.at(-1).childrenCpu ?? 0) + (e.tdur ?? 0);
      }
      stack.push(e);
    }
    // Each task by the kind of work that took most of it (its longest direct child).
    const kinds = (summary.kinds ??= new Map());
    const children = new Map();
    const open = [];
    for (const e of events) {
      while (open.length && open.at(-1).ts + open.at(-1).dur <= e.ts) open.pop();
      if (open.length && open.at(-1).name === 'ThreadControllerImpl::RunTask') {
        const parent = open.at(-1);
        const best = children.get(parent);
        if (!best || best.dur < e.dur) children.set(parent, e);
      }
      open.push(e);
    }
    for (const task of tasks) {
      const child = children.get(task);
      const key = child ? child.name : '(no child)';
      const k = kinds.get(key) ?? { count: 0, wall: 0, cpu: 0, long: 0 };
      k.count += 1;
      k.wall += task.dur / 1000;
      k.cpu += (task.tdur ?? 0) / 1000;
      if (task.dur > 50_000) k.long += 1;
      kinds.set(key, k);
    }
    for (const e of events) {
      summary.self.set(e.name, (summary.self.get(e.name) ?? 0) + (e.dur - (e.children ?? 0)) / 1000);
      summary.selfCpu.set(e.name, (summary.selfCpu.get(e.name) ?? 0) + ((e.tdur ?? 0) - (e.childrenCpu ?? 0)) / 1000);
    }
  }
  return summary;
}

// One call of `n` pages: every page is set up first (not timed), then all join at once; the figure runs
// from the last join to the moment the last page has its whole mesh with video. Also returns the median
// connection's time to `connected` from the same moment.
async function run(kind, n) {
  const room = unique(`bench-${kind.app ? 'app' : 'plain'}-${n}`);
  const open = kind.app ? appPage : plainPage;
  const pages = [];
  try {
    for (let i = 0; i < n; i++) pages.push(await open(kind.base, room, `p${i}`, kind.channels, kind.bundle, kind.burn));
    if (TRACE) for (const p of pages) await p.page.evaluate(() => { window.__joinedAt = Date.now(); });
    const readies = pages.map((p) => p.page.evaluate((n) => window.__ready(n), n));
    if (CHROME_TRACE) {
      await browser.startTracing(undefined, { categories: ['devtools.timeline', 'toplevel', ...TRACE_CATEGORIES] });
    }
    const sessions = [];
    if (PROFILE) {
      for (const p of pages) {
        const session = await p.context.newCDPSession(p.page);
        await session.send('Profiler.enable');
        await session.send('Profiler.setSamplingInterval', { interval: 500 });
        await session.send('Profiler.start');
        sessions.push(session);
      }
    }
    const before = TRACE ? chromiumCpu() : null;
    // MESH_PERF=1 under `perf record --switch-output=signal -- node …`: perf starts a new file at the join
    // and at the end of the set-up, so one file holds the set-up alone.
    if (process.env.MESH_PERF === '1') process.kill(process.ppid, 'SIGUSR2');
    const joined = await Promise.all(pages.map((p) => p.join()));
    const ready = await Promise.all(readies);
    if (process.env.MESH_PERF === '1') process.kill(process.ppid, 'SIGUSR2');
    const after = TRACE ? chromiumCpu() : null;
    if (PROFILE) {
      const self = new Map();
      const inclusive = new Map();
      for (const session of sessions) selfTimes((await session.send('Profiler.stop')).profile, self, inclusive);
      // The `count` entries of `times` with the most ms (those `keep` accepts), per page, one a line.
      const show = (title, times, count, keep = () => true) => {
        const top = [...times.entries()].filter(([k]) => keep(k)).sort((a, b) => b[1] - a[1]).slice(0, count);
        console.log(`  ${kind.label} profile, ${title}:\n${top.map(([k, v]) => `    ${(v / pages.length).toFixed(1).padStart(7)}  ${k}`).join('\n')}`);
      };
      show('self ms per page', self, 30);
      show('inclusive ms per page', inclusive, 60);
      // MESH_PROFILE_MATCH=regex: every function whose name matches, inclusive.
      if (process.env.MESH_PROFILE_MATCH) {
        const re = new RegExp(process.env.MESH_PROFILE_MATCH);
        show('matching, inclusive ms per page', inclusive, 60, (k) => re.test(k));
      }
      show('WebAssembly self ms per page', self, 40, (k) => /\.wasm$/.test(k));
      // Self time by where the code lives: the WebAssembly, the glue and other scripts, or the browser.
      const where = new Map();
      for (const [k, v] of self) {
        const kindOf = /\.wasm$/.test(k) ? 'WebAssembly' : /\.js$/.test(k) ? 'script' : /^\(/.test(k) ? k.split(' ')[0] : 'browser functions called from script';
        where.set(kindOf, (where.get(kindOf) ?? 0) + v);
      }
      console.log(`  ${kind.label} profile, self ms per page by kind: ${[...where.entries()].sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${(v / pages.length).toFixed(1)}`).join(', ')}`);
    }
    if (CHROME_TRACE) {
      const buffer = await browser.stopTracing();
      // MESH_TRACE_FILE=prefix keeps each run's trace (prefix-LABEL-N-RUN.json) for a closer look.
      if (process.env.MESH_TRACE_FILE) {
        writeFileSync(`${process.env.MESH_TRACE_FILE}-${kind.label.replace(/\W+/g, '_')}-${n}-${Date.now()}.json`, buffer);
      }
      const m = mainThreads(buffer);
      const top = [...m.self.entries()].sort((a, b) => b[1] - a[1]).slice(0, 8);
      const topCpu = [...m.selfCpu.entries()].sort((a, b) => b[1] - a[1]).slice(0, 10);
      console.log(`  ${kind.label}: ${m.threads} main threads, tasks ${Math.round(m.wall / m.threads)} ms wall / ${Math.round(m.cpu / m.threads)} ms CPU per page in ${Math.round(m.tasks / m.threads)} tasks; most wall (per page): ${top.map(([k, v]) => `${k} ${Math.round(v / m.threads)}`).join(', ')}`);
      const kinds = [...m.kinds.entries()].sort((a, b) => b[1].wall - a[1].wall).slice(0, 10);
      console.log(`    tasks by kind (per page: count, long, wall ms, CPU ms): ${kinds.map(([k, v]) => `${k} ${Math.round(v.count / m.threads)}/${Math.round(v.long / m.threads)}/${Math.round(v.wall / m.threads)}/${Math.round(v.cpu / m.threads)}`).join(', ')}`);
      console.log(`    most CPU (per page): ${topCpu.map(([k, v]) => `${k} ${Math.round(v / m.threads)}`).join(', ')}`);
    }
    const start = Math.max(...joined);
    const connected = [];
    const steps = new Map();
    for (const p of pages) {
      connected.push(...(await p.page.evaluate(() => window.__connected)));
      if (!TRACE) continue;
      // Each step's every occurrence after the last join, in this page and the others.
      const { mutations, longTasks } = await p.page.evaluate(() => ({
        mutations: [...window.__mutations.entries()],
        longTasks: window.__longTasks,
      }));
      if (SYNC) {
        for (const [name, [ms, count]] of await p.page.evaluate(() => [...window.__sync.entries()])) {
          if (ms < 5) continue;
          for (const [key, value] of [[`sync ms per page: ${name}`, Math.round(ms)], [`sync calls per page: ${name}`, count]]) {
            if (!steps.has(key)) steps.set(key, []);
            steps.get(key).push(value);
          }
        }
      }
      // A build whose glue counts its imports (scripts/count-imports.mjs) leaves how often the WebAssembly
      // called each browser function after the join in `window.__wbgCounts`.
      for (const [name, count] of await p.page.evaluate(() => [...(window.__wbgCounts ?? new Map()).entries()])) {
        const key = `imports per page: ${name}`;
        if (!steps.has(key)) steps.set(key, []);
        steps.get(key).push(count);
      }
      for (const [what, count] of mutations) {
        const key = `DOM: ${what}`;
        if (!steps.has(key)) steps.set(key, []);
        steps.get(key).push(count);
      }
      const blocked = `main thread: long tasks, ms per page`;
      if (!steps.has(blocked)) steps.set(blocked, []);
      steps.get(blocked).push(Math.round(longTasks.reduce((a, b) => a + b, 0)));
      for (const [t, what] of await p.page.evaluate(() => window.__trace)) {
        if (t < start - 5_000) continue;
        if (!steps.has(what)) steps.set(what, []);
        steps.get(what).push(t - start);
      }
    }
    if (STEADY) {
      // The call's running cost: CPU ms per thread kind over STEADY ms once every page has its mesh.
      await new Promise((resolve) => setTimeout(resolve, 2_000));
      const from = chromiumCpu();
      await new Promise((resolve) => setTimeout(resolve, STEADY));
      let total = 0;
      for (const [key, ms] of chromiumCpu()) {
        const used = ms - (from.get(key) ?? 0);
        total += used;
        if (used >= 50) steps.set(`steady CPU ms: ${key}`, [used]);
      }
      steps.set('steady CPU ms: all Chromium threads', [total]);
    }
    if (TRACE) {
      // CPU ms per thread kind over the whole set-up (all pages together), as a one-element list per run.
      for (const [key, ms] of after) {
        const used = ms - (before.get(key) ?? 0);
        if (used >= 50) steps.set(`CPU ms: ${key}`, [used]);
      }
    }
    const pagesReady = ready.map((t) => t - start);
    if (TRACE) {
      // The slowest page's own milestones, to see which connection held it back.
      const slowest = pages[ready.indexOf(Math.max(...ready))];
      const marks = (await slowest.page.evaluate(() => window.__trace))
        .filter(([t, what]) => t >= start - 5_000 && /connection connected|ice connected|video track unmuted|loadeddata|setRemoteDescription\(answer\) done|setRemoteDescription\(offer\) done/.test(what))
        .map(([t, what]) => `${t - start} ${what}`);
      console.log(`  slowest page (p${ready.indexOf(Math.max(...ready))}): ${marks.join('; ')}`);
      // MESH_DUMP=1: every page's milestones in order, to follow one connection from both ends.
      if (process.env.MESH_DUMP === '1') {
        for (const [i, p] of pages.entries()) {
          const all = (await p.page.evaluate(() => window.__trace))
            .filter(([t]) => t >= start - 50)
            .map(([t, what]) => `${t - start} ${what}`);
          console.log(`  p${i}: ${all.join('; ')}`);
          const videos = await p.page.evaluate(() => [...document.querySelectorAll('video')]
            .map((v) => `${v.muted ? 'muted' : 'sound'} ${v.paused ? 'paused' : 'playing'} ${v.readyState}`));
          console.log(`  p${i} videos: ${videos.join(', ')}`);
        }
      }
    }
    return { ms: Math.max(...ready) - start, connection: median(connected.map((t) => t - start)), steps, pagesReady };
  } finally {
    for (const p of pages) await p.context.close().catch(() => {});
  }
}

const results = [];
const traces = new Map();
try {
  for (const n of SIZES) {
    const times = new Map(KINDS.map((k) => [k.label, []]));
    const connections = new Map(KINDS.map((k) => [k.label, []]));
    for (let r = 1; r <= RUNS; r++) {
      // Rotate which goes first, so none always runs on a warmer machine.
      const order = KINDS.map((_, i) => KINDS[(i + r + 1) % KINDS.length]);
      for (const kind of order) {
        const { ms, connection, steps, pagesReady } = await run(kind, n);
        if (TRACE) {
          if (!traces.has(kind.label)) traces.set(kind.label, new Map());
          for (const [what, ts] of steps) {
            const all = traces.get(kind.label);
            if (!all.has(what)) all.set(what, []);
            all.get(what).push(...ts);
          }
        }
        times.get(kind.label).push(ms);
        connections.get(kind.label).push(connection);
        console.log(`N=${n} run ${r} ${kind.label.padEnd(5)} ${ms} ms (median connection ${connection} ms; pages p0… ready at ${pagesReady.join(', ')} ms)`);
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
if (TRACE) {
  // Per step, over every run of each build: the median of its occurrences and how many there were.
  const labels = [...traces.keys()];
  const rows = new Map();
  for (const label of labels) {
    for (const [what, ts] of traces.get(label)) {
      if (!rows.has(what)) rows.set(what, {});
      rows.get(what)[label] = ts;
    }
  }
  const sorted = [...rows.entries()].sort(([, a], [, b]) => median(Object.values(a)[0]) - median(Object.values(b)[0]));
  console.log(`\n| step (ms after the last join: median, count) | ${labels.join(' | ')} |`);
  console.log(`|---|${labels.map(() => '---:').join('|')}|`);
  for (const [what, byLabel] of sorted) {
    console.log(`| ${what} | ${labels.map((l) => (byLabel[l] ? `${median(byLabel[l])} (${byLabel[l].length})` : '—')).join(' | ')} |`);
  }
}
console.log('\n| N | build | runs | median | median connection | / plain JS |');
console.log('|---:|---|---|---:|---:|---:|');
for (const r of results) {
  console.log(`| ${r.n} | ${r.label} | ${r.runs.join(' / ')} ms | **${r.median} ms** | ${r.connection} ms | ${(r.median / r.plain).toFixed(2)} |`);
}
