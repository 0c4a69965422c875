/**
 * Overload control end to end, with deliberately tiny limits: past the cap on requests in
 * progress new INVITEs get 503 with Retry-After (and no transaction: their ACK ends at the
 * proxy) while the calls already let in complete, their ACK and BYE passing even at the limit;
 * a bounded flood cannot push more calls into the proxy than the cap; the proxy takes new calls
 * again as soon as the calls in progress end. Plain callers over a calls-per-second ceiling get
 * `CALL_FAILED … overloaded`.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ProxyProcess, writeScript, type LogLine } from '../helpers/proxy-process.ts';
import { PlainUser } from '../helpers/plain-client.ts';
import { SipUa, answer, header, headers } from '../helpers/sip-ua.ts';

const LOOP = '127.0.0.1';
const MAX_PENDING = 3;

const SIP_SCRIPT = `import { defineProxy } from 'switchyard';
import { callRouting, dialog, registrar } from 'switchyard/modules';

export default defineProxy({
  listen: [{ dialect: 'sip', port: 0, host: '${LOOP}', advertise: '${LOOP}' }],
  modules: [registrar(), dialog(), callRouting()],
  overload: { maxPending: ${MAX_PENDING}, retryAfterSec: 4 },
  routes: {
    request(ctx) {
      if (ctx.msg.method === 'REGISTER') return ctx.register();
      if (ctx.msg.inDialog) return ctx.forwardCall();
      ctx.recordRoute();
      return ctx.forwardCall();
    },
  },
});
`;

function listeningPort(p: ProxyProcess, dialect: string): number {
  const l = p.logs.find((x: LogLine) => x.msg === 'listening' && x.dialect === dialect && x.transport === 'udp');
  assert.ok(l !== undefined && typeof l.port === 'number', `no ${dialect} listener in the log`);
  return l.port;
}

let seq = 0;
function invite(ua: SipUa, port: number, o: { callId?: string; branch?: string } = {}): { text: string; callId: string } {
  const callId = o.callId ?? `ovl-${++seq}`;
  const text = [
    `INVITE sip:bob@${LOOP}:${port} SIP/2.0`,
    `Via: SIP/2.0/UDP ${ua.hostport};branch=${o.branch ?? `z9hG4bK-${callId}`};rport`,
    'Max-Forwards: 70', `From: <sip:alice@${LOOP}>;tag=a-${callId}`, `To: <sip:bob@${LOOP}>`, `Call-ID: ${callId}`, 'CSeq: 1 INVITE',
    `Contact: <sip:alice@${ua.hostport}>`, 'Content-Length: 0', '', '',
  ].join('\r\n');
  return { text, callId };
}

/** An in-dialog request (ACK, BYE) along the dialog the 200 set up: to the callee's Contact, through the proxy's Record-Route. */
function inDialog(method: 'ACK' | 'BYE', ua: SipUa, ok: string, cseq: number): string {
  const contact = /<([^>]+)>/.exec(header(ok, 'Contact')!)![1]!;
  const route = headers(ok, 'Record-Route').reverse();
  return [
    `${method} ${contact} SIP/2.0`, `Via: SIP/2.0/UDP ${ua.hostport};branch=z9hG4bK-${method}-${++seq};rport`,
    ...route.map((r) => `Route: ${r}`), 'Max-Forwards: 70', `From: ${header(ok, 'From')}`, `To: ${header(ok, 'To')}`,
    `Call-ID: ${header(ok, 'Call-ID')}`, `CSeq: ${cseq} ${method}`, 'Content-Length: 0', '', '',
  ].join('\r\n');
}

/** The ACK a caller sends for a failure response: the INVITE's branch, the response's To. */
function ackFor(inv: string, failure: string): string {
  return [
    `ACK ${inv.split(' ')[1]} SIP/2.0`, `Via: ${header(inv, 'Via')}`, 'Max-Forwards: 70', `From: ${header(inv, 'From')}`, `To: ${header(failure, 'To')}`,
    `Call-ID: ${header(inv, 'Call-ID')}`, 'CSeq: 1 ACK', 'Content-Length: 0', '', '',
  ].join('\r\n');
}

describe('SIP: a tiny cap on requests in progress', () => {
  let proxy: ProxyProcess;
  let port: number;
  let caller: SipUa;
  let phone: SipUa;

  before(async () => {
    proxy = await ProxyProcess.start({ configFile: writeScript('overload-sip', SIP_SCRIPT), args: ['--no-warm-up'] });
    port = listeningPort(proxy, 'sip');
    [caller, phone] = await Promise.all([SipUa.open(), SipUa.open()]);
    phone.send([
      `REGISTER sip:${LOOP}:${port} SIP/2.0`, `Via: SIP/2.0/UDP ${phone.hostport};branch=z9hG4bK-reg-1;rport`, 'Max-Forwards: 70',
      `From: <sip:bob@${LOOP}>;tag=r1`, `To: <sip:bob@${LOOP}>`, 'Call-ID: ovl-reg', 'CSeq: 1 REGISTER', `Contact: <sip:bob@${phone.hostport}>`, 'Expires: 300', 'Content-Length: 0', '', '',
    ].join('\r\n'), port);
    assert.match(await phone.next(/^SIP\/2\.0 /), /^SIP\/2\.0 200 /);
  });

  after(async () => {
    caller.close();
    phone.close();
    assert.equal(await proxy.stop(), 0);
  });

  test('past the cap new INVITEs get 503 with Retry-After; calls let in complete, their ACK and BYE pass at the limit', async () => {
    // Three calls ring (the cap), the phone holds them.
    const ringing: { inv: { text: string; callId: string }; atPhone: string }[] = [];
    for (let i = 0; i < MAX_PENDING; i++) {
      const inv = invite(caller, port);
      caller.send(inv.text, port);
      ringing.push({ inv, atPhone: await phone.next(/^INVITE /) });
      assert.match(await caller.next(/^SIP\/2\.0 100 /), /100 Trying/);
    }
    const refused = invite(caller, port);
    caller.send(refused.text, port);
    const r503 = await caller.next(/^SIP\/2\.0 503 /);
    assert.equal(header(r503, 'Call-ID'), refused.callId);
    const retryAfter = Number(header(r503, 'Retry-After'));
    assert.ok(retryAfter >= 4 && retryAfter <= 8, `Retry-After: ${retryAfter}`);
    assert.match(header(r503, 'To')!, /;tag=/);
    // Its ACK ends at the proxy; a retransmission of a call let in is its transaction's, not refused.
    caller.send(ackFor(refused.text, r503), port);
    caller.send(ringing[0]!.inv.text, port);
    assert.match(await caller.next(/^SIP\/2\.0 /), /^SIP\/2\.0 100 /, 'the repeated INVITE of a call in progress gets its 100 again');

    // The first call is answered; its ACK and BYE go through though the cap is still held by the other two... and a third.
    phone.send(answer(ringing[0]!.atPhone, '200 OK', { tag: 'p0', contact: `sip:bob@${phone.hostport}` }), port);
    const ok = await caller.next(/^SIP\/2\.0 200 /);
    const another = invite(caller, port);
    caller.send(another.text, port);
    const anotherAtPhone = await phone.next(/^INVITE /);
    assert.equal(header(anotherAtPhone, 'Call-ID'), another.callId, 'the answered call freed a place');
    caller.send(inDialog('ACK', caller, ok, 1), port);
    assert.equal(header(await phone.next(/^ACK /), 'Call-ID'), ringing[0]!.inv.callId);
    caller.send(inDialog('BYE', caller, ok, 2), port);
    const bye = await phone.next(/^BYE /);
    phone.send(answer(bye, '200 OK'), port);
    assert.match(await caller.next(/^SIP\/2\.0 200 /), /CSeq: 2 BYE/);
    assert.deepEqual(phone.inbox.filter((m) => header(m, 'Call-ID') === refused.callId), [], 'the refused call never reached the phone');

    // Everything still ringing fails: the proxy is below its cap again and takes a new call.
    for (const m of [ringing[1]!.atPhone, ringing[2]!.atPhone, anotherAtPhone]) phone.send(answer(m, '486 Busy Here', { tag: 'busy' }), port);
    for (let i = 0; i < 3; i++) await caller.next(/^SIP\/2\.0 486 /);
    const later = invite(caller, port);
    caller.send(later.text, port);
    const laterAtPhone = await phone.next(/^INVITE /);
    assert.equal(header(laterAtPhone, 'Call-ID'), later.callId);
    phone.send(answer(laterAtPhone, '486 Busy Here', { tag: 'busy' }), port);
    await caller.next(/^SIP\/2\.0 486 /);
  });

  test('a bounded flood of new INVITEs: at most the cap reaches the phone, every other one is refused once, the proxy recovers', async () => {
    phone.inbox.length = 0;
    caller.socket.setRecvBufferSize(4 << 20); // the answers to a flood come as one
    const FLOOD = 400;
    const sent = new Map<string, string>();
    for (let i = 0; i < FLOOD; i++) {
      const inv = invite(caller, port, { callId: `flood-${i}` });
      sent.set(inv.callId, inv.text);
      caller.send(inv.text, port);
    }
    const refused = new Set<string>();
    let refusals = 0;
    while (refused.size + MAX_PENDING < FLOOD) {
      const r = await caller.next(/^SIP\/2\.0 503 /, 5000);
      refusals++;
      refused.add(header(r, 'Call-ID')!);
      caller.send(ackFor(sent.get(header(r, 'Call-ID')!)!, r), port);
    }
    // What reached the phone (the proxy repeats an unanswered INVITE every T1: wait for a quiet moment).
    const reached = new Map<string, string>();
    for (;;) {
      const m = await phone.next(/^INVITE /, 300).catch(() => null);
      if (m === null) break;
      reached.set(header(m, 'Call-ID')!, m);
    }
    assert.equal(reached.size, MAX_PENDING, `${reached.size} INVITEs reached the phone`);
    assert.equal(refused.size + reached.size, FLOOD, 'each INVITE was either let in or refused');
    for (const id of reached.keys()) assert.ok(!refused.has(id));
    assert.equal(refusals, refused.size, 'no refusal was sent twice');
    assert.equal(caller.inbox.filter((m) => m.startsWith('SIP/2.0 503')).length, 0);
    // The flood stops, the calls it let in end: new calls get through again.
    for (const at of reached.values()) phone.send(answer(at, '486 Busy Here', { tag: 'b' }), port);
    const fresh = invite(caller, port);
    caller.send(fresh.text, port);
    assert.equal(header(await phone.next(/^INVITE /, 3000), 'Call-ID'), fresh.callId);
    const overLog = await proxy.waitForLog((l) => l.msg === 'overload: refusing part of the new requests (503 with Retry-After)');
    assert.equal(overLog.cause, 'pending');
  });
});

describe('plain: a calls-per-second ceiling', () => {
  let proxy: ProxyProcess;
  let port: number;

  before(async () => {
    const script = `import { defineProxy } from 'switchyard';
import { callRouting, dialog, mediaRelay, registrar } from 'switchyard/modules';

export default defineProxy({
  listen: [{ dialect: 'plain', port: 0, host: '${LOOP}' }],
  modules: [registrar(), dialog(), callRouting(), mediaRelay({ ports: '24800-24899' })],
  overload: { callsPerSecond: 1 },
  routes: {
    async request(ctx) {
      const { msg } = ctx;
      if (msg.method === 'REGISTER') return ctx.register();
      if (msg.method === 'INVITE') {
        ctx.engageMediaProxy();
        return ctx.forwardCall();
      }
      if (msg.method === 'BYE') {
        ctx.endMediaSession();
        return ctx.forwardCall();
      }
      return ctx.respond(501, 'unsupported request');
    },
  },
});
`;
    proxy = await ProxyProcess.start({ configFile: writeScript('overload-plain', script), args: ['--no-warm-up'] });
    port = listeningPort(proxy, 'plain');
  });

  after(async () => {
    assert.equal(await proxy.stop(), 0);
  });

  test('a CALL past the ceiling gets CALL_FAILED … overloaded; the call let in completes', async () => {
    const [alice, bob, carol] = await Promise.all([PlainUser.register('alice', port), PlainUser.register('bob', port), PlainUser.register('carol', port)]);
    await alice.send('CALL FROM:alice TO:bob\n');
    assert.equal(await bob.next(), 'CALL FROM:alice TO:bob\n');
    await carol.send('CALL FROM:carol TO:bob\r\n');
    assert.equal(await carol.next(), 'CALL_FAILED FROM:bob TO:carol overloaded\r\n');
    await bob.send('ACK_CALL FROM:bob TO:alice\n');
    assert.equal(await alice.next(), 'ACK_CALL FROM:bob TO:alice\n');
    assert.match(await alice.next(), /^MEDIA_PORT FROM:alice TO:bob \d+\n$/);
    assert.match(await bob.next(), /^MEDIA_PORT FROM:alice TO:bob \d+\n$/);
    await alice.send('BYE FROM:alice TO:bob\n');
    assert.equal(await bob.next(), 'BYE FROM:alice TO:bob\n');
    await Promise.all([alice.close(), bob.close(), carol.close()]);
  });
});
