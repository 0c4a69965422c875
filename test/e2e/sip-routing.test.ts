/**
 * The proxy core of RFC 3261 §16 with hand-made SIP: parallel forking and best-response
 * selection, CANCEL of the other branches, Max-Forwards, retransmission absorption, the
 * strict-routing compatibility case, and media that follows a re-INVITE.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ProxyProcess, writeScript } from '../helpers/proxy-process.ts';
import { SipUa, answer, header, headers, sdp } from '../helpers/sip-ua.ts';

const LOOP = '127.0.0.1';
const PROXY = 62360;
const SCRIPT = `import { defineProxy } from 'switchyard';
import { callRouting, dialog, mediaRelay, registrar } from 'switchyard/modules';

export default defineProxy({
  listen: [{ dialect: 'sip', port: ${PROXY}, advertise: '${LOOP}', advertiseIPv6: '::1' }],
  // The test's peers send requests straight to other hosts on purpose: they are trusted to steer their routing.
  modules: [registrar({ minExpiresSec: 1 }), dialog(), callRouting({ relayFrom: ['127.0.0.0/8', '::1'] }), mediaRelay({ ports: '24400-24499', advertise: '${LOOP}' })],
  routes: {
    request(ctx) {
      const { msg } = ctx;
      if (msg.method === 'REGISTER') return ctx.register();
      if (msg.inDialog) return ctx.forwardCall();
      if (msg.method === 'INVITE') {
        ctx.engageMediaProxy();
        ctx.recordRoute();
      }
      return ctx.forwardCall();
    },
  },
});
`;

let proxy: ProxyProcess;
let seq = 0;
before(async () => { proxy = await ProxyProcess.start({ configFile: writeScript('sip-routing', SCRIPT) }); });
after(async () => { assert.equal(await proxy.stop(), 0); });

function request(ua: SipUa, method: string, o: { to?: string; ruri?: string; callId?: string; cseq?: number; branch?: string; extra?: string[]; body?: string; maxForwards?: number; toTag?: string } = {}): string {
  const to = o.to ?? 'bob';
  const body = o.body ?? '';
  return [
    `${method} ${o.ruri ?? `sip:${to}@${LOOP}:${PROXY}`} SIP/2.0`,
    `Via: SIP/2.0/UDP ${ua.hostport};branch=${o.branch ?? `z9hG4bK-t${++seq}`};rport`,
    `Max-Forwards: ${o.maxForwards ?? 70}`,
    `From: <sip:caller@${LOOP}>;tag=caller${seq}`,
    `To: <sip:${to}@${LOOP}>${o.toTag !== undefined ? `;tag=${o.toTag}` : ''}`,
    `Call-ID: ${o.callId ?? `call-${seq}`}`,
    `CSeq: ${o.cseq ?? 1} ${method}`,
    ...(method === 'REGISTER' ? [] : [`Contact: <sip:caller@${ua.hostport}>`]),
    ...(o.extra ?? []),
    ...(body !== '' ? ['Content-Type: application/sdp'] : []),
    `Content-Length: ${Buffer.byteLength(body)}`, '', body,
  ].join('\r\n');
}

async function register(ua: SipUa, user: string, callId: string): Promise<void> {
  ua.send(request(ua, 'REGISTER', { to: user, callId, extra: [`Contact: <sip:${user}@${ua.hostport}>`, 'Expires: 60'] }), PROXY);
  assert.match(await ua.next(/^SIP\/2\.0 /), /^SIP\/2\.0 200 OK/);
}

describe('forking', () => {
  test('an INVITE rings every contact; the first 2xx goes to the caller and the other branch is cancelled', async () => {
    // Two phones at two addresses: contacts at one address that never answered ring one at a time.
    const [caller, phone1, phone2] = await Promise.all([SipUa.open(), SipUa.open(), SipUa.open('127.0.0.2')]);
    await register(phone1, 'fork1', 'reg-f1');
    await register(phone2, 'fork1', 'reg-f2');
    caller.send(request(caller, 'INVITE', { to: 'fork1', body: sdp(LOOP, 40000) }), PROXY);
    const [inv1, inv2] = await Promise.all([phone1.next(/^INVITE /), phone2.next(/^INVITE /)]);
    assert.notEqual(header(inv1, 'Via'), header(inv2, 'Via'), 'each branch has its own Via branch');
    assert.match(inv1.split('\r\n')[0]!, new RegExp(`^INVITE sip:fork1@${LOOP}:${phone1.port} `), 'Request-URI = the contact');
    phone1.send(answer(inv1, '180 Ringing', { tag: 'p1' }), PROXY);
    phone2.send(answer(inv2, '180 Ringing', { tag: 'p2' }), PROXY);
    phone2.send(answer(inv2, '200 OK', { tag: 'p2', contact: `sip:fork1@${phone2.hostport}`, body: sdp(LOOP, 40002) }), PROXY);
    const ok = await caller.next(/^SIP\/2\.0 200/);
    assert.match(header(ok, 'To')!, /tag=p2/);
    assert.match(ok, /\r\nc=IN IP4 127\.0\.0\.1\r\n/);
    assert.doesNotMatch(ok, /m=audio 40002 /, 'the answer points at the relay');
    const cancel = await phone1.next(/^CANCEL /);
    assert.equal(header(cancel, 'Via'), header(inv1, 'Via')?.split(',')[0], 'CANCEL has the branch of the INVITE it cancels');
    phone1.send(answer(cancel, '200 OK', { tag: 'p1' }), PROXY);
    phone1.send(answer(inv1, '487 Request Terminated', { tag: 'p1' }), PROXY);
    const ack = await phone1.next(/^ACK /);
    assert.match(header(ack, 'CSeq')!, /ACK$/, 'the proxy ACKs the 487 itself');
    await new Promise((r) => setTimeout(r, 150));
    assert.ok(!caller.inbox.some((m) => m.startsWith('SIP/2.0 487')), 'the 487 does not reach the caller');
    for (const u of [caller, phone1, phone2]) u.close();
  });

  test('when every branch fails the best response wins: 6xx over 4xx; a 503 goes up as 500', async () => {
    // Two phones at two addresses: contacts at one address that never answered ring one at a time.
    const [caller, phone1, phone2] = await Promise.all([SipUa.open(), SipUa.open(), SipUa.open('127.0.0.2')]);
    await register(phone1, 'fork2', 'reg-f3');
    await register(phone2, 'fork2', 'reg-f4');
    caller.send(request(caller, 'INVITE', { to: 'fork2' }), PROXY);
    const [a, b] = await Promise.all([phone1.next(/^INVITE /), phone2.next(/^INVITE /)]);
    phone1.send(answer(a, '486 Busy Here', { tag: 'x1' }), PROXY);
    await phone1.next(/^ACK /);
    assert.deepEqual(caller.inbox.filter((m) => !m.startsWith('SIP/2.0 100')), [], 'nothing final until every branch answered');
    phone2.send(answer(b, '603 Decline', { tag: 'x2' }), PROXY);
    assert.match(await caller.next(/^SIP\/2\.0 [3-6]/), /^SIP\/2\.0 603 Decline/);

    caller.send(request(caller, 'INVITE', { to: 'fork2' }), PROXY);
    const [c, d] = await Promise.all([phone1.next(/^INVITE /), phone2.next(/^INVITE /)]);
    phone1.send(answer(c, '503 Service Unavailable', { tag: 'y1' }), PROXY);
    phone2.send(answer(d, '503 Service Unavailable', { tag: 'y2' }), PROXY);
    assert.match(await caller.next(/^SIP\/2\.0 [3-6]/), /^SIP\/2\.0 500 /);
    for (const u of [caller, phone1, phone2]) u.close();
  });
});

describe('proxy core', () => {
  test('Max-Forwards 0 gets 483; a retransmitted INVITE is absorbed (the callee sees it once)', async () => {
    const [caller, phone] = await Promise.all([SipUa.open(), SipUa.open()]);
    caller.send(request(caller, 'INVITE', { maxForwards: 0 }), PROXY);
    assert.match(await caller.next(/^SIP\/2\.0 /), /^SIP\/2\.0 483 /);
    await register(phone, 'retx', 'reg-r1');
    const inv = request(caller, 'INVITE', { to: 'retx' });
    caller.send(inv, PROXY);
    await phone.next(/^INVITE /);
    caller.send(inv, PROXY);
    caller.send(inv, PROXY);
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(phone.inbox.filter((m) => m.startsWith('INVITE')).length, 0, 'retransmissions never reach the callee');
    assert.ok(caller.inbox.filter((m) => m.startsWith('SIP/2.0 100')).length >= 2, 'each retransmission gets the last response again');
    for (const u of [caller, phone]) u.close();
  });

  test('OPTIONS to the proxy itself is answered 200 with Allow and Accept; to a user it is forwarded; with Max-Forwards 0 it goes no further (483)', async () => {
    const [caller, phone] = await Promise.all([SipUa.open(), SipUa.open()]);
    caller.send(request(caller, 'OPTIONS', { ruri: `sip:${LOOP}:${PROXY}` }), PROXY);
    const ok = await caller.next(/^SIP\/2\.0 /);
    assert.match(ok, /^SIP\/2\.0 200 OK\r\n/);
    assert.match(header(ok, 'Allow') ?? '', /\bINVITE\b.*\bOPTIONS\b.*\bREGISTER\b/);
    assert.equal(header(ok, 'Accept'), 'application/sdp');
    await register(phone, 'optme', 'reg-opt1');
    caller.send(request(caller, 'OPTIONS', { to: 'optme' }), PROXY);
    const forwarded = await phone.next(/^OPTIONS /);
    assert.match(forwarded, /^OPTIONS sip:optme@/);
    phone.send(answer(forwarded, '200 OK', { tag: 'ph' }), PROXY);
    assert.match(await caller.next(/^SIP\/2\.0 /), /^SIP\/2\.0 200 OK/);
    caller.send(request(caller, 'OPTIONS', { to: 'optme', maxForwards: 0 }), PROXY);
    assert.match(await caller.next(/^SIP\/2\.0 /), /^SIP\/2\.0 483 /, 'it may go no further, and the proxy is not its recipient');
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(phone.inbox.filter((m) => m.startsWith('OPTIONS')).length, 0, 'an OPTIONS with Max-Forwards 0 is never forwarded');
    for (const u of [caller, phone]) u.close();
  });

  test('strict-routing compatibility: a Request-URI that is our Record-Route URI is restored from the last Route', async () => {
    const [caller, phone] = await Promise.all([SipUa.open(), SipUa.open()]);
    caller.send(request(caller, 'BYE', { ruri: `sip:${LOOP}:${PROXY};lr`, toTag: 'z', extra: [`Route: <sip:bob@${phone.hostport}>`] }), PROXY);
    const bye = await phone.next(/^BYE /);
    assert.equal(bye.split('\r\n')[0], `BYE sip:bob@${phone.hostport} SIP/2.0`);
    assert.deepEqual(headers(bye, 'Route'), [], 'the Route that held the real target is gone');
    assert.match(header(bye, 'Via')!, new RegExp(`^SIP/2\\.0/UDP ${LOOP.replace(/\./g, '\\.')}:${PROXY};branch=z9hG4bK`));
    for (const u of [caller, phone]) u.close();
  });

  test('an in-dialog request with no Route whose Request-URI is the proxy itself gets 404, not a loop through the proxy', async () => {
    const caller = await SipUa.open();
    caller.send(request(caller, 'BYE', { ruri: `sip:bob@${LOOP}:${PROXY}`, toTag: 'gone' }), PROXY);
    assert.match(await caller.next(/^SIP\/2\.0 /), /^SIP\/2\.0 404 Not Here\r\n/, 'not 483 after 70 hops through itself');
    caller.close();
  });

  test('loose routing: our own Route is removed and the request goes to the next one', async () => {
    const [caller, phone] = await Promise.all([SipUa.open(), SipUa.open()]);
    caller.send(request(caller, 'INFO', { ruri: `sip:bob@${phone.hostport}`, toTag: 'z', extra: [`Route: <sip:${LOOP}:${PROXY};lr>`] }), PROXY);
    const info = await phone.next(/^INFO /);
    assert.deepEqual(headers(info, 'Route'), []);
    assert.equal(info.split('\r\n')[0], `INFO sip:bob@${phone.hostport} SIP/2.0`);
    phone.send(answer(info, '200 OK'), PROXY);
    assert.match(await caller.next(/^SIP\/2\.0 /), /^SIP\/2\.0 200 OK/);
    for (const u of [caller, phone]) u.close();
  });

  test('a finished non-INVITE (Timer J) answers its retransmission with the same response and forwards nothing', async () => {
    const [caller, phone] = await Promise.all([SipUa.open(), SipUa.open()]);
    const bye = request(caller, 'BYE', { ruri: `sip:bob@${phone.hostport}`, toTag: 'z' });
    caller.send(bye, PROXY);
    phone.send(answer(await phone.next(/^BYE /), '200 OK'), PROXY);
    const first = await caller.next(/^SIP\/2\.0 /);
    assert.match(first, /^SIP\/2\.0 200 OK/);
    caller.send(bye, PROXY);
    assert.equal(await caller.next(/^SIP\/2\.0 /), first, 'the very same 200 again');

    const reg = request(caller, 'REGISTER', { to: 'jtimer', callId: 'reg-j1', extra: [`Contact: <sip:jtimer@${caller.hostport}>`, 'Expires: 60'] });
    caller.send(reg, PROXY);
    const registered = await caller.next(/^SIP\/2\.0 /);
    assert.match(registered, /^SIP\/2\.0 200 OK/);
    caller.send(reg, PROXY); // the same CSeq again: the registrar would refuse it, the transaction answers it
    assert.equal(await caller.next(/^SIP\/2\.0 /), registered);
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(phone.inbox.filter((m) => m.startsWith('BYE')).length, 0, 'the retransmitted BYE never reached the callee');
    for (const u of [caller, phone]) u.close();
  });
});

describe('IPv6', () => {
  test('an IPv4 caller reaches an IPv6 phone: Via in the callee\'s family, double Record-Route, BYE back through both', async () => {
    const [caller, phone] = await Promise.all([SipUa.open(LOOP), SipUa.open('::1')]);
    phone.send(request(phone, 'REGISTER', { to: 'six', callId: 'reg-six', extra: [`Contact: <sip:six@${phone.hostport}>`, 'Expires: 60'] }), PROXY, '::1');
    assert.match(await phone.next(/^SIP\/2\.0 /), /^SIP\/2\.0 200 OK/);
    caller.send(request(caller, 'INVITE', { to: 'six', callId: 'six-call', body: sdp(LOOP, 40020) }), PROXY);
    const inv = await phone.next(/^INVITE /);
    assert.match(inv.split('\r\n')[0]!, /^INVITE sip:six@\[::1\]:\d+ SIP\/2\.0$/);
    assert.match(header(inv, 'Via')!, new RegExp(`^SIP/2\\.0/UDP \\[::1\\]:${PROXY};branch=z9hG4bK`), 'our Via names us as the IPv6 phone can reach us');
    const mark = /;mark=([A-Za-z0-9_-]{12})>/.exec(headers(inv, 'Record-Route')[0] ?? '')?.[1];
    assert.deepEqual(headers(inv, 'Record-Route'), [`<sip:[::1]:${PROXY};lr;mark=${mark}>`, `<sip:${LOOP}:${PROXY};lr;mark=${mark}>`], 'both entries, one dialog mark');
    phone.send(answer(inv, '200 OK', { tag: 'v6', contact: `sip:six@${phone.hostport}`, body: sdp('::1', 40022) }), PROXY, '::1');
    const ok = await caller.next(/^SIP\/2\.0 200/);
    assert.deepEqual(headers(ok, 'Record-Route'), [`<sip:[::1]:${PROXY};lr;mark=${mark}>`, `<sip:${LOOP}:${PROXY};lr;mark=${mark}>`]);
    const bye = [
      `BYE sip:six@${phone.hostport} SIP/2.0`, `Via: SIP/2.0/UDP ${caller.hostport};branch=z9hG4bK-six-bye;rport`, 'Max-Forwards: 70',
      `From: ${header(ok, 'From')}`, `To: ${header(ok, 'To')}`, 'Call-ID: six-call', 'CSeq: 2 BYE',
      `Route: <sip:${LOOP}:${PROXY};lr;mark=${mark}>, <sip:[::1]:${PROXY};lr;mark=${mark}>`, 'Content-Length: 0', '', '',
    ].join('\r\n');
    caller.send(bye, PROXY);
    const got = await phone.next(/^BYE /);
    assert.deepEqual(headers(got, 'Route'), [], 'both of our Route entries are consumed');
    phone.send(answer(got, '200 OK'), PROXY, '::1');
    assert.match(header(await caller.next(/^SIP\/2\.0 [2-6]/), 'CSeq')!, /^2 BYE$/);
    for (const u of [caller, phone]) u.close();
  });
});

describe('parties whose Contact is not where they send from (NAT, their own TCP connection)', () => {
  test('in-dialog requests reach each party where its signaling came from: the proxy aliases the Contacts it passes', async () => {
    const [caller, phone] = await Promise.all([SipUa.open(), SipUa.open()]);
    await register(phone, 'natted', 'reg-nat1');
    // Both say they are at a private address that nothing here can reach.
    caller.send(request(caller, 'INVITE', { to: 'natted', callId: 'nat-call', extra: [], body: sdp(LOOP, 40030) }).replace(`Contact: <sip:caller@${caller.hostport}>`, 'Contact: <sip:caller@192.168.1.20:5062>'), PROXY);
    const inv = await phone.next(/^INVITE /);
    assert.equal(header(inv, 'Contact'), `<sip:caller@192.168.1.20:5062;alias=${LOOP}~${caller.port}~1>`, 'the caller\'s Contact carries where it really is');
    phone.send(answer(inv, '200 OK', { tag: 'nt', contact: 'sip:natted@10.9.8.7:5070', body: sdp(LOOP, 40032) }), PROXY);
    const ok = await caller.next(/^SIP\/2\.0 200/);
    assert.equal(header(ok, 'Contact'), `<sip:natted@10.9.8.7:5070;alias=${LOOP}~${phone.port}~1>`);
    // The callee hangs up: it sends to the caller's (aliased) Contact along the route set.
    const bye = [
      `BYE ${/<([^>]+)>/.exec(header(inv, 'Contact')!)![1]} SIP/2.0`, `Via: SIP/2.0/UDP ${phone.hostport};branch=z9hG4bK-nat-bye;rport`, 'Max-Forwards: 70',
      `From: ${header(ok, 'To')}`, `To: ${header(ok, 'From')}`, 'Call-ID: nat-call', 'CSeq: 1 BYE',
      `Route: ${headers(inv, 'Record-Route').join(', ')}`, 'Content-Length: 0', '', '',
    ].join('\r\n');
    phone.send(bye, PROXY);
    const got = await caller.next(/^BYE /);
    assert.equal(got.split('\r\n')[0], 'BYE sip:caller@192.168.1.20:5062 SIP/2.0', 'the alias is taken off again');
    caller.send(answer(got, '200 OK'), PROXY);
    assert.match(header(await phone.next(/^SIP\/2\.0 [2-6]/), 'CSeq')!, /^1 BYE$/);
    for (const u of [caller, phone]) u.close();
  });

  test('an alias in a request that did not come by our Record-Route is not followed', async () => {
    const [caller, victim, target] = await Promise.all([SipUa.open(), SipUa.open(), SipUa.open()]);
    caller.send([
      `BYE sip:x@${target.hostport};alias=${LOOP}~${victim.port}~1 SIP/2.0`, `Via: SIP/2.0/UDP ${caller.hostport};branch=z9hG4bK-alias-x;rport`, 'Max-Forwards: 70',
      `From: <sip:a@${LOOP}>;tag=1`, `To: <sip:x@${LOOP}>;tag=2`, 'Call-ID: alias-x', 'CSeq: 1 BYE', 'Content-Length: 0', '', '',
    ].join('\r\n'), PROXY);
    assert.match(await target.next(/^BYE /), /;alias=/, 'it goes where its Request-URI says, alias untouched');
    assert.equal(victim.inbox.length, 0);
    for (const u of [caller, victim, target]) u.close();
  });
});

describe('media follows the dialog', () => {
  test('early media in a 183 and an UPDATE mid-call go through the relay too', async () => {
    const [caller, phone] = await Promise.all([SipUa.open(), SipUa.open()]);
    await register(phone, 'early', 'reg-early');
    const callId = 'early-call';
    caller.send(request(caller, 'INVITE', { to: 'early', callId, body: sdp(LOOP, 40030) }), PROXY);
    const inv = await phone.next(/^INVITE /);
    const toCallee = Number(/m=audio (\d+) /.exec(inv)![1]);
    phone.send(answer(inv, '183 Session Progress', { tag: 'em', contact: `sip:early@${phone.hostport}`, body: sdp(LOOP, 40032) }), PROXY);
    const progress = await caller.next(/^SIP\/2\.0 183/);
    const toCaller = Number(/m=audio (\d+) /.exec(progress)![1]);
    assert.notEqual(toCaller, toCallee, 'the 183 answer points at the relay, at the caller\'s own leg');
    assert.match(progress, /\r\nc=IN IP4 127\.0\.0\.1\r\n/);
    phone.send(answer(inv, '200 OK', { tag: 'em', contact: `sip:early@${phone.hostport}` }), PROXY);
    const ok = await caller.next(/^SIP\/2\.0 200/);
    const update = [
      `UPDATE sip:early@${phone.hostport} SIP/2.0`, `Via: SIP/2.0/UDP ${caller.hostport};branch=z9hG4bK-upd${++seq};rport`, 'Max-Forwards: 70',
      `From: ${header(ok, 'From')}`, `To: ${header(ok, 'To')}`, `Call-ID: ${callId}`, 'CSeq: 2 UPDATE', `Route: ${header(ok, 'Record-Route')}`,
      `Contact: <sip:caller@${caller.hostport}>`, 'Content-Type: application/sdp', `Content-Length: ${Buffer.byteLength(sdp(LOOP, 40034))}`, '', sdp(LOOP, 40034),
    ].join('\r\n');
    caller.send(update, PROXY);
    const upd = await phone.next(/^UPDATE /);
    assert.equal(Number(/m=audio (\d+) /.exec(upd)![1]), toCallee, 'the UPDATE offer points at the callee\'s leg again');
    phone.send(answer(upd, '200 OK', { body: sdp(LOOP, 40036) }), PROXY);
    const updOk = await caller.next(/^SIP\/2\.0 200/);
    assert.equal(Number(/m=audio (\d+) /.exec(updOk)![1]), toCaller, 'and its answer at the caller\'s');
    for (const u of [caller, phone]) u.close();
  });

  test('a re-INVITE that moves the callee keeps the relay ports and relays from the new address', async () => {
    const [caller, phone] = await Promise.all([SipUa.open(), SipUa.open()]);
    await register(phone, 'reinv', 'reg-ri');
    const callId = 'reinvite-call';
    const from = proxy.logs.length; // a port may have served an earlier call: its end lines come after this
    caller.send(request(caller, 'INVITE', { to: 'reinv', callId, body: sdp(LOOP, 40010) }), PROXY);
    const inv = await phone.next(/^INVITE /);
    const toCallee = Number(/m=audio (\d+) /.exec(inv)![1]);
    phone.send(answer(inv, '200 OK', { tag: 'ri', contact: `sip:reinv@${phone.hostport}`, body: sdp(LOOP, 40012) }), PROXY);
    const ok = await caller.next(/^SIP\/2\.0 200/);
    const toCaller = Number(/m=audio (\d+) /.exec(ok)![1]);
    assert.notEqual(toCaller, toCallee, 'each side sends to a relay port of its own');
    const rr = header(ok, 'Record-Route')!;
    const inDialog = (method: string, from: SipUa, cseq: number, body?: string): string => [
      `${method} sip:caller@${caller.hostport} SIP/2.0`, `Via: SIP/2.0/UDP ${from.hostport};branch=z9hG4bK-rei${++seq};rport`, 'Max-Forwards: 70',
      `From: <sip:reinv@${LOOP}>;tag=ri`, `To: <sip:caller@${LOOP}>;tag=${/tag=([^;>\s]+)/.exec(header(ok, 'From')!)![1]}`,
      `Call-ID: ${callId}`, `CSeq: ${cseq} ${method}`, `Route: ${rr}`, `Contact: <sip:reinv@${from.hostport}>`,
      ...(body !== undefined ? ['Content-Type: application/sdp'] : []), `Content-Length: ${Buffer.byteLength(body ?? '')}`, '', body ?? '',
    ].join('\r\n');
    // The callee re-INVITEs from its side with media now at port 40014.
    phone.send(inDialog('INVITE', phone, 2, sdp(LOOP, 40014)), PROXY);
    const reinvite = await caller.next(/^INVITE /);
    assert.equal(Number(/m=audio (\d+) /.exec(reinvite)![1]), toCaller, 'the re-offer points at the caller\'s leg again');
    caller.send(answer(reinvite, '200 OK', { body: sdp(LOOP, 40010) }), PROXY);
    await phone.next(/^SIP\/2\.0 200/);
    const media = await Promise.all([SipUa.open(LOOP, 40010), SipUa.open(LOOP, 40014)]);
    try {
      media[1].send('from-callee', toCallee);
      assert.equal(await media[0].next(/^from-callee/), 'from-callee');
      media[0].send('from-caller', toCaller);
      assert.equal(await media[1].next(/^from-caller/), 'from-caller');
    } finally {
      for (const m of media) m.close();
    }
    phone.send(inDialog('BYE', phone, 3), PROXY);
    const bye = await caller.next(/^BYE /);
    caller.send(answer(bye, '200 OK'), PROXY);
    await phone.next(/^SIP\/2\.0 200/);
    await proxy.waitForLog((l) => l.msg === 'media session ended' && l.port === toCaller, 5000, from);
    for (const u of [caller, phone]) u.close();
  });
});
