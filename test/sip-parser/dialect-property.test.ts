/**
 * The SIP dialect past the codec, under malformed input: requests and responses the proxy meets
 * (REGISTER with contacts, INVITE with SDP, in-dialog requests with routes, replies), mutated
 * byte by byte and line by line, through the first look (triage), the codec and the model, and
 * what modules read of a message (registration, header values). Nothing may throw; what the
 * dialect answers is a well-formed response.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { carriesRoute, headerValues, registrationOf } from '../../core/dialects/access.ts';
import { parseSip } from '../../core/dialects/sip/codec/parse.ts';
import { createSipDialect } from '../../core/dialects/sip/dialect.ts';
import { SipTriage } from '../../core/dialects/sip/triage.ts';
import type { Inbound } from '../../core/model/message.ts';
import { mutate, mutation } from '../helpers/mutations.ts';

const INBOUND: Inbound = { listener: 'sip:udp:5060', source: { address: '::ffff:192.0.2.10', port: 5062 } };

const word = fc.stringMatching(/^[A-Za-z0-9.!%*_+`'~-]{1,12}$/);
const user = fc.stringMatching(/^[A-Za-z0-9._!~*'()-]{1,12}$/);
const host = fc.oneof(fc.ipV4(), fc.ipV6().map((a) => `[${a}]`), fc.domain());
const port = fc.option(fc.integer({ min: 1, max: 65535 }), { nil: undefined });
const hostport = fc.tuple(host, port).map(([h, p]) => (p === undefined ? h : `${h}:${p}`));
const uri = fc.tuple(fc.option(user, { nil: undefined }), hostport, fc.constantFrom('', ';transport=tcp', ';lr', ';maddr=10.0.0.1', ';ob'))
  .map(([u, hp, params]) => `sip:${u === undefined ? '' : `${u}@`}${hp}${params}`);
const method = fc.constantFrom('INVITE', 'REGISTER', 'OPTIONS', 'BYE', 'CANCEL', 'ACK', 'MESSAGE', 'SUBSCRIBE', 'NOTIFY', 'UPDATE', 'PRACK', 'INFO', 'REFER');

const sdp = fc.tuple(fc.ipV4(), fc.integer({ min: 1024, max: 65534 }), fc.constantFrom('RTP/AVP', 'RTP/SAVPF', 'UDP/TLS/RTP/SAVPF')).map(([ip, p, proto]) =>
  ['v=0', `o=- 1 1 IN IP4 ${ip}`, 's=-', `c=IN IP4 ${ip}`, 't=0 0', `m=audio ${p} ${proto} 0 8`, 'a=rtpmap:0 PCMU/8000', `a=rtcp:${p + 1}`, ''].join('\r\n'));

const request = fc.record({
  method, ruri: uri, via: fc.array(hostport, { minLength: 1, maxLength: 3 }), branch: word, from: uri, to: uri, tag: word, toTag: fc.option(word, { nil: undefined }),
  callId: word, cseq: fc.integer({ min: 0, max: 2 ** 31 - 1 }), maxForwards: fc.option(fc.integer({ min: 0, max: 255 }), { nil: undefined }),
  contacts: fc.array(fc.tuple(uri, fc.option(fc.integer({ min: 0, max: 7200 }), { nil: undefined })), { maxLength: 3 }),
  star: fc.boolean(), expires: fc.option(fc.integer({ min: 0, max: 100_000 }), { nil: undefined }),
  routes: fc.array(uri, { maxLength: 3 }), recordRoutes: fc.array(uri, { maxLength: 2 }), body: fc.option(sdp, { nil: undefined }),
}).map((r) => {
  const lines = [
    `${r.method} ${r.ruri} SIP/2.0`,
    ...r.via.map((v, i) => `Via: SIP/2.0/UDP ${v};branch=z9hG4bK${r.branch}${i}${i === 0 ? ';rport' : ''}`),
    ...(r.maxForwards === undefined ? [] : [`Max-Forwards: ${r.maxForwards}`]),
    `From: <${r.from}>;tag=${r.tag}`, `To: <${r.to}>${r.toTag === undefined ? '' : `;tag=${r.toTag}`}`,
    `Call-ID: ${r.callId}`, `CSeq: ${r.cseq} ${r.method}`,
    ...(r.star ? ['Contact: *'] : r.contacts.map(([c, e]) => `Contact: <${c}>${e === undefined ? '' : `;expires=${e}`}`)),
    ...(r.expires === undefined ? [] : [`Expires: ${r.expires}`]),
    ...r.routes.map((x) => `Route: <${x}>`), ...r.recordRoutes.map((x) => `Record-Route: <${x}>`),
    ...(r.body === undefined ? ['Content-Length: 0'] : ['Content-Type: application/sdp', `Content-Length: ${Buffer.byteLength(r.body)}`]),
  ];
  return Buffer.from(`${lines.join('\r\n')}\r\n\r\n${r.body ?? ''}`, 'latin1');
});

const response = fc.record({
  status: fc.integer({ min: 100, max: 699 }), via: hostport, branch: word, callId: word, cseq: fc.integer({ min: 0, max: 2 ** 31 - 1 }), method, body: fc.option(sdp, { nil: undefined }),
}).map((r) => Buffer.from([
  `SIP/2.0 ${r.status} Whatever`, `Via: SIP/2.0/UDP ${r.via};branch=z9hG4bK${r.branch}`, 'From: <sip:a@example.com>;tag=1', 'To: <sip:b@example.com>;tag=2',
  `Call-ID: ${r.callId}`, `CSeq: ${r.cseq} ${r.method}`, 'Contact: <sip:b@192.0.2.7>',
  ...(r.body === undefined ? ['Content-Length: 0'] : ['Content-Type: application/sdp', `Content-Length: ${Buffer.byteLength(r.body)}`]), '', r.body ?? '',
].join('\r\n'), 'latin1'));

/** Everything the proxy does with a datagram before a route runs, and what modules read of it. */
function exercise(buf: Buffer): void {
  const triage = new SipTriage(() => false);
  const look = triage.look(buf, INBOUND.source);
  const refusal = look.kind === 'new' ? triage.refusal(look, buf, INBOUND.source, 5) : null;
  const out = createSipDialect().parse(buf, INBOUND);
  if (refusal !== null && refusal.length > 0 && out.ok) {
    // Copied from the request's own lines: well formed when the request is (of one that is not, as it was sent).
    const r = parseSip(refusal);
    assert.ok(r.ok && r.msg.type === 'response' && r.msg.status === 503, `the first look's refusal is a 503: ${refusal.toString('latin1')}`);
  }
  if (!out.ok) {
    if (out.answer !== null) {
      // A 400 copies the request's Via, From, To, Call-ID and CSeq as they came: it says what was wrong, it does not amplify, and an ACK gets none.
      const text = out.answer.toString('latin1');
      assert.match(text, /^SIP\/2\.0 400 [\x20-\x7e]*\r\n/, text);
      assert.ok(out.answer.length <= buf.length + 512, `the 400 (${out.answer.length} bytes) is not much larger than the request (${buf.length})`);
      assert.ok(!buf.toString('latin1').startsWith('ACK '), `an ACK is never answered: ${text}`);
    }
    return;
  }
  const msg = out.msg;
  headerValues(msg, 'Contact');
  headerValues(msg, 'Via');
  if (msg.type === 'request') {
    carriesRoute(msg);
    const reg = registrationOf(msg);
    if (msg.method === 'REGISTER' && reg.ok && reg.registration.kind === 'update') {
      for (const c of reg.registration.contacts) assert.ok(c.uri === null || typeof c.uri === 'string');
    }
  }
}

test('property: well-formed requests and responses pass the first look and the dialect without a throw', () => {
  fc.assert(fc.property(fc.oneof(request, response), (buf) => {
    exercise(buf);
    assert.ok(createSipDialect().parse(buf, INBOUND).ok || buf.toString('latin1').includes('Max-Forwards'), 'a well-formed message is taken');
  }), { numRuns: 500 });
});

test('property: mutated requests and responses never make the first look, the dialect or the accessors throw', () => {
  fc.assert(fc.property(fc.oneof(request, response), fc.array(mutation, { minLength: 1, maxLength: 5 }), (buf, ms) => {
    exercise(mutate(buf, ms));
  }), { numRuns: 3000 });
});
