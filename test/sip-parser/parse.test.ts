import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseSip, type SipParseResult } from '../../core/dialects/sip/codec/parse.ts';
import { serializeSip } from '../../core/dialects/sip/codec/serialize.ts';
import { getCSeq, getHeader, getHeaders, getMaxForwards, type SipMessage } from '../../core/dialects/sip/codec/message.ts';
import { parseNameAddr, parseUri } from '../../core/dialects/sip/codec/uri.ts';
import { isRfc3261Branch, parseVia, parseViaList } from '../../core/dialects/sip/codec/via.ts';
import { getParam } from '../../core/dialects/sip/codec/params.ts';
import * as F from './fixtures.ts';

function ok(r: SipParseResult): SipMessage {
  if (!r.ok) assert.fail(`parse failed: ${r.error.code} (${r.error.reason})`);
  return r.msg;
}

function err(r: SipParseResult) {
  if (r.ok) assert.fail('expected a parse error');
  return r.error;
}

function assertReason(reason: string): void {
  assert.match(reason, /^[\x20-\x7e]+$/, 'reason must be printable ASCII without CR/LF');
}

test('RFC 3261 §24.2 F1 INVITE: start line, headers, body', () => {
  const r = parseSip(F.RFC3261_F1_INVITE);
  const msg = ok(r);
  assert.equal(msg.type, 'request');
  assert.ok(msg.type === 'request');
  assert.equal(msg.method, 'INVITE');
  assert.equal(msg.uri, 'sip:bob@biloxi.com');
  assert.equal(msg.version, 'SIP/2.0');
  assert.deepEqual(msg.headers.map((h) => h.name), [
    'Via', 'Max-Forwards', 'To', 'From', 'Call-ID', 'CSeq', 'Contact', 'Content-Type', 'Content-Length',
  ]);
  assert.equal(getHeader(msg, 'Call-ID'), 'a84b4c76e66710');
  assert.equal(getHeader(msg, 'i'), 'a84b4c76e66710');
  assert.deepEqual(getCSeq(msg), { seq: 314159, method: 'INVITE' });
  assert.equal(getMaxForwards(msg), 70);
  assert.equal(msg.body.toString(), F.ALICE_SDP);
  assert.equal(msg.body.length, 142);
  assert.equal(r.ok && r.consumed, F.RFC3261_F1_INVITE.length);
  assert.deepEqual(r.ok && r.warnings, []);
  const from = parseNameAddr(getHeader(msg, 'from') ?? '');
  assert.equal(from?.displayName, 'Alice');
  assert.equal(from && getParam(from.params, 'tag'), '1928301774');
  assert.ok(serializeSip(msg).equals(F.RFC3261_F1_INVITE));
});

test('RFC 3261 §24.2 responses and folded Via parameters', () => {
  const trying = ok(parseSip(F.RFC3261_F2_TRYING));
  assert.ok(trying.type === 'response');
  assert.equal(trying.status, 100);
  assert.equal(trying.reason, 'Trying');
  assert.equal(getHeader(trying, 'via'), 'SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bKnashds8 ;received=192.0.2.1');
  const via = parseVia(getHeader(trying, 'via') ?? '');
  assert.equal(via?.received, '192.0.2.1');
  assert.equal(via?.branch, 'z9hG4bKnashds8');
  assert.equal(trying.body.length, 0);

  const ringing = ok(parseSip(F.RFC3261_F6_RINGING));
  assert.ok(ringing.type === 'response');
  assert.equal(ringing.status, 180);
  const vias = getHeaders(ringing, 'via').map((v) => parseVia(v));
  assert.deepEqual(vias.map((v) => v?.host), ['server10.biloxi.com', 'bigbox3.site3.atlanta.com', 'pc33.atlanta.com']);
  assert.deepEqual(vias.map((v) => v?.received), ['192.0.2.3', '192.0.2.2', '192.0.2.1']);
  assert.ok(vias.every((v) => isRfc3261Branch(v?.branch)));
  assert.equal(parseNameAddr(getHeader(ringing, 'to') ?? '')?.params[0]?.value, 'a6c85cf');

  for (const b of [F.RFC3261_F2_TRYING, F.RFC3261_F3_INVITE, F.RFC3261_F5_INVITE, F.RFC3261_F6_RINGING,
    F.RFC3261_F12_ACK, F.RFC3261_F13_BYE, F.RFC3261_REGISTER]) {
    const m = ok(parseSip(b));
    assert.ok(serializeSip(m).equals(b));
  }
  const ack = ok(parseSip(F.RFC3261_F12_ACK));
  assert.ok(ack.type === 'request' && ack.method === 'ACK');
  const reg = ok(parseSip(F.RFC3261_REGISTER));
  assert.ok(reg.type === 'request');
  assert.equal(parseUri(reg.uri)?.kind, 'sips');
  assert.equal(parseVia(getHeader(reg, 'via') ?? '')?.port, 5061);
  assert.equal(parseVia(getHeader(reg, 'via') ?? '')?.transport, 'TLS');
});

test('RFC 4475 wsinv: folding, spacing, compact forms, multiple Via in one header', () => {
  const msg = ok(parseSip(F.WSINV));
  assert.ok(msg.type === 'request');
  assert.equal(msg.uri, 'sip:vivekg@chair-dnrc.example.com;unknownparam');
  assert.equal(getHeader(msg, 'to'), 'sip:vivekg@chair-dnrc.example.com ;   tag    = 1918181833n');
  const to = parseNameAddr(getHeader(msg, 'to') ?? '');
  assert.equal(to?.uri, 'sip:vivekg@chair-dnrc.example.com');
  assert.equal(to && getParam(to.params, 'tag'), '1918181833n');
  const from = parseNameAddr(getHeader(msg, 'from') ?? '');
  assert.equal(from?.displayName, 'J Rosenberg \\"');
  assert.equal(from && getParam(from.params, 'tag'), '98asjd8');
  assert.equal(getMaxForwards(msg), 68);
  assert.deepEqual(getCSeq(msg), { seq: 9, method: 'INVITE' });
  assert.equal(getHeader(msg, 'cseq'), '0009 INVITE');
  assert.equal(getHeader(msg, 'subject'), '');
  assert.equal(getHeader(msg, 'NewFangledHeader'), 'newfangled value continued newfangled value');
  assert.equal(getHeader(msg, 'unknownheaderwithunusualvalue'), ';;,,;;,;');
  assert.deepEqual(getHeaders(msg, 'UnknownHeaderWithUnusualValue'), [';;,,;;,;'], 'unknown headers are not split');
  assert.equal(getHeader(msg, 'route'), '<sip:services.example.com;lr;unknownwith=value;unknown-no-value>');
  const names = msg.headers.map((h) => [h.name, h.lname]);
  assert.deepEqual(names.slice(0, 3), [['TO', 'to'], ['from', 'from'], ['MaX-fOrWaRdS', 'max-forwards']]);
  assert.ok(names.some(([n, l]) => n === 's' && l === 'subject'));
  assert.ok(names.some(([n, l]) => n === 'v' && l === 'via'));
  assert.ok(names.some(([n, l]) => n === 'm' && l === 'contact'));

  const vias = getHeaders(msg, 'via');
  assert.equal(vias.length, 3);
  const parsed = vias.map((v) => parseVia(v));
  assert.deepEqual(parsed.map((v) => [v?.transport, v?.host, v?.branch]), [
    ['UDP', '192.0.2.2', '390skdjuw'],
    ['TCP', 'spindle.example.com', 'z9hG4bK9ikj8'],
    ['UDP', '192.168.255.111', 'z9hG4bK30239'],
  ]);
  assert.equal(isRfc3261Branch(parsed[0]?.branch), false);
  assert.equal(isRfc3261Branch(parsed[1]?.branch), true);

  const contact = parseNameAddr(getHeader(msg, 'contact') ?? '');
  assert.equal(contact?.displayName, 'Quoted string ""');
  assert.deepEqual(contact?.params, [
    { name: 'newparam', value: 'newvalue' }, { name: 'secondparam', value: null }, { name: 'q', value: '0.33' },
  ]);
  assert.equal(msg.body.length, 150);
  assert.equal(msg.body.toString(), F.TORTURE_SDP);
  assert.ok(serializeSip(msg).equals(F.WSINV));
});

test('RFC 4475 intmeth: unusual method, URI, quoted NUL, UTF-8 values', () => {
  const msg = ok(parseSip(F.INTMETH));
  assert.ok(msg.type === 'request');
  assert.equal(msg.method, "!interesting-Method0123456789_*+`.%indeed'~");
  const uri = parseUri(msg.uri);
  assert.equal(uri?.user, "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*");
  assert.equal(uri?.password, "&it+has=1,weird!*pas$wo~d_too.(doesn't-it)");
  assert.equal(uri?.host, 'example.com');
  const to = parseNameAddr(getHeader(msg, 'to') ?? '');
  assert.equal(to?.displayName, 'BEL:\x07 NUL:\x00 DEL:\x7f');
  const from = parseNameAddr(getHeader(msg, 'from') ?? '');
  assert.equal(from?.displayName, "token1~` token2'+_ token3*%!.-");
  assert.equal(from && getParam(from.params, "fromParam''~+*_!.-%"), '"\u0440\u0430\u0431\u043e\u0442\u0430\u044e\u0449\u0438\u0439"');
  assert.equal(from && getParam(from.params, 'tag'), "_token~1'+`*%!-.");
  assert.equal(getHeader(msg, 'call-id'), "intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{");
  assert.equal(getHeader(msg, "extensionHeader-!.%*+_`'~"), '\ufeff\u5927\u505c\u96fb');
  assert.equal(parseVia(getHeader(msg, 'via') ?? '')?.branch, "z9hG4bK-.!%66*_+`'~");
  assert.ok(serializeSip(msg).equals(F.INTMETH));
});

test('RFC 4475 esc01 / escnull / lwsdisp / unkscm are accepted', () => {
  const esc = ok(parseSip(F.ESC01));
  assert.ok(esc.type === 'request');
  assert.equal(parseUri(esc.uri)?.user, 'sips%3Auser%40example.com');
  assert.equal(parseUri(esc.uri)?.host, 'example.net');
  assert.equal(getHeader(esc, 'content-type'), 'application/sdp');
  assert.equal(esc.headers.find((h) => h.lname === 'content-type')?.name, 'C');
  const contact = parseNameAddr(getHeader(esc, 'contact') ?? '');
  assert.deepEqual(parseUri(contact?.uri ?? '')?.params, [{ name: '%6C%72', value: null }, { name: 'n%61me', value: 'v%61lue%25%34%31' }]);

  const nul = ok(parseSip(F.ESCNULL));
  assert.deepEqual(getHeaders(nul, 'contact'), ['<sip:%00@host5.example.com>', '<sip:%00%00@host5.example.com>']);
  assert.equal(parseVia(getHeader(nul, 'via') ?? '')?.hasRport, true);
  assert.equal(parseVia(getHeader(nul, 'via') ?? '')?.rport, undefined);

  const lws = ok(parseSip(F.LWSDISP));
  assert.equal(parseNameAddr(getHeader(lws, 'from') ?? '')?.displayName, 'caller');

  const unk = ok(parseSip(F.UNKSCM));
  assert.ok(unk.type === 'request');
  assert.equal(unk.uri, 'nobodyKnowsThisScheme:totallyopaquecontent');
  assert.equal(parseUri(unk.uri)?.kind, 'other');
});

test('RFC 4475 clerr/ncl: bad Content-Length (UDP), answerable', () => {
  for (const b of [F.CLERR, F.NCL]) {
    const e = err(parseSip(b));
    assert.equal(e.code, 'bad-content-length');
    assert.equal(e.canReply, true);
    assert.ok(e.msg !== undefined);
    assert.equal(getHeader(e.msg, 'call-id')?.slice(0, 3) === 'cle' || getHeader(e.msg, 'call-id')?.startsWith('ncl'), true);
    assertReason(e.reason);
  }
});

test('RFC 4475 insuf: missing Call-ID/From/To — not answerable', () => {
  const e = err(parseSip(F.INSUF));
  assert.equal(e.code, 'missing-header');
  assert.equal(e.canReply, false);
  assertReason(e.reason);
  // the same message with From and To but no Call-ID
  const noCallId = F.wire(`INVITE sip:user@example.com SIP/2.0
Via: SIP/2.0/UDP 192.0.2.95;branch=z9hG4bKkdj.nocid
To: sip:user@example.com
From: sip:caller@example.net;tag=1
CSeq: 193942 INVITE
Max-Forwards: 70
Content-Length: 0

`);
  const e2 = err(parseSip(noCallId));
  assert.equal(e2.code, 'missing-header');
  assert.equal(e2.reason, 'Missing Call-ID');
  assert.equal(e2.canReply, false);
});

test('RFC 4475 invalid start lines and CSeq', () => {
  const cases: Array<[Buffer, string, boolean]> = [
    [F.LTGTRURI, 'bad-request-uri', true],
    [F.LWSRURI, 'bad-request-uri', true],
    [F.TRWS, 'bad-start-line', false],
    [F.BADVERS, 'bad-version', true],
    [F.MISMATCH01, 'cseq-mismatch', true],
    [F.SCALAR02, 'bad-cseq', true],
    [F.IPV6_BAD, 'bad-request-uri', true],
  ];
  for (const [b, code, canReply] of cases) {
    const e = err(parseSip(b));
    assert.equal(e.code, code, b.toString('latin1', 0, 40));
    assert.equal(e.canReply, canReply, code);
    assertReason(e.reason);
    if (canReply) assert.ok(e.msg !== undefined && getHeader(e.msg, 'via') !== undefined);
  }
});

test('RFC 4475 badinv01: frames fine, but its Via does not parse', () => {
  const msg = ok(parseSip(F.BADINV01));
  assert.equal(parseViaList(getHeader(msg, 'via') ?? ''), null);
  assert.equal(parseVia('SIP/2.0/UDP 192.0.2.15;;,;,,'), null);
  assert.equal(parseNameAddr('"Joe" <sip:joe@example.org>;;;;'), null);
});

test('RFC 5118 IPv6 references', () => {
  const good = ok(parseSip(F.IPV6_GOOD));
  assert.ok(good.type === 'request');
  const ruri = parseUri(good.uri);
  assert.equal(ruri?.host, '[2001:db8::10]');
  assert.equal(ruri?.hostType, 'ipv6');
  assert.equal(parseVia(getHeader(good, 'via') ?? '')?.host, '[2001:db8::9:1]');
  assert.equal(parseUri(parseNameAddr(getHeader(good, 'contact') ?? '')?.uri ?? '')?.host, '[2001:db8::1]');

  const port = ok(parseSip(F.IPV6_PORT));
  assert.ok(port.type === 'request');
  assert.equal(parseUri(port.uri)?.port, 5070);

  const via = ok(parseSip(F.IPV6_VIA));
  assert.equal(parseVia(getHeader(via, 'via') ?? '')?.received, '[2001:db8::9:255]');
  assert.equal(parseVia('SIP/2.0/UDP [2001:db8::9:1];received=2001:db8::9:255;branch=z9hG4bKas3')?.received, '2001:db8::9:255');
});

test('header value with embedded CR or LF is rejected; answerable when essentials were read', () => {
  const base = `INVITE sip:bob@example.com SIP/2.0
Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKcr1
To: <sip:bob@example.com>
From: <sip:alice@example.com>;tag=1
Call-ID: cr@192.0.2.1
CSeq: 1 INVITE
Max-Forwards: 70
Subject: SUBJ
Content-Length: 0

`;
  const withCr = Buffer.from(F.wire(base).toString('latin1').replace('SUBJ', 'hello\rworld'), 'latin1');
  const e = err(parseSip(withCr));
  assert.equal(e.code, 'bare-cr');
  assert.equal(e.canReply, true);
  assert.ok(e.msg !== undefined);
  assert.equal(getHeader(e.msg, 'call-id'), 'cr@192.0.2.1');
  assertReason(e.reason);

  const withLf = Buffer.from(F.wire(base).toString('latin1').replace('SUBJ', 'hello\nworld'), 'latin1');
  assert.equal(err(parseSip(withLf)).code, 'bare-lf');

  // the bad header before the essential ones: parsing resynchronises on the next line
  const early = Buffer.from(F.wire(base.replace('Subject: SUBJ\n', '').replace('Via:', 'X-Bad: a\rb\nVia:')).toString('latin1'), 'latin1');
  const e3 = err(parseSip(early));
  assert.equal(e3.code, 'bare-cr');
  assert.equal(e3.canReply, true);

  const bareLfLineEnd = Buffer.from(F.wire(base).toString('latin1').replace('Subject: SUBJ\r\n', 'Subject: x\n'), 'latin1');
  assert.equal(err(parseSip(bareLfLineEnd)).code, 'bare-lf');
});

test('non-ASCII and malformed header names are rejected', () => {
  const base = `OPTIONS sip:bob@example.com SIP/2.0
Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKn1
To: <sip:bob@example.com>
From: <sip:alice@example.com>;tag=1
Call-ID: n@192.0.2.1
CSeq: 1 OPTIONS
NAME: value
Content-Length: 0

`;
  const e = err(parseSip(F.wire(base.replace('NAME', 'Fo\u00f3'))));
  assert.equal(e.code, 'bad-header-name');
  assert.equal(e.canReply, true);
  assert.equal(err(parseSip(F.wire(base.replace('NAME: value', 'no colon here')))).code, 'bad-header-name');
  assert.equal(err(parseSip(F.wire(base.replace('NAME: value', 'NoColon')))).code, 'bad-header');
  assert.equal(err(parseSip(F.wire(base.replace('NAME: value', ': empty name')))).code, 'bad-header-name');
  // a line starting with whitespace continues the previous header (here: CSeq, which becomes invalid)
  assert.equal(err(parseSip(F.wire(base.replace('NAME: value', ' leading: ws')))).code, 'bad-cseq');
  // ...and cannot start the header section
  assert.equal(err(parseSip(F.wire(base.replace('SIP/2.0\nVia', 'SIP/2.0\n leading: ws\nVia')))).code, 'bad-header-name');
});

test('truncated messages', () => {
  const full = F.RFC3261_F1_INVITE;
  const headEnd = full.indexOf('\r\n\r\n');
  // cut inside the header section
  const e = err(parseSip(full.subarray(0, 120)));
  assert.equal(e.code, 'truncated');
  assertReason(e.reason);
  // cut just before the empty line
  assert.equal(err(parseSip(full.subarray(0, headEnd + 2))).code, 'truncated');
  // cut inside the body: Content-Length now exceeds the datagram
  const e2 = err(parseSip(full.subarray(0, full.length - 10)));
  assert.equal(e2.code, 'bad-content-length');
  assert.equal(e2.canReply, true);
  // every prefix fails or — only the full message — succeeds
  for (let n = 0; n < full.length; n++) assert.equal(parseSip(full.subarray(0, n)).ok, false, `prefix ${n}`);
});

test('UDP framing: no Content-Length means the rest of the datagram; extra bytes after the body are ignored', () => {
  const noCl = F.withBody(`MESSAGE sip:bob@example.com SIP/2.0
Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKm1
To: <sip:bob@example.com>
From: <sip:alice@example.com>;tag=1
Call-ID: m@192.0.2.1
CSeq: 1 MESSAGE
Max-Forwards: 70
Content-Type: text/plain

`, 'hello\r\nworld');
  const m = ok(parseSip(noCl));
  assert.equal(m.body.toString(), 'hello\r\nworld');
  assert.ok(serializeSip(m).equals(noCl));

  const extra = Buffer.concat([F.RFC3261_F12_ACK, Buffer.from('garbage')]);
  const r = parseSip(extra);
  assert.ok(r.ok);
  assert.equal(r.consumed, F.RFC3261_F12_ACK.length);
  assert.ok(serializeSip(r.msg).equals(F.RFC3261_F12_ACK));
});

test('missing Max-Forwards is accepted but reported', () => {
  const b = F.wire(F.RFC3261_F13_BYE.toString().replace('Max-Forwards: 70\r\n', ''));
  const r = parseSip(b);
  assert.ok(r.ok);
  assert.deepEqual(r.warnings, ['missing-max-forwards']);
  const bad = F.wire(F.RFC3261_F13_BYE.toString().replace('Max-Forwards: 70', 'Max-Forwards: seventy'));
  assert.equal(err(parseSip(bad)).code, 'bad-max-forwards');
});

test('stream mode: incomplete until whole, consumed per message, pipelining, keep-alives', () => {
  const a = F.RFC3261_F1_INVITE;
  const b = F.RFC3261_F6_RINGING;
  const both = Buffer.concat([Buffer.from('\r\n\r\n'), a, b]);
  for (let n = 0; n < 4 + a.length; n++) {
    const r = parseSip(both.subarray(0, n), { stream: true });
    assert.equal(r.ok, false, `prefix ${n}`);
    if (!r.ok) assert.ok(r.error.code === 'incomplete' || r.error.code === 'keepalive', `prefix ${n}: ${r.error.code}`);
  }
  const r1 = parseSip(both, { stream: true });
  assert.ok(r1.ok);
  assert.equal(r1.consumed, 4 + a.length);
  assert.ok(serializeSip(r1.msg).equals(a));
  const rest = both.subarray(r1.consumed);
  const r2 = parseSip(rest, { stream: true });
  assert.ok(r2.ok);
  assert.equal(r2.consumed, b.length);
  assert.ok(serializeSip(r2.msg).equals(b));

  const ka = parseSip(Buffer.from('\r\n\r\n'), { stream: true });
  assert.ok(!ka.ok && ka.error.code === 'keepalive' && ka.error.consumed === 4);
  const empty = parseSip(Buffer.alloc(0), { stream: true });
  assert.ok(!empty.ok && empty.error.code === 'incomplete');

  // Content-Length is mandatory on streams
  const noCl = F.wire(F.RFC3261_F12_ACK.toString().replace('Content-Length: 0\r\n', ''));
  const e = err(parseSip(noCl, { stream: true }));
  assert.equal(e.code, 'missing-content-length');
  assert.equal(e.canReply, true);
});

test('maximum message size', () => {
  const big = F.withBody(`MESSAGE sip:bob@example.com SIP/2.0
Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKbig
To: <sip:bob@example.com>
From: <sip:alice@example.com>;tag=1
Call-ID: big@192.0.2.1
CSeq: 1 MESSAGE
Max-Forwards: 70
Content-Length: 70000

`, Buffer.alloc(70000, 0x61));
  assert.equal(err(parseSip(big)).code, 'too-large');
  assert.ok(parseSip(big, { maxSize: 100_000 }).ok);
  assert.equal(err(parseSip(big, { stream: true })).code, 'too-large');
  // stream: a header section that never ends is too large once past the limit
  const endless = Buffer.concat([Buffer.from('OPTIONS sip:a@b SIP/2.0\r\n'), Buffer.alloc(2000, 0x61)]);
  assert.equal(err(parseSip(endless, { stream: true, maxSize: 1000 })).code, 'too-large');
  assert.equal(err(parseSip(endless, { stream: true })).code, 'incomplete');
  assert.equal(err(parseSip(F.RFC3261_F1_INVITE, { maxSize: 100 })).code, 'too-large');
});

test('start line validation', () => {
  const tail = `\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nTo: <sip:a@b>\r\nFrom: <sip:c@d>;tag=1\r\nCall-ID: x\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n`;
  const cases: Array<[string, string]> = [
    ['OPTIONS sip:a@b SIP/2.0', ''],
    ['OPTIONS tel:+1-201-555-0123 SIP/2.0', ''],
    ['OPTIONS sips:[::1]:5061;transport=tls SIP/2.0', ''],
    ['OPTIONS http://example.com/x SIP/2.0', ''],
    ['OPTIONS sip:a@b sip/2.0', ''],
    ['OPT IONS sip:a@b SIP/2.0', 'bad-request-uri'],
    ['OPTIONS  sip:a@b SIP/2.0', 'bad-request-uri'],
    ['OPTIONS sip:a@b', 'bad-start-line'],
    ['OPTIONS sip:a@b SIP/2.1', 'bad-version'],
    ['OPTIONS sip:a@b HTTP/1.1', 'bad-start-line'],
    ['OPT(IONS sip:a@b SIP/2.0', 'bad-method'],
    [' OPTIONS sip:a@b SIP/2.0', 'bad-method'],
    ['OPTIONS sip: SIP/2.0', 'bad-request-uri'],
    ['OPTIONS sip:a@b:99999 SIP/2.0', 'bad-request-uri'],
    ['OPTIONS sip:a@[::1 SIP/2.0', 'bad-request-uri'],
    ['OPTIONS sip:a@b;x=%zz SIP/2.0', 'bad-request-uri'],
    ['SIP/2.0 200 OK', ''],
    ['SIP/2.0 200', ''],
    ['SIP/2.0 099 Low', 'bad-status'],
    ['SIP/2.0 4294967301 better not break the receiver', 'bad-status'],
    ['SIP/2.0 20 OK', 'bad-status'],
    ['SIP/3.0 200 OK', 'bad-version'],
  ];
  for (const [line, code] of cases) {
    const r = parseSip(Buffer.from(line + tail.replace('OPTIONS', line.startsWith('SIP') ? 'OPTIONS' : line.split(' ')[0] ?? '')));
    if (code === '') assert.ok(r.ok, `${line}: ${r.ok ? '' : r.error.code}`);
    else assert.equal(r.ok ? 'ok' : r.error.code, code, line);
  }
});

test('response parsing keeps reason phrase bytes (UTF-8)', () => {
  const b = F.wire(F.RFC3261_F6_RINGING.toString().replace('180 Ringing', '180 Ça sonne'));
  const m = ok(parseSip(b));
  assert.ok(m.type === 'response');
  assert.equal(m.reason, 'Ça sonne');
  assert.ok(serializeSip(m).equals(b));
});

test('header values are decoded lazily and unfolded', () => {
  const m = ok(parseSip(F.WSINV));
  const route = m.headers.find((h) => h.lname === 'route');
  assert.ok(route !== undefined);
  assert.equal(route.value, '<sip:services.example.com;lr;unknownwith=value;unknown-no-value>');
  const fromH = m.headers.find((h) => h.lname === 'from');
  assert.equal(fromH?.value, '"J Rosenberg \\\\\\""       <sip:jdrosen@example.com> ; tag = 98asjd8');
});

test('leading CRLFs before a UDP message are skipped; only CRLFs is a keep-alive', () => {
  const r = parseSip(Buffer.concat([Buffer.from('\r\n'), F.RFC3261_F12_ACK]));
  assert.ok(r.ok);
  assert.equal(r.consumed, F.RFC3261_F12_ACK.length + 2);
  assert.ok(serializeSip(r.msg).equals(F.RFC3261_F12_ACK));
  const ka = parseSip(Buffer.from('\r\n\r\n'));
  assert.ok(!ka.ok && ka.error.code === 'keepalive');
  const empty = parseSip(Buffer.alloc(0));
  assert.ok(!empty.ok && empty.error.code === 'empty');
});
