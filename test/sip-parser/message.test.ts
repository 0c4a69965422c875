import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseSip } from '../../core/dialects/sip/codec/parse.ts';
import { serializeSip } from '../../core/dialects/sip/codec/serialize.ts';
import {
  WireHeader, addHeader, createRequest, createResponse, getHeader, getHeaders, hasHeader, prependHeader,
  removeHeader, setHeader, splitHeaderList, type SipMessage,
} from '../../core/dialects/sip/codec/message.ts';
import { canonicalName, displayName, isListHeader } from '../../core/dialects/sip/codec/names.ts';
import * as F from './fixtures.ts';

function parse(b: Buffer): SipMessage {
  const r = parseSip(b);
  if (!r.ok) assert.fail(`${r.error.code}: ${r.error.reason}`);
  return r.msg;
}

test('compact forms expand to canonical lower-case names', () => {
  const pairs: Array<[string, string]> = [
    ['i', 'call-id'], ['m', 'contact'], ['e', 'content-encoding'], ['l', 'content-length'], ['c', 'content-type'],
    ['f', 'from'], ['s', 'subject'], ['k', 'supported'], ['t', 'to'], ['v', 'via'], ['r', 'refer-to'],
    ['o', 'event'], ['u', 'allow-events'], ['x', 'session-expires'], ['y', 'identity'],
  ];
  for (const [short, full] of pairs) {
    assert.equal(canonicalName(short), full);
    assert.equal(canonicalName(short.toUpperCase()), full);
  }
  assert.equal(canonicalName('CALL-ID'), 'call-id');
  assert.equal(canonicalName('X-Custom'), 'x-custom');
  assert.equal(displayName('call-id'), 'Call-ID');
  assert.equal(displayName('www-authenticate'), 'WWW-Authenticate');
  assert.equal(displayName('X-Custom'), 'X-Custom');

  const headers = ['i: a', 'm: <sip:x@y>', 'e: gzip', 'c: text/plain', 'f: <sip:a@b>;tag=1', 's: hi', 'k: timer',
    't: <sip:c@d>', 'v: SIP/2.0/UDP h;branch=z9hG4bK1', 'r: <sip:e@f>', 'o: presence', 'u: talk', 'x: 1800',
    'y: abc', 'CSeq: 1 REFER', 'l: 0'];
  const b = Buffer.from(`REFER sip:a@b SIP/2.0\r\n${headers.join('\r\n')}\r\n\r\n`);
  const m = parse(b);
  assert.deepEqual(m.headers.map((h) => h.lname), [
    'call-id', 'contact', 'content-encoding', 'content-type', 'from', 'subject', 'supported', 'to', 'via',
    'refer-to', 'event', 'allow-events', 'session-expires', 'identity', 'cseq', 'content-length',
  ]);
  assert.deepEqual(m.headers.map((h) => h.name), headers.map((h) => h.slice(0, h.indexOf(':'))));
  assert.equal(getHeader(m, 'Session-Expires'), '1800');
  assert.equal(getHeader(m, 'x'), '1800');
});

test('getHeaders splits list headers respecting quotes and <>, but not Authorization/Date/unknown', () => {
  const b = F.wire(`INVITE sip:a@b SIP/2.0
Via: SIP/2.0/UDP a.example.com;branch=z9hG4bK1, SIP/2.0/UDP b.example.com;branch=z9hG4bK2
Via: SIP/2.0/UDP c.example.com;branch=z9hG4bK3
To: <sip:a@b>
From: "Smith, John" <sip:c@d>;tag=1
Call-ID: x
CSeq: 1 INVITE
Contact: "Doe, Jane <x>" <sip:jane@e;p=a,b>;q=0.5, <sip:jd@f>;expires=30
Route: <sip:p1.example.com;lr>,<sip:p2.example.com;lr>
Record-Route: <sip:rr1;lr>, <sip:rr2;lr>
Allow: INVITE, ACK,CANCEL ,BYE
Supported: timer, 100rel
Authorization: Digest username="bob", realm="b,c", nonce="n", uri="sip:a@b", response="r"
Date: Sat, 13 Nov 2010 23:29:00 GMT
X-List: a, b
Content-Length: 0

`);
  const m = parse(b);
  assert.deepEqual(getHeaders(m, 'via'), [
    'SIP/2.0/UDP a.example.com;branch=z9hG4bK1', 'SIP/2.0/UDP b.example.com;branch=z9hG4bK2',
    'SIP/2.0/UDP c.example.com;branch=z9hG4bK3',
  ]);
  assert.equal(getHeader(m, 'via'), 'SIP/2.0/UDP a.example.com;branch=z9hG4bK1');
  assert.deepEqual(getHeaders(m, 'contact'), ['"Doe, Jane <x>" <sip:jane@e;p=a,b>;q=0.5', '<sip:jd@f>;expires=30']);
  assert.deepEqual(getHeaders(m, 'route'), ['<sip:p1.example.com;lr>', '<sip:p2.example.com;lr>']);
  assert.deepEqual(getHeaders(m, 'record-route'), ['<sip:rr1;lr>', '<sip:rr2;lr>']);
  assert.deepEqual(getHeaders(m, 'allow'), ['INVITE', 'ACK', 'CANCEL', 'BYE']);
  assert.deepEqual(getHeaders(m, 'k'), ['timer', '100rel']);
  assert.equal(getHeaders(m, 'authorization').length, 1);
  assert.equal(getHeaders(m, 'date')[0], 'Sat, 13 Nov 2010 23:29:00 GMT');
  assert.deepEqual(getHeaders(m, 'x-list'), ['a, b']);
  assert.equal(getHeader(m, 'from'), '"Smith, John" <sip:c@d>;tag=1');
  assert.deepEqual(getHeaders(m, 'absent'), []);
  assert.equal(getHeader(m, 'absent'), undefined);
  assert.ok(isListHeader('via') && !isListHeader('www-authenticate') && !isListHeader('date'));
  assert.deepEqual(splitHeaderList(' a ,, "b,c" , <d,e> '), ['a', '"b,c"', '<d,e>']);
  assert.deepEqual(splitHeaderList('"a\\",b" , c'), ['"a\\",b"', 'c']);
});

test('untouched messages serialize to the original bytes (same Buffer view)', () => {
  for (const b of [F.RFC3261_F1_INVITE, F.WSINV, F.INTMETH, F.ESC01, F.IPV6_GOOD]) {
    const m = parse(b);
    const out = serializeSip(m);
    assert.ok(out.equals(b));
    // reading values does not count as a modification
    for (const h of m.headers) void h.value;
    assert.ok(serializeSip(m).equals(b));
  }
});

test('proxy edits: prepend Via and Record-Route, decrement Max-Forwards, remove Route', () => {
  const m = parse(F.RFC3261_F1_INVITE);
  prependHeader(m, 'Via', 'SIP/2.0/UDP bigbox3.site3.atlanta.com;branch=z9hG4bK77ef4c2312983.1');
  prependHeader(m, 'record-route', '<sip:bigbox3.site3.atlanta.com;lr>');
  setHeader(m, 'max-forwards', '69');
  const out = serializeSip(m).toString();
  const lines = out.split('\r\n');
  assert.equal(lines[0], 'INVITE sip:bob@biloxi.com SIP/2.0');
  assert.equal(lines[1], 'Record-Route: <sip:bigbox3.site3.atlanta.com;lr>');
  assert.equal(lines[2], 'Via: SIP/2.0/UDP bigbox3.site3.atlanta.com;branch=z9hG4bK77ef4c2312983.1');
  assert.equal(lines[3], 'Via: SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bKnashds8');
  assert.equal(lines[4], 'Max-Forwards: 69');
  assert.ok(out.endsWith('\r\n\r\n' + F.ALICE_SDP));
  assert.ok(out.includes('Content-Length: 142\r\n'));
  const again = parse(Buffer.from(out));
  assert.deepEqual(getHeaders(again, 'via').length, 2);
  assert.equal(getHeader(again, 'max-forwards'), '69');

  // strip our Via from a response with two Vias in one header line
  const resp = parse(F.wire(`SIP/2.0 200 OK
Via: SIP/2.0/UDP proxy.example.com;branch=z9hG4bKp1, SIP/2.0/UDP ua.example.com;branch=z9hG4bKu1
To: <sip:a@b>;tag=2
From: <sip:c@d>;tag=1
Call-ID: x
CSeq: 1 INVITE
Content-Length: 0

`));
  assert.equal(removeHeader(resp, 'via', 'first'), 1);
  assert.deepEqual(getHeaders(resp, 'via'), ['SIP/2.0/UDP ua.example.com;branch=z9hG4bKu1']);
  assert.ok(serializeSip(resp).toString().startsWith('SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP ua.example.com;branch=z9hG4bKu1\r\nTo:'));
  assert.equal(removeHeader(resp, 'via', 'first'), 1);
  assert.equal(hasHeader(resp, 'via'), false);
  assert.equal(removeHeader(resp, 'via', 'first'), 0);
});

test('only modified headers are re-emitted; untouched ones keep their exact bytes', () => {
  const m = parse(F.WSINV);
  // change the Call-ID; the folded, oddly spaced headers must survive untouched
  setHeader(m, 'call-id', 'new-call-id@example.com');
  const out = serializeSip(m);
  const expected = F.WSINV.toString('latin1').replace('Call-ID: wsinv.ndaksdj@192.0.2.1', 'Call-ID: new-call-id@example.com');
  assert.equal(out.toString('latin1'), expected);
  // direct assignment on a WireHeader is tracked too
  const m2 = parse(F.WSINV);
  const to = m2.headers[0];
  assert.ok(to instanceof WireHeader);
  assert.equal(to.modified, false);
  to.value = 'sip:other@example.com;tag=x';
  assert.equal(to.modified, true);
  const out2 = serializeSip(m2).toString('latin1');
  assert.ok(out2.startsWith('INVITE sip:vivekg@chair-dnrc.example.com;unknownparam SIP/2.0\r\nTO: sip:other@example.com;tag=x\r\nfrom   : "J Rosenberg'));
  // renaming keeps the value
  const m3 = parse(F.RFC3261_F12_ACK);
  const via = m3.headers[0];
  assert.ok(via !== undefined);
  via.name = 'v';
  assert.ok(serializeSip(m3).toString().includes('\r\nv: SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bKnashds9\r\n'));
});

test('body replacement recomputes Content-Length (compact name kept); removal of all headers works', () => {
  const m = parse(F.LWSDISP); // uses "l: 0"
  m.body = Buffer.from('hello world');
  const out = serializeSip(m).toString();
  assert.ok(out.includes('\r\nl: 11\r\n'));
  assert.ok(out.endsWith('\r\n\r\nhello world'));
  const again = parseSip(Buffer.from(out), { stream: true });
  assert.ok(again.ok);
  assert.equal(again.msg.body.toString(), 'hello world');

  // no Content-Length at all on the wire: one is added when the body changes
  const noCl = parse(F.wire(F.RFC3261_F12_ACK.toString().replace('Content-Length: 0\r\n', '')));
  noCl.body = Buffer.from('x');
  assert.ok(serializeSip(noCl).toString().endsWith('CSeq: 314159 ACK\r\nContent-Length: 1\r\n\r\nx'));

  assert.equal(removeHeader(m, 'contact'), 0);
  assert.equal(removeHeader(m, 'via'), 1);
  assert.equal(getHeader(m, 'via'), undefined);
});

test('start line changes are re-emitted', () => {
  const m = parse(F.RFC3261_F1_INVITE);
  assert.ok(m.type === 'request');
  m.uri = 'sip:bob@192.0.2.4';
  const out = serializeSip(m).toString();
  assert.ok(out.startsWith('INVITE sip:bob@192.0.2.4 SIP/2.0\r\nVia: SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bKnashds8\r\n'));
  const r = parse(F.RFC3261_F6_RINGING);
  assert.ok(r.type === 'response');
  r.status = 183;
  r.reason = 'Session Progress';
  assert.ok(serializeSip(r).toString().startsWith('SIP/2.0 183 Session Progress\r\nVia:'));
});

test('setHeader / addHeader semantics and header injection protection', () => {
  const m = parse(F.WSINV);
  setHeader(m, 'via', 'SIP/2.0/UDP only.example.com;branch=z9hG4bKonly');
  assert.deepEqual(getHeaders(m, 'v'), ['SIP/2.0/UDP only.example.com;branch=z9hG4bKonly']);
  assert.equal(m.headers.filter((h) => h.lname === 'via').length, 1);
  setHeader(m, 'X-New', 'a');
  assert.equal(m.headers.at(-1)?.name, 'X-New');
  addHeader(m, 'x-new', 'b');
  assert.deepEqual(getHeaders(m, 'X-NEW'), ['a', 'b']);
  assert.throws(() => setHeader(m, 'X-Bad', 'a\r\nInjected: yes'), TypeError);
  assert.throws(() => addHeader(m, 'Bad Name', 'x'), TypeError);
  // a value smuggled in by assignment is neutralised by the serializer
  const h = m.headers.find((x) => x.lname === 'x-new');
  assert.ok(h !== undefined);
  h.value = 'a\r\nInjected: yes';
  const out = serializeSip(m).toString();
  assert.ok(!out.includes('\r\nInjected'));
});

test('messages built in code', () => {
  const req = createRequest({
    method: 'OPTIONS',
    uri: 'sip:bob@example.com',
    headers: [
      ['via', 'SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKb1'],
      ['max-forwards', '70'],
      ['to', '<sip:bob@example.com>'],
      ['from', '<sip:alice@example.com>;tag=1'],
      ['call-id', 'built@192.0.2.1'],
      ['cseq', '1 OPTIONS'],
    ],
  });
  const b = serializeSip(req);
  assert.equal(b.toString(), 'OPTIONS sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKb1\r\n' +
    'Max-Forwards: 70\r\nTo: <sip:bob@example.com>\r\nFrom: <sip:alice@example.com>;tag=1\r\nCall-ID: built@192.0.2.1\r\n' +
    'CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n');
  const r = parseSip(b, { stream: true });
  assert.ok(r.ok);
  const resp = createResponse({ status: 200, reason: 'OK', headers: { Via: ['SIP/2.0/UDP a;branch=z9hG4bK1'], 'Call-ID': 'x' }, body: 'hi' });
  assert.equal(serializeSip(resp).toString(), 'SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP a;branch=z9hG4bK1\r\nCall-ID: x\r\nContent-Length: 2\r\n\r\nhi');
});

test('a 400 can be built from an answerable parse error', () => {
  const r = parseSip(F.MISMATCH01);
  assert.ok(!r.ok && r.error.canReply && r.error.msg !== undefined);
  const req = r.error.msg;
  const resp = createResponse({ status: 400, reason: r.error.reason });
  for (const name of ['via', 'from', 'to', 'call-id', 'cseq']) {
    for (const v of getHeaders(req, name)) addHeader(resp, name, v);
  }
  const out = serializeSip(resp).toString();
  assert.ok(out.startsWith('SIP/2.0 400 CSeq method does not match\r\nVia: SIP/2.0/UDP host.example.com;branch=z9hG4bKkdjuw\r\n'));
  assert.ok(parseSip(Buffer.from(out)).ok);
});
