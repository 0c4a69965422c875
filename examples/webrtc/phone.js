// A browser SIP phone on SIP.js's SimpleUser: registers over WebSocket, calls and answers.
// Query: ?server=ws://host:port&user=alice[&domain=host][&relayOnly=1]
import { Web } from './sip.js/index.js';

const q = new URLSearchParams(location.search);
const server = q.get('server') ?? `ws://${location.hostname}:8080`;
const user = q.get('user') ?? 'alice';
const domain = q.get('domain') ?? new URL(server).hostname;
const log = (line) => { document.getElementById('log').textContent += `${new Date().toISOString().slice(11, 23)} ${line}\n`; events.push(line); };
const events = [];

// relayOnly (for tests): announce no candidate of our own, so the media can only go through the
// relay candidate the proxy adds. SIP.js sends the description as gathered, so it is read through this.
if (q.get('relayOnly') === '1') {
  const own = Object.getOwnPropertyDescriptor(RTCPeerConnection.prototype, 'localDescription');
  Object.defineProperty(RTCPeerConnection.prototype, 'localDescription', {
    get() {
      const d = own.get.call(this);
      return d && { type: d.type, sdp: d.sdp.split('\r\n').filter((l) => !l.startsWith('a=candidate:')).join('\r\n') };
    },
  });
}

const phone = new Web.SimpleUser(server, {
  aor: `sip:${user}@${domain}`,
  media: { constraints: { audio: true, video: false }, remote: { audio: document.getElementById('remote') } },
  userAgentOptions: { displayName: user, logBuiltinEnabled: q.get('debug') === '1', sessionDescriptionHandlerFactoryOptions: { iceGatheringTimeout: 2000 } },
  delegate: {
    onCallReceived: () => { log('incoming call'); document.getElementById('answer').disabled = false; },
    onCallAnswered: () => log('answered'),
    onCallHangup: () => log('hung up'),
    onRegistered: () => log('registered'),
  },
});

document.getElementById('me').textContent = user;
document.getElementById('server').textContent = server;
document.getElementById('call').onclick = () => window.phone.call(document.getElementById('target').value);
document.getElementById('answer').onclick = () => window.phone.answer();
document.getElementById('hangup').onclick = () => window.phone.hangup();

/** What a test (or the console) drives. */
window.phone = {
  events,
  async start() { await phone.connect(); await phone.register(); },
  call: (target) => phone.call(`sip:${target}@${domain}`),
  answer: () => phone.answer(),
  hangup: () => phone.hangup(),
  /** The description the other side sent (the relay's, when the relay converts the media). */
  remoteSdp: () => phone.session?.sessionDescriptionHandler?.peerConnection?.remoteDescription?.sdp ?? null,
  /** Inbound audio bytes and the selected candidate pair's remote address, from getStats(). */
  async stats() {
    const pc = phone.session?.sessionDescriptionHandler?.peerConnection;
    if (!pc) return null;
    const report = await pc.getStats();
    let bytes = 0; let pairId = null; const byId = new Map();
    report.forEach((s) => {
      byId.set(s.id, s);
      if (s.type === 'inbound-rtp' && s.kind === 'audio') bytes += s.bytesReceived;
      if (s.type === 'transport' && s.selectedCandidatePairId) pairId = s.selectedCandidatePairId;
    });
    const pair = pairId ? byId.get(pairId) : null;
    const remote = pair ? byId.get(pair.remoteCandidateId) : null;
    return { bytes, remote: remote ? `${remote.address ?? remote.ip}:${remote.port}` : null };
  },
};
window.phone.start().then(() => log('ready'), (e) => log(`failed: ${e.message}`));
