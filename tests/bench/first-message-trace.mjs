// Benchmark tool (not a test): where the time to the first message goes. Both pages' RTCPeerConnection,
// data-channel and WebSocket calls and events, on one clock (Date.now(): both browsers run on this
// machine), printed in order from the click on the person. docs/BENCHMARKS.md ("Across networks") reads it.
//
// Usage (root, after scripts/bench-paths.sh has built the release app and relay):
//   node tests/bench/first-message-trace.mjs KIND_A KIND_B|same ICE
//   e.g. port-restricted same turn (host path), symmetric symmetric turn (TURN over UDP).
// PLAIN=1 traces the plain-JS data channel instead; HOP=1 first measures five relay hops between the idle
// pages; WARM=1 makes and closes a connection in each page first.
import { scenario, BASE } from '../net/lab.mjs';
import { joinChat, user, openConversation, send } from '../net/flows.mjs';
import { plainJoin, plainPeer, plainSendText } from '../net/plain.mjs';
const [kindA, kindB, ice] = process.argv.slice(2);
const homes = kindB === 'same' ? { a: kindA } : { a: kindA, b: kindB };
const browsers = kindB === 'same' ? ['a', 'a'] : ['a', 'b'];
const s = await scenario({ homes, ice, browsers });
const hook = () => {
  const T = (window.__trace = []);
  const log = (what) => T.push([Date.now(), what]);
  const P = RTCPeerConnection.prototype;
  for (const m of ['setLocalDescription', 'setRemoteDescription', 'addIceCandidate', 'createDataChannel']) {
    const orig = P[m];
    P[m] = function (...a) {
      log(`${m}(${a[0]?.type ?? (a[0]?.candidate ? a[0].candidate.split(' ')[7] : '')}) call`);
      const r = orig.apply(this, a);
      if (r && r.then) r.then(() => log(`${m} done`), (e) => log(`${m} err ${e}`));
      return r;
    };
  }
  const N = window.RTCPeerConnection;
  window.RTCPeerConnection = function (...a) {
    const pc = new N(...a);
    log('new pc');
    for (const e of ['negotiationneeded', 'icecandidate', 'iceconnectionstatechange', 'connectionstatechange', 'icegatheringstatechange'])
      pc.addEventListener(e, (ev) => log(`${e} ${e === 'icecandidate' ? (ev.candidate?.candidate.split(' ')[7] ?? 'end') : (pc.iceConnectionState + '/' + pc.connectionState + '/' + pc.iceGatheringState)}`));
    return pc;
  };
  window.RTCPeerConnection.prototype = N.prototype;
  const D = RTCDataChannel.prototype;
  const send = D.send;
  D.send = function (x) { log(`dc send ${String(x).slice(0, 40)}`); return send.call(this, x); };
  const ae = EventTarget.prototype.addEventListener;
  const WS = window.WebSocket;
  window.WebSocket = function (...a) {
    const ws = new WS(...a);
    window.__ws = ws;
    ws.addEventListener('message', (e) => log(`ws in ${String(e.data).slice(0, 60)}`));
    const s = ws.send; ws.send = (d) => { log(`ws out ${String(d).slice(0, 60)}`); return s.call(ws, d); };
    return ws;
  };
  window.WebSocket.prototype = WS.prototype;
  Object.assign(window.WebSocket, { CONNECTING: 0, OPEN: 1, CLOSING: 2, CLOSED: 3 });
  document.addEventListener('click', () => log('click'), true);
  new MutationObserver(() => { if (document.querySelector('[data-testid="chat-unread"]') && !window.__unread) { window.__unread = 1; log('unread shown'); } })
    .observe(document, { subtree: true, childList: true });
  void ae;
};
try {
  const [a, b] = s.browsers.map((x) => x.browser);
  if (process.env.PLAIN) {
    const [pa, pb] = [await (await a.newContext()).newPage(), await (await b.newContext()).newPage()];
    for (const p of [pa, pb]) await p.goto(`${BASE}/peerlab.json`);
    for (const p of [pa, pb]) await p.evaluate(hook);
    const ia = await plainJoin(pa, 'x', 'A'); const ib = await plainJoin(pb, 'x', 'B');
    await plainPeer(pb, ia, false);
    await pa.evaluate(() => window.__trace.push([Date.now(), 'click']));
    await plainPeer(pa, ib, true); await plainSendText(pa, 'hi');
    await pb.locator('.plain-message').waitFor();
    await pb.evaluate(() => window.__trace.push([Date.now(), 'message shown']));
    const ta = await pa.evaluate(() => window.__trace);
    const tb = await pb.evaluate(() => window.__trace);
    const all = [...ta.map((x) => [...x, 'A']), ...tb.map((x) => [...x, 'B'])].sort((x, y) => x[0] - y[0]);
    const t0 = all.find((x) => x[1] === 'click')[0];
    for (const [t, w, who] of all) console.log(String(t - t0).padStart(5), who, w);
    process.exit(0);
  }
  const ada = await joinChat(a, 'Ada', hook);
  const bob = await joinChat(b, 'Bob', hook);
  for (const p of [ada.page, bob.page]) await p.evaluate(() => { window.__trace.length = 0; });
  await user(ada, bob).waitFor();
  if (process.env.WARM) {
    for (const p of [ada.page, bob.page]) await p.evaluate(() => { const t = performance.now(); new RTCPeerConnection().close(); window.__trace.push([Date.now(), `warm ${performance.now() - t}`]); });
    await new Promise((r) => setTimeout(r, 300));
  }
  if (process.env.HOP) {
    for (let i = 0; i < 5; i++) {
      await ada.page.evaluate((to) => { window.__trace.push([Date.now(), 'hop send']); window.__ws.send(JSON.stringify({ type: 'signal', to, payload: { kind: 'x' } })); }, bob.id);
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  await openConversation(ada, bob);
  await send(ada, 'hello');
  await user(bob, ada).getByTestId('chat-unread').waitFor({ timeout: 60000 });
  await new Promise((r) => setTimeout(r, 300));
  const ta = await ada.page.evaluate(() => window.__trace);
  const tb = await bob.page.evaluate(() => window.__trace);
  const all = [...ta.map((x) => [...x, 'A']), ...tb.map((x) => [...x, 'B'])].sort((x, y) => x[0] - y[0]);
  const t0 = all.find((x) => x[1] === 'click')[0];
  for (const [t, w, who] of all) console.log(String(t - t0).padStart(5), who, w);
} finally { await s.close(); }
