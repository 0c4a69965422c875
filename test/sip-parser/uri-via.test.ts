import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  formatNameAddr, formatUri, isValidUri, parseNameAddr, parseUri, unescapeUri, uriHostPort,
} from '../../core/dialects/sip/codec/uri.ts';
import {
  MAGIC_COOKIE, formatVia, isRfc3261Branch, parseFirstVia, parseVia, parseViaList, removeViaParam, replaceFirstVia, setViaParam,
} from '../../core/dialects/sip/codec/via.ts';
import { getParam, quote, setParam, unquote } from '../../core/dialects/sip/codec/params.ts';

test('SIP URI components', () => {
  const u = parseUri('sip:alice:secret@atlanta.com:5070;transport=tcp;lr;maddr=239.255.255.1?subject=project%20x&priority=urgent');
  assert.ok(u !== null);
  assert.equal(u.scheme, 'sip');
  assert.equal(u.kind, 'sip');
  assert.equal(u.user, 'alice');
  assert.equal(u.password, 'secret');
  assert.equal(u.host, 'atlanta.com');
  assert.equal(u.hostType, 'hostname');
  assert.equal(u.port, 5070);
  assert.deepEqual(u.params, [
    { name: 'transport', value: 'tcp' }, { name: 'lr', value: null }, { name: 'maddr', value: '239.255.255.1' },
  ]);
  assert.deepEqual(u.headers, [{ name: 'subject', value: 'project%20x' }, { name: 'priority', value: 'urgent' }]);
  assert.equal(uriHostPort(u), 'atlanta.com:5070');

  const v4 = parseUri('sips:192.0.2.4');
  assert.equal(v4?.hostType, 'ipv4');
  assert.equal(v4?.kind, 'sips');
  assert.equal(v4?.user, undefined);
  const v6 = parseUri('sip:[2001:db8::10]:5060;transport=udp');
  assert.equal(v6?.host, '[2001:db8::10]');
  assert.equal(v6?.hostType, 'ipv6');
  assert.equal(v6?.port, 5060);
  const v6b = parseUri('sip:user@[::ffff:192.0.2.1]');
  assert.equal(v6b?.hostType, 'ipv6');

  const tel = parseUri('tel:+1-201-555-0123;phone-context=example.com');
  assert.equal(tel?.kind, 'tel');
  assert.equal(tel?.user, '+1-201-555-0123');
  assert.deepEqual(tel?.params, [{ name: 'phone-context', value: 'example.com' }]);
  const other = parseUri('urn:service:sos');
  assert.equal(other?.kind, 'other');
  assert.equal(other?.opaque, 'service:sos');
  assert.equal(parseUri('SIP:Bob@Example.COM')?.kind, 'sip');
});

test('URI round trip and rejection of malformed URIs', () => {
  const valid = [
    'sip:bob@biloxi.com',
    'sip:alice:secret@atlanta.com:5070;transport=tcp;lr?subject=project%20x&priority=urgent',
    'sips:1212@gateway.com',
    'sip:+1-212-555-1212:1234@gateway.com;user=phone',
    'sip:alice@192.0.2.4',
    'sip:atlanta.com;method=REGISTER?to=alice%40atlanta.com',
    'sip:alice;day=tuesday@atlanta.com',
    'sip:[2001:db8::10]',
    'sip:user@[2001:db8::1]:5061;transport=tls',
    'sip:sips%3Auser%40example.com@example.net',
    'sip:cal%6Cer@host5.example.net;%6C%72;n%61me=v%61lue%25%34%31',
    "sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:&it+has=1,weird!*pas$wo~d_too.(doesn't-it)@example.com",
    'sip:user:@host',
    'sip:user@host:05060',
    'sip:host;maddr=[::1]',
    'tel:+358-555-1234567;postd=pp22',
    'tel:7042;phone-context=example.com',
    'urn:service:sos',
    'http://www.example.com/a?b=c',
    'nobodyKnowsThisScheme:totallyopaquecontent',
  ];
  for (const s of valid) {
    const u = parseUri(s);
    assert.ok(u !== null, s);
    assert.equal(formatUri(u), s);
    assert.equal(isValidUri(s), true, s);
  }
  const invalid = [
    '', 'sip:', 'sip:@host', 'sip:user@', 'sip:2001:db8::10', 'sip:[2001:db8::10', 'sip:[not-ipv6]',
    'sip:host:99999', 'sip:host:', 'sip:host;', 'sip:host;=x', 'sip:host?', 'sip:us er@host', 'sip:user@ho st',
    'sip:user@host>', 'sip:%zz@host', 'sip:%4@host', '<sip:user@host>', 'tel:', '1sip:x', ':x', 'sip:h\u00e9st',
    'http:', 'x: y',
  ];
  for (const s of invalid) {
    assert.equal(parseUri(s), null, s);
    assert.equal(isValidUri(s), false, s);
  }
  const lz = parseUri('sip:h:0050');
  assert.equal(lz?.port, 50);
  if (lz !== null) { lz.port = 5060; assert.equal(formatUri(lz), 'sip:h:5060'); }
  assert.equal(unescapeUri('I%20have%20spaces'), 'I have spaces');
  assert.equal(unescapeUri('v%61lue%25%34%31'), 'value%41');
  assert.equal(unescapeUri('null-%00-null'), 'null-\x00-null');
  assert.equal(unescapeUri('%C3%A9t%C3%A9'), '\u00e9t\u00e9');
  assert.equal(unescapeUri('bad%zz'), 'bad%zz');
});

test('name-addr values (From/To/Contact/Route)', () => {
  const a = parseNameAddr('"Bob \\"B\\" Smith" <sip:bob@biloxi.com;transport=tcp>;tag=a6c85cf;q=0.7');
  assert.equal(a?.displayName, 'Bob "B" Smith');
  assert.equal(a?.displayRaw, '"Bob \\"B\\" Smith"');
  assert.equal(a?.uri, 'sip:bob@biloxi.com;transport=tcp');
  assert.equal(a?.angle, true);
  assert.deepEqual(a?.params, [{ name: 'tag', value: 'a6c85cf' }, { name: 'q', value: '0.7' }]);

  const b = parseNameAddr('Bob <sip:bob@biloxi.com>');
  assert.equal(b?.displayName, 'Bob');
  const c = parseNameAddr('sip:alice@atlanta.com;tag=88sja8x');
  assert.equal(c?.uri, 'sip:alice@atlanta.com');
  assert.equal(c?.angle, false);
  assert.equal(c && getParam(c.params, 'TAG'), '88sja8x');
  const d = parseNameAddr('<sip:p1.example.com;lr>');
  assert.equal(d?.uri, 'sip:p1.example.com;lr');
  assert.equal(d?.displayName, undefined);
  const star = parseNameAddr('*');
  assert.equal(star?.uri, '*');
  const e = parseNameAddr('  A. G. Bell   <sip:agb@bell-telephone.com> ;tag=a48s');
  assert.equal(e?.displayName, 'A. G. Bell');
  assert.equal(e && getParam(e.params, 'tag'), 'a48s');
  const exp = parseNameAddr('<sip:user@192.0.2.1:5060;ob>;expires=3600;+sip.instance="<urn:uuid:00000000-0000-1000-8000-AABBCCDDEEFF>"');
  assert.equal(exp && getParam(exp.params, 'expires'), '3600');
  assert.equal(exp && unquote(getParam(exp.params, '+sip.instance') ?? ''), '<urn:uuid:00000000-0000-1000-8000-AABBCCDDEEFF>');

  for (const bad of ['', '"unterminated <sip:a@b>', '<sip:a@b', 'Bob <>', 'sip:a@b;', 'not a uri', '<sip:a@b> junk']) {
    assert.equal(parseNameAddr(bad), null, bad);
  }
  // formatting
  assert.equal(formatNameAddr({ displayName: undefined, displayRaw: undefined, uri: 'sip:a@b;lr', angle: false, params: [] }), '<sip:a@b;lr>');
  const f = parseNameAddr('Alice <sip:alice@atlanta.com>;tag=1928301774');
  assert.ok(f !== null);
  setParam(f.params, 'tag', 'new');
  assert.equal(formatNameAddr(f), 'Alice <sip:alice@atlanta.com>;tag=new');
  assert.equal(quote('a"b\\c'), '"a\\"b\\\\c"');
  assert.equal(unquote(quote('a"b\\c')), 'a"b\\c');
});

test('Via parsing: protocol, transport, sent-by, params, rport', () => {
  const v = parseVia('SIP/2.0/UDP pc33.atlanta.com:5066;branch=z9hG4bK776asdhds;rport;received=192.0.2.1;ttl=16;maddr=224.2.0.1');
  assert.ok(v !== null);
  assert.equal(v.protocol, 'SIP');
  assert.equal(v.version, '2.0');
  assert.equal(v.transport, 'UDP');
  assert.equal(v.host, 'pc33.atlanta.com');
  assert.equal(v.port, 5066);
  assert.equal(v.branch, 'z9hG4bK776asdhds');
  assert.equal(v.hasRport, true);
  assert.equal(v.rport, undefined);
  assert.equal(v.received, '192.0.2.1');
  assert.equal(v.ttl, 16);
  assert.equal(v.maddr, '224.2.0.1');
  assert.equal(formatVia(v), 'SIP/2.0/UDP pc33.atlanta.com:5066;branch=z9hG4bK776asdhds;rport;received=192.0.2.1;ttl=16;maddr=224.2.0.1');

  // RFC 3581: fill in rport and received
  setViaParam(v, 'rport', '5067');
  setViaParam(v, 'received', '198.51.100.7');
  assert.equal(v.rport, 5067);
  assert.equal(v.received, '198.51.100.7');
  assert.equal(formatVia(v), 'SIP/2.0/UDP pc33.atlanta.com:5066;branch=z9hG4bK776asdhds;rport=5067;received=198.51.100.7;ttl=16;maddr=224.2.0.1');
  assert.equal(removeViaParam(v, 'maddr'), true);
  assert.equal(v.maddr, undefined);

  const ws = parseVia('SIP  /   2.0 /UDP 192.0.2.2;branch=390skdjuw');
  assert.equal(ws?.transport, 'UDP');
  assert.equal(ws?.host, '192.0.2.2');
  const sp = parseVia('SIP  / 2.0  / TCP     spindle.example.com   ; branch  =   z9hG4bK9ikj8  ');
  assert.equal(sp?.host, 'spindle.example.com');
  assert.equal(sp?.branch, 'z9hG4bK9ikj8');
  const v6 = parseVia('SIP/2.0/TCP [2001:db8::9:1]:5061 ; branch=z9hG4bKx');
  assert.equal(v6?.host, '[2001:db8::9:1]');
  assert.equal(v6?.port, 5061);
  assert.equal(parseVia('SIP/2.0/WSS df7jal23ls0d.invalid;branch=z9hG4bK56sdasks')?.transport, 'WSS');

  for (const bad of ['', 'SIP/2.0/UDP', 'SIP/2.0 host', 'SIP/2.0/UDPhost', 'SIP/2.0/UDP host:abc', 'SIP/2.0/UDP host:70000',
    'SIP/2.0/UDP [::1', 'SIP/2.0/UDP 192.0.2.15;;,;,,', 'SIP/2.0/UDP host;branch=', 'SIP/2.0/UDP host extra']) {
    assert.equal(parseVia(bad), null, bad);
  }
  const list = parseViaList('SIP/2.0/UDP a;branch=z9hG4bK1 , SIP/2.0/TCP b:5060;branch=z9hG4bK2');
  assert.deepEqual(list?.map((x) => x.host), ['a', 'b']);
  assert.equal(parseViaList(''), null);
});

test('magic cookie', () => {
  assert.equal(MAGIC_COOKIE, 'z9hG4bK');
  assert.equal(isRfc3261Branch('z9hG4bK776asdhds'), true);
  assert.equal(isRfc3261Branch('z9hG4bK'), false);
  assert.equal(isRfc3261Branch('390skdjuw'), false);
  assert.equal(isRfc3261Branch('Z9HG4BKabc'), false);
  assert.equal(isRfc3261Branch(undefined), false);
});

test('parseFirstVia reads only the first via-parm of a value, skipping empty elements', () => {
  const v = parseFirstVia(' , SIP/2.0/UDP a.example.com;branch=z9hG4bK1, SIP/2.0/UDP [bad');
  assert.equal(v?.host, 'a.example.com');
  assert.equal(v?.branch, 'z9hG4bK1');
  assert.equal(parseFirstVia(' , '), null);
  assert.equal(parseFirstVia('SIP/2.0/UDP'), null);
});

test('replaceFirstVia swaps the first via-parm and keeps the rest byte for byte', () => {
  const top = parseVia('SIP/2.0/UDP a.example.com;branch=z9hG4bK1;rport')!;
  setViaParam(top, 'rport', '5062');
  setViaParam(top, 'received', '192.0.2.7');
  const rest = ',SIP/2.0/TCP  b.example.com ;branch=z9hG4bK2 (comment)';
  assert.equal(replaceFirstVia(`SIP/2.0/UDP a.example.com;branch=z9hG4bK1;rport${rest}`, top), `${formatVia(top)}${rest}`);
  assert.equal(replaceFirstVia(`, SIP/2.0/UDP a.example.com;branch=z9hG4bK1;rport${rest}`, top), `${formatVia(top)}${rest}`);
  assert.equal(replaceFirstVia('SIP/2.0/UDP a.example.com;branch=z9hG4bK1;rport', top), formatVia(top));
});
