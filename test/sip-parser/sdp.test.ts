import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  addAttribute, formatSdp, getAttributes, getConnection, getRtcp, hasAttribute, parseSdp, removeAttribute,
  sdpToBuffer, setConnectionAddress, setMediaFormats, setMediaPort, setOriginAddress, setRtcp, type Sdp,
} from '../../core/dialects/sip/codec/sdp.ts';
import { parseSip } from '../../core/dialects/sip/codec/parse.ts';
import { serializeSip } from '../../core/dialects/sip/codec/serialize.ts';
import * as F from './fixtures.ts';

function parsed(text: string): Sdp {
  const r = parseSdp(text);
  if (!r.ok) assert.fail(r.reason);
  assert.equal(formatSdp(r.sdp), text, 'round trip');
  return r.sdp;
}

const IPV4 = F.sdpCrlf([
  'v=0',
  'o=- 3608552143 3608552143 IN IP4 10.0.0.2',
  's=pjmedia',
  'c=IN IP4 10.0.0.2',
  't=0 0',
  'a=X-nat:0',
  'm=audio 4004 RTP/AVP 18 96',
  'a=rtcp:4005 IN IP4 10.0.0.2',
  'a=rtpmap:18 G729/8000',
  'a=fmtp:18 annexb=no',
  'a=sendrecv',
  'a=rtpmap:96 telephone-event/8000',
  'a=fmtp:96 0-15',
]);

const WEBRTC = [
  'v=0',
  'o=- 4611731400430051336 2 IN IP4 127.0.0.1',
  's=-',
  't=0 0',
  'a=group:BUNDLE 0 1',
  'a=msid-semantic: WMS',
  'm=audio 9 UDP/TLS/RTP/SAVPF 111 0 8',
  'c=IN IP4 0.0.0.0',
  'a=rtcp:9 IN IP4 0.0.0.0',
  'a=ice-ufrag:F7gI',
  'a=ice-pwd:x9cml/YzichV2+XlhiMu8g',
  'a=candidate:1 1 udp 2122260223 192.0.2.10 54400 typ host generation 0',
  'a=candidate:2 1 udp 1686052607 203.0.113.5 54400 typ srflx raddr 192.0.2.10 rport 54400 generation 0',
  'a=fingerprint:sha-256 49:66:12:17:0D:1C:91:AE:57:4C:C6:36:DD:D5:97:D2:7D:62:C9:9A:7F:B9:A3:F4:70:03:E7:43:91:73:23:5E',
  'a=setup:actpass',
  'a=mid:0',
  'a=sendrecv',
  'a=rtcp-mux',
  'a=rtpmap:111 opus/48000/2',
  'a=rtpmap:0 PCMU/8000',
  'a=rtpmap:8 PCMA/8000',
  'm=video 0 UDP/TLS/RTP/SAVPF 96',
  'c=IN IP4 0.0.0.0',
  'a=mid:1',
  'a=inactive',
  'a=rtpmap:96 VP8/90000',
  '',
].join('\n');

test('IPv4 SDP with a=rtcp', () => {
  const s = parsed(IPV4);
  assert.equal(s.eol, '\r\n');
  assert.equal(s.media.length, 1);
  const m = s.media[0];
  assert.ok(m !== undefined);
  assert.equal(m.media, 'audio');
  assert.equal(m.port, 4004);
  assert.equal(m.portCount, undefined);
  assert.equal(m.proto, 'RTP/AVP');
  assert.deepEqual(m.formats, ['18', '96']);
  assert.deepEqual(getConnection(s, 0), { netType: 'IN', addrType: 'IP4', address: '10.0.0.2' });
  assert.deepEqual(getRtcp(s, 0), { port: 4005, connection: { netType: 'IN', addrType: 'IP4', address: '10.0.0.2' } });
  assert.deepEqual(getAttributes(s, 'session', 'X-nat'), ['0']);
  assert.deepEqual(getAttributes(s, 0, 'rtpmap'), ['18 G729/8000', '96 telephone-event/8000']);
  assert.equal(hasAttribute(s, 0, 'sendrecv'), true);
});

test('relay rewrite: connection address, port, a=rtcp', () => {
  const s = parsed(IPV4);
  setConnectionAddress(s, '203.0.113.9');
  setOriginAddress(s, '203.0.113.9');
  setMediaPort(s, 0, 30000);
  setRtcp(s, 0, 30001, '203.0.113.9');
  const out = formatSdp(s);
  assert.equal(out, IPV4
    .replace('IN IP4 10.0.0.2\r\ns=', 'IN IP4 203.0.113.9\r\ns=')
    .replace('c=IN IP4 10.0.0.2', 'c=IN IP4 203.0.113.9')
    .replace('m=audio 4004', 'm=audio 30000')
    .replace('a=rtcp:4005 IN IP4 10.0.0.2', 'a=rtcp:30001 IN IP4 203.0.113.9'));
  // switching to IPv6 changes the addrtype too
  setConnectionAddress(s, '2001:db8::7');
  assert.deepEqual(getConnection(s, 0), { netType: 'IN', addrType: 'IP6', address: '2001:db8::7' });
  assert.ok(parseSdp(formatSdp(s)).ok);
});

test('IPv6 SDP with multiple m= lines (RFC 5118 §4.6 style)', () => {
  const s = parsed(F.IPV6_SDP);
  assert.equal(s.media.length, 2);
  assert.deepEqual(s.media.map((m) => [m.media, m.port, m.formats.join(',')]), [['audio', 6000, '2'], ['video', 6024, '107']]);
  assert.deepEqual(getConnection(s), { netType: 'IN', addrType: 'IP6', address: '2001:db8::20' });
  assert.deepEqual(getConnection(s, 1), getConnection(s));
  setConnectionAddress(s, '192.0.2.50');
  assert.ok(formatSdp(s).includes('\r\nc=IN IP4 192.0.2.50\r\n'));
});

test('WebRTC-style SDP: LF endings, ICE candidates, rtcp-mux, port 0 stream', () => {
  const s = parsed(WEBRTC);
  assert.equal(s.eol, '\n');
  assert.equal(s.media.length, 2);
  const [audio, video] = s.media;
  assert.equal(audio?.proto, 'UDP/TLS/RTP/SAVPF');
  assert.equal(video?.port, 0, 'disabled stream');
  assert.equal(getAttributes(s, 0, 'candidate').length, 2);
  assert.equal(getAttributes(s, 0, 'ice-ufrag')[0], 'F7gI');
  assert.equal(hasAttribute(s, 0, 'rtcp-mux'), true);
  assert.equal(hasAttribute(s, 1, 'rtcp-mux'), false);
  assert.equal(getAttributes(s, 'session', 'group')[0], 'BUNDLE 0 1');

  // a relay strips ICE and rewrites addresses, leaving the port-0 stream at 0
  assert.equal(removeAttribute(s, 0, 'candidate'), 2);
  removeAttribute(s, 0, 'ice-ufrag');
  removeAttribute(s, 0, 'ice-pwd');
  addAttribute(s, 0, 'candidate', '1 1 udp 2130706431 198.51.100.1 40000 typ host');
  setConnectionAddress(s, '198.51.100.1', 0);
  setMediaPort(s, 0, 40000);
  const out = formatSdp(s);
  assert.ok(out.includes('m=audio 40000 UDP/TLS/RTP/SAVPF 111 0 8\nc=IN IP4 198.51.100.1\n'));
  assert.ok(out.endsWith('a=rtpmap:8 PCMA/8000\na=candidate:1 1 udp 2130706431 198.51.100.1 40000 typ host\nm=video 0 UDP/TLS/RTP/SAVPF 96\nc=IN IP4 0.0.0.0\na=mid:1\na=inactive\na=rtpmap:96 VP8/90000\n'));
  assert.ok(!out.includes('ice-ufrag'));
  assert.equal(removeAttribute(s, 0, 'rtcp-mux'), 1);
  assert.equal(removeAttribute(s, 0, 'rtpmap', (v) => v.startsWith('0 ')), 1);
  setMediaFormats(s, 0, ['111', '8']);
  assert.equal(s.media[0]?.lines[0]?.value, 'audio 40000 UDP/TLS/RTP/SAVPF 111 8');
});

test('setRtcp adds a=rtcp when missing; c= is inserted in the right place', () => {
  const s = parsed(F.TORTURE_SDP);
  setRtcp(s, 0, 49218);
  assert.deepEqual(getRtcp(s, 0), { port: 49218, connection: undefined });
  setConnectionAddress(s, '192.0.2.99', 1);
  const out = formatSdp(s);
  assert.ok(out.endsWith('m=audio 49217 RTP/AVP 0 12\r\na=rtcp:49218\r\nm=video 3227 RTP/AVP 31\r\nc=IN IP4 192.0.2.99\r\na=rtpmap:31 LPC\r\n'));
  // an SDP with only media-level c= lines and no session c= at all
  const noSessionC = parsed(F.sdpCrlf(['v=0', 'o=- 1 1 IN IP4 192.0.2.1', 's=-', 't=0 0', 'b=AS:64', 'm=audio 5004 RTP/AVP 0', 'c=IN IP4 192.0.2.1']));
  setConnectionAddress(noSessionC, '192.0.2.2', 'session');
  assert.equal(formatSdp(noSessionC), F.sdpCrlf(['v=0', 'o=- 1 1 IN IP4 192.0.2.1', 's=-', 'c=IN IP4 192.0.2.2', 't=0 0', 'b=AS:64', 'm=audio 5004 RTP/AVP 0', 'c=IN IP4 192.0.2.1']));
  setConnectionAddress(noSessionC, '192.0.2.3');
  assert.equal(formatSdp(noSessionC).split('192.0.2.3').length, 3);
});

test('SDP from a SIP body; rewrite and re-serialize the message', () => {
  const r = parseSip(F.RFC3261_F1_INVITE);
  assert.ok(r.ok);
  const s = parsed(r.msg.body.toString());
  setConnectionAddress(s, '198.51.100.20');
  setMediaPort(s, 0, 20000);
  r.msg.body = sdpToBuffer(s);
  const out = serializeSip(r.msg);
  const again = parseSip(out, { stream: true });
  assert.ok(again.ok);
  assert.ok(again.msg.body.toString().includes('m=audio 20000 RTP/AVP 0'));
});

test('malformed or truncated SDP gives ok:false, never throws', () => {
  const bad = [
    '',
    'x',
    'o=- 1 1 IN IP4 1.2.3.4\r\n',
    'v=1\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nt=0 0\r\n',
    'v=0\r\ns=-\r\nt=0 0\r\n',
    'v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nc=IN IP4 1.2.3.4\r\nt=0 0\r\nm=audio 4',
    'v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nc=IN IP4\r\nt=0 0\r\n',
    'v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n',
    'v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nc=IN IP4 1.2.3.4\r\nt=0 0\r\nm=audio 99999 RTP/AVP 0\r\n',
    'v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nc=IN IP4 1.2.3.4\r\nt=0 0\r\nm=audio 4000/0 RTP/AVP 0\r\n',
    'v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nc=IN IP4 1.2.3.4\r\nt=0 0\r\nfoo\r\n',
    'v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nc=IN IP4 1.2.3.4\r\nt=0 0\r\nA=x\r\n',
    'v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nc=IN IP4 1.2.3.4\r\nt=0 0\n',
    'v=0\no=- 1 1 IN IP4 1.2.3.4\ns=-\nc=IN IP4 1.2.3.4\r\nt=0 0\n',
    'v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\n\r\ns=-\r\nt=0 0\r\n',
  ];
  for (const b of bad) {
    const r = parseSdp(b);
    assert.equal(r.ok, false, JSON.stringify(b));
    if (!r.ok) assert.ok(r.reason.length > 0);
  }
  // truncation of a valid SDP at every line boundary before the mandatory lines are complete
  const full = IPV4;
  for (const cut of ['v=0\r\n', 'v=0\r\no=- 3608552143 3608552143 IN IP4 10.0.0.2\r\n', 'v=0\r\no=- 3608552143 3608552143 IN IP4 10.0.0.2\r\ns=pjmedia\r\nc=IN IP4 10.0.0.2\r\n']) {
    assert.ok(full.startsWith(cut));
    assert.equal(parseSdp(cut).ok, false);
  }
  for (let n = 0; n < full.length; n++) parseSdp(full.slice(0, n)); // must not throw
  // trailing empty line and missing final terminator are preserved
  parsed(IPV4 + '\r\n');
  parsed(IPV4.slice(0, -2));
});
