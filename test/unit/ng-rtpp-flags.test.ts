import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { type BencodeInputObject, type BencodeValue, decodeBencode, encodeBencode } from '../../modules/media-relay/ng/bencode.ts';
import { type NgRequest, parseNgRequest } from '../../modules/media-relay/ng/messages.ts';
import { parseRtppFlags } from '../../modules/media-relay/ng/rtpp-flags.ts';

const SDP = 'v=0\r\nc=IN IP4 192.0.2.1\r\nm=audio 4000 RTP/AVP 0\r\n';

function plain(v: BencodeValue): unknown {
  if (Buffer.isBuffer(v)) return v.toString();
  if (v instanceof Map) return Object.fromEntries([...v].map(([k, x]) => [k, plain(x)]));
  if (Array.isArray(v)) return v.map(plain);
  return v;
}

function request(dict: BencodeInputObject): NgRequest {
  const e = encodeBencode(dict);
  assert.ok(e.ok);
  const d = decodeBencode(e.bytes);
  assert.ok(d.ok);
  const r = parseNgRequest(d.value);
  if (!r.ok) throw new Error(r.reason);
  return r.request;
}

test('words, key=value pairs, lists and dictionaries in brackets, transport words, internal/external', () => {
  const r = parseRtppFlags('  replace-origin ICE=remove trust-address RTP/AVP via-branch=auto-next direction=priv external codec=[transcode=[PCMA PCMU] strip=[EVS]] SDES=[off]  ');
  assert.ok(r.ok);
  assert.deepEqual(r.value.flags, ['replace-origin', 'trust-address']);
  assert.deepEqual(r.value.entries.map(([k, v]) => [k, plain(v)]), [
    ['ICE', 'remove'],
    ['via-branch', 'auto-next'],
    ['direction', 'priv'],
    ['direction', 'external'],
    ['codec', { transcode: ['PCMA', 'PCMU'], strip: ['EVS'] }],
    ['SDES', ['off']],
    ['transport-protocol', 'RTP/AVP'],
  ]);
});

test('transport bits combine as rtpengine combines them', () => {
  const transport = (s: string): unknown => {
    const r = parseRtppFlags(s);
    assert.ok(r.ok);
    const e = r.value.entries.find(([k]) => k === 'transport-protocol');
    return e === undefined ? undefined : plain(e[1]);
  };
  assert.equal(transport('RTP SRTP AVPF'), 'RTP/SAVPF');
  assert.equal(transport('DTLS AVPF'), 'UDP/TLS/RTP/SAVPF');
  assert.equal(transport('SRTP'), 'RTP/SAVP');
  assert.equal(transport('RTP/AVPF'), 'RTP/AVPF');
  assert.equal(transport('trust-address'), undefined);
});

test('malformed rtpp-flags are refused with a reason', () => {
  for (const s of ['codec=[a b', 'x=[a=b c]', 'x=[a b=c]', `x=${'['.repeat(20)}${']'.repeat(20)}`, '=x', ']', 'x=[=y]']) {
    const r = parseRtppFlags(s);
    assert.equal(r.ok, false, s);
  }
});

test('an offer whose flags come in rtpp-flags reads as one with dictionary keys', () => {
  const r = request({
    command: 'offer', 'call-id': 'c1', 'from-tag': 'f1', sdp: SDP,
    'rtpp-flags': 'replace-origin replace-session-connection ICE=remove trust-address RTP/AVP received-from=192.0.2.10 direction=priv direction=pub label=callee SDES-off rtcp-mux-demux',
  });
  assert.ok(r.command === 'offer');
  assert.deepEqual([...r.replace], ['origin', 'session-connection']);
  assert.equal(r.ice, 'remove');
  assert.ok(r.flags.has('trust-address'));
  assert.equal(r.transportProtocol, 'RTP/AVP');
  assert.deepEqual(r.receivedFrom, { family: 'IP4', address: '192.0.2.10' });
  assert.deepEqual(r.direction, ['priv', 'pub']);
  assert.equal(r.label, 'callee');
  assert.deepEqual(r.sdes, ['off']);
  assert.deepEqual([...r.rtcpMux], ['demux']);
  assert.equal(r.options.has('rtpp-flags'), false);
});

test('dictionary and rtpp-flags together: lists add up, the dictionary wins for the rest', () => {
  const r = request({
    command: 'offer', 'call-id': 'c1', 'from-tag': 'f1', sdp: SDP,
    flags: ['symmetric'], replace: ['origin'], ICE: 'force',
    'rtpp-flags': 'trust-address replace-session-connection ICE=remove to-tag=t9',
  });
  assert.ok(r.command === 'offer');
  assert.deepEqual([...r.flags].sort(), ['replace-session-connection', 'symmetric', 'trust-address']);
  assert.deepEqual([...r.replace].sort(), ['origin', 'session-connection']);
  assert.equal(r.ice, 'force');
  assert.equal(r.toTag, 't9', 'a key the dictionary leaves out comes from rtpp-flags');
});

test('rtpp-flags on other commands; a malformed one is an NG error', () => {
  const d = request({ command: 'delete', 'call-id': 'c1', 'rtpp-flags': 'fatal from-tag=f2' });
  assert.ok(d.command === 'delete' && d.flags.has('fatal') && d.fromTag === 'f2');
  const e = encodeBencode({ command: 'offer', 'call-id': 'c', 'from-tag': 'f', sdp: SDP, 'rtpp-flags': 'codec=[PCMA' });
  assert.ok(e.ok);
  const dec = decodeBencode(e.bytes);
  assert.ok(dec.ok);
  const bad = parseNgRequest(dec.value);
  assert.ok(!bad.ok && /bracket/.test(bad.reason));
  const typed = decodeBencode(Buffer.from('d7:command4:ping10:rtpp-flagsi1ee'));
  assert.ok(typed.ok);
  assert.deepEqual(parseNgRequest(typed.value), { ok: false, reason: '"rtpp-flags" must be a string' });
});

test('any string parses or is refused, never throws', () => {
  const alphabet = fc.constantFrom(...'[]= ab-/RTP'.split(''));
  fc.assert(fc.property(fc.oneof(fc.string({ maxLength: 80 }), fc.array(alphabet, { maxLength: 80 }).map((a) => a.join(''))), (s) => {
    const r = parseRtppFlags(s);
    assert.ok(r.ok || r.reason.startsWith('rtpp-flags'));
  }), { numRuns: 3000 });
});
