// The smallest correct plain-JS data channel over the same relay, for the benchmark beside the app: a page
// of the relay's origin opens the WebSocket, joins a room, and the side that starts makes one
// RTCPeerConnection with the relay's ICE servers (bundlePolicy max-bundle, as the app), trickling candidates
// through `signal`. Text goes over one channel; a file over a second one, with the same chunk size and
// flow-control thresholds as the app (src/chat/transfer.rs).

// In a page of the relay's origin (any URL of it that is not the app: /peerlab.json): joins `room` and keeps
// what the relay says; resolves with the page's own id.
export async function plainJoin(page, room, name) {
  return page.evaluate(async ([room, name]) => {
    const ws = new WebSocket(`ws://${location.host}/ws`);
    const plain = (window.__plain = { ws, welcome: null, pc: null, inbox: [], handlers: [] });
    plain.send = (to, payload) => ws.send(JSON.stringify({ type: 'signal', to, payload }));
    ws.onmessage = ({ data }) => {
      const msg = JSON.parse(data);
      if (msg.type === 'welcome') plain.welcome = msg;
      if (msg.type === 'member_joined') plain.inbox.push(msg);
      if (msg.type === 'signal') plain.onSignal?.(msg.from, msg.payload);
    };
    await new Promise((r, e) => { ws.onopen = r; ws.onerror = e; });
    ws.send(JSON.stringify({ type: 'join', version: 1, name, room }));
    while (!plain.welcome) await new Promise((r) => setTimeout(r, 10));
    return plain.welcome.peer_id;
  }, [room, name]);
}

// Runs in both pages: one RTCPeerConnection towards `other`, made at once by the caller and on the first
// signal by the callee (as the app does). Messages and file bytes that arrive are shown/counted in the page.
export async function plainPeer(page, other, caller) {
  await page.evaluate(([other, caller]) => {
    const plain = window.__plain;
    const receive = (channel) => {
      channel.binaryType = 'arraybuffer';
      if (channel.label === 'chat') {
        plain.chat = channel;
        channel.onmessage = ({ data }) => {
          window.__firstAt ??= Date.now();
          const p = document.createElement('p');
          p.className = 'plain-message';
          p.textContent = data;
          document.body.append(p);
        };
      } else {
        plain.received = 0;
        channel.onmessage = ({ data }) => {
          plain.received += data.byteLength;
          if (plain.received >= plain.expect) plain.done?.();
        };
      }
    };
    const connect = () => {
      const pc = new RTCPeerConnection({ iceServers: plain.welcome.ice_servers, bundlePolicy: 'max-bundle' });
      plain.pc = pc;
      pc.onicecandidate = ({ candidate }) => candidate && plain.send(other, { kind: 'candidate', ...candidate.toJSON() });
      pc.ondatachannel = ({ channel }) => receive(channel);
      return pc;
    };
    plain.onSignal = async (from, p) => {
      const pc = plain.pc ?? connect();
      if (p.kind === 'candidate') {
        await pc.addIceCandidate(p).catch(() => {});
      } else {
        await pc.setRemoteDescription(p);
        if (p.type === 'offer') {
          await pc.setLocalDescription();
          plain.send(other, { kind: 'description', ...pc.localDescription.toJSON() });
        }
      }
    };
    if (caller) {
      window.__connectAt = Date.now();
      const pc = connect();
      plain.chat = pc.createDataChannel('chat');
      pc.onnegotiationneeded = async () => {
        await pc.setLocalDescription();
        plain.send(other, { kind: 'description', ...pc.localDescription.toJSON() });
      };
    }
  }, [other, caller]);
}

// In the caller's page: sends `text` once the chat channel is open.
export async function plainSendText(page, text) {
  await page.evaluate(async (text) => {
    const ch = window.__plain.chat;
    if (ch.readyState !== 'open') await new Promise((r) => ch.addEventListener('open', r, { once: true }));
    ch.send(text);
  }, text);
}

// Sends the file behind `path` from `from` to `to` over a new channel and resolves when every byte arrived.
export async function plainSendFile(from, to, path, size, { chunk = 64 * 1024, high = 1 << 20, low = 256 << 10 } = {}) {
  const arrived = to.evaluate((size) => new Promise((resolve) => {
    window.__plain.expect = size;
    window.__plain.done = resolve;
  }), size);
  await from.evaluate(() => {
    const input = document.createElement('input');
    input.type = 'file';
    input.id = '__plain_file';
    document.body.append(input);
  });
  await from.setInputFiles('#__plain_file', path);
  await from.evaluate(async ([chunk, high, low]) => {
    const file = document.getElementById('__plain_file').files[0];
    const ch = window.__plain.pc.createDataChannel('file', { ordered: true });
    ch.binaryType = 'arraybuffer';
    await new Promise((r) => (ch.onopen = r));
    ch.bufferedAmountLowThreshold = low;
    for (let offset = 0; offset < file.size; offset += chunk) {
      if (ch.bufferedAmount > high) {
        await new Promise((r) => ch.addEventListener('bufferedamountlow', r, { once: true }));
      }
      ch.send(await file.slice(offset, offset + chunk).arrayBuffer());
    }
  }, [chunk, high, low]);
  await arrived;
}
