/**
 * Micro-benchmark (not a test): NG bencode of a typical `offer` as Kamailio's rtpengine module
 * sends it (about 1 KB of SDP), and its validation into a typed request.
 *
 *   node --import jiti/register bench/ng-bencode.ts [iterations]
 */
import { decodeBencode, encodeBencode } from '../modules/media-relay/ng/bencode.ts';
import { parseNgRequest } from '../modules/media-relay/ng/messages.ts';

const sdp = [
  'v=0',
  'o=- 3608552143 3608552143 IN IP4 192.0.2.10',
  's=pjmedia',
  'b=AS:84',
  't=0 0',
  'a=X-nat:0',
  'm=audio 4004 RTP/AVP 96 97 98 99 3 0 8 9 120 121 122',
  'c=IN IP4 192.0.2.10',
  'b=TIAS:64000',
  'a=rtcp:4005 IN IP4 192.0.2.10',
  'a=sendrecv',
  'a=rtpmap:96 speex/16000',
  'a=rtpmap:97 speex/8000',
  'a=rtpmap:98 speex/32000',
  'a=rtpmap:99 iLBC/8000',
  'a=fmtp:99 mode=30',
  'a=rtpmap:3 GSM/8000',
  'a=rtpmap:0 PCMU/8000',
  'a=rtpmap:8 PCMA/8000',
  'a=rtpmap:9 G722/8000',
  'a=rtpmap:120 telephone-event/16000',
  'a=fmtp:120 0-16',
  'a=rtpmap:121 telephone-event/8000',
  'a=fmtp:121 0-16',
  'a=rtpmap:122 telephone-event/32000',
  'a=fmtp:122 0-16',
  'a=ssrc:1189115753 cname:5d0e1b3c2f1a4e0b',
  'a=ptime:20',
  'm=video 4006 RTP/AVP 97',
  'c=IN IP4 192.0.2.10',
  'a=rtpmap:97 H264/90000',
  'a=fmtp:97 profile-level-id=42e01f;packetization-mode=1',
  'a=rtcp-fb:97 nack pli',
  'a=rtcp-fb:97 ccm fir',
  'a=rtcp-fb:97 goog-remb',
  'a=extmap:2 urn:ietf:params:rtp-hdrext:toffset',
  'a=extmap:3 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time',
  'a=ssrc:3735928559 cname:5d0e1b3c2f1a4e0b',
  'a=ssrc:3735928559 msid:stream0 video0',
  'a=sendrecv',
  '',
].join('\r\n');

const offer = {
  supports: ['load limit'],
  sdp,
  flags: ['trust-address', 'symmetric'],
  replace: ['origin', 'session-connection'],
  ICE: 'remove',
  direction: ['internal', 'external'],
  'transport-protocol': 'RTP/AVP',
  'received-from': ['IP4', '192.0.2.10'],
  'call-id': '6ae2dc740a674b848a61a4282b010f53',
  'via-branch': 'z9hG4bKPj4095355134a04ab5bae50ca1d4c7b60b',
  'from-tag': 'f80e4ea8efaf487691f2aaffffe4b55a',
  command: 'offer',
  'sip-message-type': 'sip_request',
};

const iterations = Number(process.argv[2] ?? 200_000);
const encoded = encodeBencode(offer);
if (!encoded.ok) throw new Error(encoded.error.message);
const bytes = encoded.bytes;

/** CPU time per call (user + system), which a busy machine disturbs less than wall time. */
function measure(name: string, fn: () => unknown): void {
  for (let i = 0; i < Math.min(20_000, iterations); i++) fn();
  const start = process.cpuUsage();
  for (let i = 0; i < iterations; i++) fn();
  const used = process.cpuUsage(start);
  console.log(`${name.padEnd(28)} ${((used.user + used.system) / iterations).toFixed(2)} µs`);
}

console.log(`offer: ${bytes.length} bytes (${Buffer.byteLength(sdp)} of SDP), ${iterations} iterations`);
measure('encode', () => encodeBencode(offer));
measure('decode', () => decodeBencode(bytes));
measure('decode + validate', () => {
  const d = decodeBencode(bytes);
  if (!d.ok || !parseNgRequest(d.value).ok) throw new Error('the offer did not validate');
});
