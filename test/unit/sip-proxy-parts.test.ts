/**
 * The pieces of the SIP proxy that are plain functions: toModel (core/dialects/sip/model.ts),
 * stampReceived / buildResponse / buildAck / buildCancel (messages.ts), LocalNode (local-node.ts)
 * and resolveNextHop (next-hop.ts). Messages after RFC 3261 §24.2 and RFC 3665.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { isIP } from 'node:net';
import type { Endpoint } from '../../core/lib/address.ts';
import { buildAck, buildCancel, buildResponse, stampReceived } from '../../core/dialects/sip/messages.ts';
import { LocalNode } from '../../core/dialects/sip/local-node.ts';
import { toModel } from '../../core/dialects/sip/model.ts';
import { resolveNextHop } from '../../core/dialects/sip/next-hop.ts';
import { SipResolver } from '../../core/dialects/sip/resolver.ts';
import { sipWire, type SipTransportName, type SipWire } from '../../core/dialects/sip/wire.ts';
import { createRequest, getHeader, getHeaders, type SipMessage, type SipRequest, type SipResponse } from '../../core/dialects/sip/codec/message.ts';
import { parseSip } from '../../core/dialects/sip/codec/parse.ts';
import { serializeSip } from '../../core/dialects/sip/codec/serialize.ts';
import { parseVia, parseViaList } from '../../core/dialects/sip/codec/via.ts';

const SOURCE: Endpoint = { address: '192.0.2.7', port: 61000 };

function wire(lines: readonly string[], body = ''): Buffer {
  return Buffer.from(`${lines.join('\r\n')}\r\n\r\n${body}`);
}

function parse(raw: Buffer): SipMessage {
  const r = parseSip(raw);
  assert.ok(r.ok, `must parse: ${r.ok ? '' : r.error.reason}`);
  return r.msg;
}

function parseRequest(raw: Buffer): SipRequest {
  const m = parse(raw);
  assert.equal(m.type, 'request');
  return m as SipRequest;
}

/** RFC 3261 §24.2 F1-like INVITE, one Route, two Vias (one header line each) . */
function inviteLines(via = 'SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds', extra: readonly string[] = []): string[] {
  return [
    'INVITE sip:b%6Fb@biloxi.example.com SIP/2.0',
    `Via: ${via}`,
    'Max-Forwards: 70',
    'Route: <sip:p1.example.com;lr>, <sip:p2.example.com;lr>',
    'To: Bob <sip:bob@biloxi.example.com>',
    'From: "Alice" <sip:alice@atlanta.example.com>;tag=1928301774',
    'Call-ID: a84b4c76e66710@pc33.atlanta.example.com',
    'CSeq: 314159 INVITE',
    'Contact: <sip:alice@pc33.atlanta.example.com>',
    ...extra,
    'Content-Length: 0',
  ];
}

function viaValues(m: SipMessage): string[] {
  return getHeaders(m, 'via');
}

// ---------------------------------------------------------------------------

describe('toModel', () => {
  test('an INVITE out of dialog: callId, from/to user and tag, ruri (unescaped user), method, source', () => {
    const raw = wire(inviteLines());
    const sip = parse(raw);
    const r = toModel(sip, { listener: 'sip:udp:5060', source: SOURCE }, 'udp', null, raw);
    assert.ok(r.ok);
    const m = r.msg;
    assert.equal(m.type, 'request');
    if (m.type !== 'request') return;
    assert.equal(m.dialect, 'sip');
    assert.equal(m.callId, 'a84b4c76e66710@pc33.atlanta.example.com');
    assert.equal(m.method, 'INVITE');
    assert.deepEqual(m.from, { user: 'alice', uri: 'sip:alice@atlanta.example.com', tag: '1928301774' });
    assert.deepEqual(m.to, { user: 'bob', uri: 'sip:bob@biloxi.example.com' });
    assert.deepEqual(m.ruri, { user: 'bob', uri: 'sip:b%6Fb@biloxi.example.com' });
    assert.equal(m.inDialog, false);
    assert.equal(m.listener, 'sip:udp:5060');
    assert.deepEqual(m.source, SOURCE);
    assert.equal(m.raw, raw);
    const w: SipWire = sipWire(m);
    assert.equal(w.sip, sip);
    assert.equal(w.transport, 'udp');
    assert.equal(w.connection, null);
    assert.equal(w.via.branch, 'z9hG4bK776asdhds');
    assert.equal(w.via.host, 'pc33.atlanta.example.com');
  });

  test('a request whose To has a tag is in dialog; transport and connection ride along', () => {
    const raw = wire([
      'BYE sip:alice@pc33.atlanta.example.com SIP/2.0',
      'Via: SIP/2.0/TCP 192.0.2.4;branch=z9hG4bKnashds10',
      'Max-Forwards: 70',
      'From: Bob <sip:bob@biloxi.example.com>;tag=a6c85cf',
      'To: Alice <sip:alice@atlanta.example.com>;tag=1928301774',
      'Call-ID: a84b4c76e66710',
      'CSeq: 231 BYE',
      'Content-Length: 0',
    ]);
    const transport: SipTransportName = 'tcp';
    const r = toModel(parse(raw), { listener: 'sip:tcp:5060', source: SOURCE }, transport, 42, raw);
    assert.ok(r.ok && r.msg.type === 'request');
    assert.equal(r.msg.inDialog, true);
    assert.equal(r.msg.method, 'BYE');
    assert.equal(r.msg.to.tag, '1928301774');
    assert.equal(r.msg.from.tag, 'a6c85cf');
    assert.equal(r.msg.from.user, 'bob');
    assert.equal(sipWire(r.msg).transport, 'tcp');
    assert.equal(sipWire(r.msg).connection, 42);
  });

  test('a response: status, reason, and the method from CSeq', () => {
    const raw = wire([
      'SIP/2.0 486 Busy Here',
      'Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds',
      'To: Bob <sip:bob@biloxi.example.com>;tag=8321234356',
      'From: Alice <sip:alice@atlanta.example.com>;tag=1928301774',
      'Call-ID: a84b4c76e66710@pc33.atlanta.example.com',
      'CSeq: 314159 INVITE',
      'Content-Length: 0',
    ]);
    const r = toModel(parse(raw), { listener: 'sip:udp:5060', source: SOURCE }, 'udp', null, raw);
    assert.ok(r.ok);
    assert.equal(r.msg.type, 'reply');
    if (r.msg.type !== 'reply') return;
    assert.equal(r.msg.status, 486);
    assert.equal(r.msg.reason, 'Busy Here');
    assert.equal(r.msg.method, 'INVITE');
    assert.equal(r.msg.to.tag, '8321234356');
    assert.equal(r.msg.callId, 'a84b4c76e66710@pc33.atlanta.example.com');
  });

  test('the method of a response to a CANCEL or REGISTER comes from CSeq too', () => {
    for (const method of ['CANCEL', 'REGISTER', 'OPTIONS']) {
      const raw = wire([
        'SIP/2.0 200 OK',
        'Via: SIP/2.0/UDP 192.0.2.4;branch=z9hG4bK1',
        'To: <sip:bob@biloxi.example.com>;tag=1',
        'From: <sip:alice@atlanta.example.com>;tag=2',
        'Call-ID: x',
        `CSeq: 7 ${method}`,
        'Content-Length: 0',
      ]);
      const r = toModel(parse(raw), { listener: 'l', source: SOURCE }, 'udp', null, raw);
      assert.ok(r.ok && r.msg.type === 'reply');
      assert.equal(r.msg.method, method);
    }
  });

  test('a tel: Request-URI and a From without a user part', () => {
    const raw = wire([
      'INVITE tel:+15551234567 SIP/2.0',
      'Via: SIP/2.0/UDP 192.0.2.4;branch=z9hG4bK2',
      'To: <tel:+15551234567>',
      'From: <sip:atlanta.example.com>;tag=3',
      'Call-ID: y',
      'CSeq: 1 INVITE',
      'Content-Length: 0',
    ]);
    const r = toModel(parse(raw), { listener: 'l', source: SOURCE }, 'udp', null, raw);
    assert.ok(r.ok && r.msg.type === 'request');
    assert.equal(r.msg.ruri.user, '+15551234567');
    assert.equal(r.msg.ruri.uri, 'tel:+15551234567');
    assert.equal(r.msg.to.user, '+15551234567');
    assert.equal(r.msg.from.user, '');
  });

  test('bad Via, From/To or CSeq → not ok with a reason', () => {
    const base: [string, string][] = [
      ['Via', 'SIP/2.0/UDP 192.0.2.4;branch=z9hG4bK3'],
      ['From', '<sip:alice@atlanta.example.com>;tag=1'],
      ['To', '<sip:bob@biloxi.example.com>'],
      ['Call-ID', 'z'],
      ['CSeq', '1 INVITE'],
    ];
    const variant = (name: string, value: string | null): SipRequest => createRequest({
      method: 'INVITE', uri: 'sip:bob@biloxi.example.com',
      headers: base.flatMap(([n, v]) => (n !== name ? [[n, v] as const] : value === null ? [] : [[n, value] as const])),
    });
    const run = (sip: SipRequest) => toModel(sip, { listener: 'l', source: SOURCE }, 'udp', null, Buffer.alloc(0));
    assert.deepEqual(run(variant('Via', 'not a via')), { ok: false, reason: 'Bad Via' });
    assert.deepEqual(run(variant('Via', null)), { ok: false, reason: 'Bad Via' });
    assert.deepEqual(run(variant('From', '<<<')), { ok: false, reason: 'Bad From or To' });
    assert.deepEqual(run(variant('To', null)), { ok: false, reason: 'Bad From or To' });
    assert.deepEqual(run(variant('CSeq', 'one INVITE')), { ok: false, reason: 'Bad CSeq' });
    assert.equal(run(variant('Call-ID', 'fine')).ok, true);
  });
});

describe('stampReceived (RFC 3261 §18.2.1, RFC 3581)', () => {
  test('rport present: filled with the source port, received added even when the sent-by matches', () => {
    const req = parseRequest(wire(inviteLines('SIP/2.0/UDP 192.0.2.7:5060;branch=z9hG4bK776asdhds;rport')));
    const via = parseVia(getHeader(req, 'via')!)!;
    const out = stampReceived(req, via, { address: '192.0.2.7', port: 61000 });
    assert.equal(out.rport, 61000);
    assert.equal(out.received, '192.0.2.7');
    assert.deepEqual(viaValues(req), ['SIP/2.0/UDP 192.0.2.7:5060;branch=z9hG4bK776asdhds;rport=61000;received=192.0.2.7']);
  });

  test('rport from behind a NAT, source seen as an IPv4-mapped address: received is the plain IPv4', () => {
    const req = parseRequest(wire(inviteLines('SIP/2.0/UDP 192.168.1.10:5060;rport;branch=z9hG4bK776asdhds')));
    const via = parseVia(getHeader(req, 'via')!)!;
    const out = stampReceived(req, via, { address: '::ffff:203.0.113.5', port: 4711 });
    assert.equal(out.received, '203.0.113.5');
    assert.equal(out.rport, 4711);
    assert.deepEqual(viaValues(req), ['SIP/2.0/UDP 192.168.1.10:5060;rport=4711;branch=z9hG4bK776asdhds;received=203.0.113.5']);
  });

  test('no rport and a sent-by that differs from the source (a domain name here): received added, no rport', () => {
    const req = parseRequest(wire(inviteLines()));
    const via = parseVia(getHeader(req, 'via')!)!;
    const out = stampReceived(req, via, SOURCE);
    assert.equal(out.received, '192.0.2.7');
    assert.equal(out.hasRport, false);
    assert.deepEqual(viaValues(req), ['SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds;received=192.0.2.7']);
  });

  test('no rport and the sent-by matches the source: nothing changes (headers byte-identical)', () => {
    const raw = wire(inviteLines('SIP/2.0/UDP 192.0.2.7:5060;branch=z9hG4bK776asdhds'));
    const req = parseRequest(raw);
    const headersBefore = [...req.headers];
    const via = parseVia(getHeader(req, 'via')!)!;
    const out = stampReceived(req, via, { address: '::ffff:192.0.2.7', port: 5060 });
    assert.equal(out, via);
    assert.equal(out.received, undefined);
    assert.deepEqual(req.headers, headersBefore);
    assert.ok(req.headers.every((h, i) => h === headersBefore[i]), 'same header objects');
    assert.ok(serializeSip(req).equals(raw), 'the message serializes to its original bytes');
  });

  test('IPv6: a bracketed sent-by equal to the source gets nothing; a different one gets received without brackets', () => {
    const same = parseRequest(wire(inviteLines('SIP/2.0/UDP [2001:db8::9]:5060;branch=z9hG4bK776asdhds')));
    stampReceived(same, parseVia(getHeader(same, 'via')!)!, { address: '2001:db8::9', port: 5060 });
    assert.deepEqual(viaValues(same), ['SIP/2.0/UDP [2001:db8::9]:5060;branch=z9hG4bK776asdhds']);

    const other = parseRequest(wire(inviteLines('SIP/2.0/UDP [2001:db8::9]:5060;branch=z9hG4bK776asdhds')));
    const out = stampReceived(other, parseVia(getHeader(other, 'via')!)!, { address: '2001:db8::77', port: 5060 });
    assert.equal(out.received, '2001:db8::77');
    assert.deepEqual(viaValues(other), ['SIP/2.0/UDP [2001:db8::9]:5060;branch=z9hG4bK776asdhds;received=2001:db8::77']);
  });

  test('only the top Via is stamped, also when several Vias share one header line', () => {
    const req = parseRequest(wire(inviteLines('SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKtop;rport, SIP/2.0/UDP 10.0.0.2:5062;branch=z9hG4bKsecond', [
      'Via: SIP/2.0/UDP 10.0.0.3;branch=z9hG4bKthird',
    ])));
    const via = parseViaList(req.headers.find((h) => h.lname === 'via')!.value)![0]!;
    stampReceived(req, via, SOURCE);
    assert.deepEqual(viaValues(req), [
      'SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKtop;rport=61000;received=192.0.2.7',
      'SIP/2.0/UDP 10.0.0.2:5062;branch=z9hG4bKsecond',
      'SIP/2.0/UDP 10.0.0.3;branch=z9hG4bKthird',
    ]);
  });
});

describe('buildResponse', () => {
  const req = (): SipRequest => parseRequest(wire(inviteLines('SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKtop;received=192.0.2.7', [
    'Via: SIP/2.0/UDP 10.0.0.2:5062;branch=z9hG4bKsecond',
  ])));

  test('copies every Via in order, From, To, Call-ID and CSeq; adds the To tag; Server and Content-Length: 0', () => {
    const r: SipResponse = buildResponse(req(), 486, 'Busy Here', 'a6c85cf');
    assert.equal(r.type, 'response');
    assert.equal(r.status, 486);
    assert.equal(r.reason, 'Busy Here');
    assert.deepEqual(viaValues(r), ['SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKtop;received=192.0.2.7', 'SIP/2.0/UDP 10.0.0.2:5062;branch=z9hG4bKsecond']);
    assert.equal(getHeader(r, 'from'), '"Alice" <sip:alice@atlanta.example.com>;tag=1928301774');
    assert.equal(getHeader(r, 'to'), 'Bob <sip:bob@biloxi.example.com>;tag=a6c85cf');
    assert.equal(getHeader(r, 'call-id'), 'a84b4c76e66710@pc33.atlanta.example.com');
    assert.equal(getHeader(r, 'cseq'), '314159 INVITE');
    assert.equal(getHeader(r, 'server'), 'switchyard');
    assert.equal(getHeader(r, 'content-length'), '0');
    assert.equal(getHeader(r, 'route'), undefined, 'Route is not copied into a response');
    assert.equal(getHeader(r, 'contact'), undefined);
    assert.equal(r.body.length, 0);
    // and it goes on the wire as a valid response
    const back = parse(serializeSip(r));
    assert.equal(back.type, 'response');
  });

  test('no To tag on a 100 Trying, nor with a null tag, nor a second one when To already has one', () => {
    assert.equal(getHeader(buildResponse(req(), 100, 'Trying', 'xyz'), 'to'), 'Bob <sip:bob@biloxi.example.com>');
    assert.equal(getHeader(buildResponse(req(), 400, 'Bad Request', null), 'to'), 'Bob <sip:bob@biloxi.example.com>');
    assert.equal(getHeader(buildResponse(req(), 180, 'Ringing', 'xyz'), 'to'), 'Bob <sip:bob@biloxi.example.com>;tag=xyz');
    const inDialog = parseRequest(wire([
      'BYE sip:alice@pc33.atlanta.example.com SIP/2.0',
      'Via: SIP/2.0/UDP 192.0.2.4;branch=z9hG4bKnashds10',
      'From: Bob <sip:bob@biloxi.example.com>;tag=a6c85cf',
      'To: Alice <sip:alice@atlanta.example.com>;tag=1928301774',
      'Call-ID: a84b4c76e66710',
      'CSeq: 231 BYE',
      'Content-Length: 0',
    ]));
    assert.equal(getHeader(buildResponse(inDialog, 481, 'Call/Transaction Does Not Exist', 'new'), 'to'), 'Alice <sip:alice@atlanta.example.com>;tag=1928301774');
  });

  test('extra headers are added in order (Contact, Min-Expires...)', () => {
    const r = buildResponse(req(), 200, 'OK', 'tt', { contacts: [{ uri: 'sip:bob@10.0.0.1', expiresSec: 60 }, { uri: 'sip:bob@10.0.0.2', expiresSec: 90 }], minExpiresSec: 60 });
    assert.deepEqual(getHeaders(r, 'contact'), ['<sip:bob@10.0.0.1>;expires=60', '<sip:bob@10.0.0.2>;expires=90']);
    assert.equal(getHeader(r, 'min-expires'), '60');
    const names = r.headers.map((h) => h.lname);
    assert.ok(names.indexOf('contact') > names.indexOf('cseq'), 'extra headers after the copied ones');
  });
});

describe('buildAck / buildCancel', () => {
  const branch = (): SipRequest => parseRequest(wire(inviteLines('SIP/2.0/UDP proxy.example.com:5060;branch=z9hG4bKbranch1', [
    'Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds;received=192.0.2.7',
    'Content-Type: application/sdp',
  ])));
  const busy = (b: SipRequest): SipResponse => buildResponse(b, 486, 'Busy Here', '8321234356');

  test('ACK for a non-2xx: the branch\'s top Via only, same Request-URI, Route copied, To from the response, CSeq number with ACK', () => {
    const b = branch();
    const ack = buildAck(b, busy(b));
    assert.equal(ack.method, 'ACK');
    assert.equal(ack.uri, 'sip:b%6Fb@biloxi.example.com');
    assert.deepEqual(viaValues(ack), ['SIP/2.0/UDP proxy.example.com:5060;branch=z9hG4bKbranch1']);
    assert.deepEqual(getHeaders(ack, 'route'), ['<sip:p1.example.com;lr>', '<sip:p2.example.com;lr>']);
    assert.equal(getHeader(ack, 'to'), 'Bob <sip:bob@biloxi.example.com>;tag=8321234356');
    assert.equal(getHeader(ack, 'from'), '"Alice" <sip:alice@atlanta.example.com>;tag=1928301774');
    assert.equal(getHeader(ack, 'call-id'), 'a84b4c76e66710@pc33.atlanta.example.com');
    assert.equal(getHeader(ack, 'cseq'), '314159 ACK');
    assert.equal(getHeader(ack, 'max-forwards'), '70');
    assert.equal(getHeader(ack, 'content-type'), undefined);
    assert.equal(getHeader(ack, 'contact'), undefined);
    assert.equal(ack.body.length, 0);
    const back = parseRequest(serializeSip(ack));
    assert.equal(back.method, 'ACK');
  });

  test('CANCEL: same Request-URI, top Via (branch) of the branch, Route, To without tag, CSeq number with CANCEL', () => {
    const b = branch();
    const cancel = buildCancel(b);
    assert.equal(cancel.method, 'CANCEL');
    assert.equal(cancel.uri, b.uri);
    assert.deepEqual(viaValues(cancel), ['SIP/2.0/UDP proxy.example.com:5060;branch=z9hG4bKbranch1']);
    assert.deepEqual(getHeaders(cancel, 'route'), ['<sip:p1.example.com;lr>', '<sip:p2.example.com;lr>']);
    assert.equal(getHeader(cancel, 'to'), 'Bob <sip:bob@biloxi.example.com>');
    assert.equal(getHeader(cancel, 'from'), '"Alice" <sip:alice@atlanta.example.com>;tag=1928301774');
    assert.equal(getHeader(cancel, 'call-id'), 'a84b4c76e66710@pc33.atlanta.example.com');
    assert.equal(getHeader(cancel, 'cseq'), '314159 CANCEL');
    assert.equal(getHeader(cancel, 'max-forwards'), '70');
    assert.equal(getHeader(cancel, 'content-length'), '0');
    parseRequest(serializeSip(cancel));
  });

  test('without Route the ACK and CANCEL carry none', () => {
    const b = parseRequest(wire([
      'INVITE sip:bob@192.0.2.4:5070 SIP/2.0',
      'Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKx1',
      'From: <sip:alice@atlanta.example.com>;tag=1',
      'To: <sip:bob@biloxi.example.com>',
      'Call-ID: c',
      'CSeq: 2 INVITE',
      'Content-Length: 0',
    ]));
    assert.deepEqual(getHeaders(buildCancel(b), 'route'), []);
    const ack = buildAck(b, buildResponse(b, 603, 'Decline', 'd'));
    assert.deepEqual(getHeaders(ack, 'route'), []);
    assert.equal(getHeader(ack, 'cseq'), '2 ACK');
    assert.equal(ack.uri, 'sip:bob@192.0.2.4:5070');
  });
});

describe('LocalNode.isUs', () => {
  const node = (): LocalNode => {
    const n = new LocalNode();
    n.add({ host: '127.0.0.1', port: 5070 });
    return n;
  };

  test('127.0.0.1 with the added port is us; another port or no port (5060) is not', () => {
    const n = node();
    assert.equal(n.isUs('sip:127.0.0.1:5070'), true);
    assert.equal(n.isUs('sip:bob@127.0.0.1:5070;transport=udp;lr'), true);
    assert.equal(n.isUs('sip:127.0.0.1:5071'), false);
    assert.equal(n.isUs('sip:127.0.0.1'), false);
    n.add({ host: '127.0.0.1', port: 5060 });
    assert.equal(n.isUs('sip:127.0.0.1'), true, 'no port means 5060');
  });

  test('localhost (any case) and an IPv4-mapped literal name us too', () => {
    const n = node();
    assert.equal(n.isUs('sip:localhost:5070'), true);
    assert.equal(n.isUs('sip:LocalHost:5070'), true);
    assert.equal(n.isUs('sip:[::ffff:127.0.0.1]:5070'), true);
    assert.equal(n.isUs('sip:localhost:5071'), false);
  });

  test('IPv6 [::1] (the loopback interface) on our port is us', () => {
    const n = node();
    assert.equal(n.isUs('sip:[::1]:5070'), true);
    assert.equal(n.isUs('sip:[::1]:5071'), false);
    const v6 = new LocalNode();
    v6.add({ host: '::1', port: 5090 });
    assert.equal(v6.isUs('sip:[::1]:5090'), true);
    assert.equal(v6.isUs('sip:alice@[::1]:5090;transport=tcp'), true);
  });

  test('an identity with a public advertise address is us; foreign hosts, tel: and garbage are not', () => {
    const n = node();
    n.add({ host: '198.51.100.200', port: 5070 });
    assert.equal(n.isUs('sip:198.51.100.200:5070'), true);
    assert.equal(n.isUs('sip:198.51.100.201:5070'), false);
    assert.equal(n.isUs('sip:biloxi.example.com:5070'), false);
    assert.equal(n.isUs('tel:+15551234567'), false);
    assert.equal(n.isUs('not a uri'), false);
    assert.equal(n.isUs(null), false);
    assert.equal(n.isLocalHost('127.0.0.1'), true);
    assert.equal(n.isLocalHost('[::1]'), true);
    assert.equal(n.isLocalHost('192.0.2.254'), false);
  });
});

describe('resolveNextHop', () => {
  const resolver = new SipResolver();

  test('an IPv4 literal with a port', async () => {
    assert.deepEqual(await resolveNextHop('sip:bob@192.0.2.4:5070', resolver, false), { address: { address: '192.0.2.4', port: 5070 }, transport: 'udp' });
  });

  test('no port: 5060', async () => {
    assert.deepEqual(await resolveNextHop('sip:bob@192.0.2.4', resolver, false), { address: { address: '192.0.2.4', port: 5060 }, transport: 'udp' });
  });

  test('an IPv6 literal: brackets removed', async () => {
    assert.deepEqual(await resolveNextHop('sip:bob@[2001:db8::1]:5080', resolver, false), { address: { address: '2001:db8::1', port: 5080 }, transport: 'udp' });
    assert.deepEqual(await resolveNextHop('sip:[::1]', resolver, false), { address: { address: '::1', port: 5060 }, transport: 'udp' });
  });

  test('transport=tcp (any case) → tcp; other transports → udp', async () => {
    const transport = async (uri: string): Promise<string> => { const h = await resolveNextHop(uri, resolver, false); return typeof h === 'string' ? h : h.transport; };
    assert.equal(await transport('sip:bob@192.0.2.4;transport=tcp'), 'tcp');
    assert.equal(await transport('sip:bob@192.0.2.4;transport=TCP'), 'tcp');
    assert.equal(await transport('sip:bob@192.0.2.4;transport=udp'), 'udp');
  });

  test('maddr from a trusted sender overrides the host, the port stays; from anyone else it is ignored', async () => {
    assert.deepEqual(await resolveNextHop('sip:bob@192.0.2.4:5070;maddr=127.0.0.1;transport=tcp', resolver, false), { address: { address: '192.0.2.4', port: 5070 }, transport: 'tcp' });
    assert.deepEqual(await resolveNextHop('sip:bob@biloxi.example.com:5070;maddr=192.0.2.99;transport=tcp', resolver, true), { address: { address: '192.0.2.99', port: 5070 }, transport: 'tcp' });
    assert.deepEqual(await resolveNextHop('sip:bob@192.0.2.4;maddr=[2001:db8::5]', resolver, true), { address: { address: '2001:db8::5', port: 5060 }, transport: 'udp' });
  });

  test('localhost resolves to a loopback address', async () => {
    const hop = await resolveNextHop('sip:bob@localhost:5090', resolver, false);
    assert.ok(typeof hop !== 'string');
    assert.ok(hop.address.address === '127.0.0.1' || hop.address.address === '::1', `loopback, got ${hop.address.address}`);
    assert.notEqual(isIP(hop.address.address), 0);
    assert.equal(hop.address.port, 5090);
    assert.equal(hop.transport, 'udp');
  });

  test('a tel: URI or an unparsable one → unresolvable', async () => {
    assert.equal(await resolveNextHop('tel:+15551234567', resolver, false), 'unresolvable');
    assert.equal(await resolveNextHop('urn:service:sos', resolver, false), 'unresolvable');
    assert.equal(await resolveNextHop('not a uri', resolver, false), 'unresolvable');
  });
});
