/**
 * The media-relay module as a route script lists it (with dialog, and ice-hints where a test
 * needs it), driven by synthetic media events in the shapes each engine emits: the plain
 * engine's two implicit descriptions at a call's answer, the SIP engine's SDP offers and
 * answers. The relay is the embedded one on loopback, media ports 25500-25699, each test on
 * its own 10-port slice; every registry is closed after its test.
 */
import { afterEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { buildContext } from '../../core/kernel/context.ts';
import { validateModules } from '../../core/kernel/validate-modules.ts';
import type { AnyModule } from '../../core/kernel/define-module.ts';
import { ModuleRegistry } from '../../core/kernel/module-registry.ts';
import { MessageContext } from '../../core/kernel/message-context.ts';
import { isMediaRefused, ProxyHooks, type TransactionView } from '../../core/kernel/hooks.ts';
import type { CoreServices } from '../../core/kernel/core-services.ts';
import { createRequest, createResponse, type SipMessage } from '../../core/dialects/sip/codec/message.ts';
import { hasSdpBody, sipMediaOffer, type SdpMediaOffer } from '../../core/dialects/sip/media-offer.ts';
import { toModel } from '../../core/dialects/sip/model.ts';
import { PlainMediaOffer } from '../../core/dialects/plain/media-offer.ts';
import type { Endpoint } from '../../core/lib/address.ts';
import type { Reply, Request } from '../../core/model/message.ts';
import { dialog, type DialogApi } from '../../modules/dialog/index.ts';
import { iceHints, type IceHintsApi } from '../../modules/ice-hints/index.ts';
import { mediaRelay, type EndMediaResult, type MediaRelayApi } from '../../modules/media-relay/index.ts';
import type { EmbeddedBackend } from '../../modules/media-relay/embedded-backend.ts';
import type { DialogFollow, MediaHints } from '../../modules/media-relay/module-apis.ts';
import type { MediaRelay } from '../../modules/media-relay/relay/media-relay.ts';
import { ALICE_ADDR, BOB_ADDR, fakeCore, plainReply, plainRequest, silentLog, snapshot, waitFor } from './_unit-fixtures.ts';

const ADVERTISE = '192.0.2.1';
let nextSlice = 25500;

interface Proxy {
  /** The hook bus as the engines drive it. */
  readonly hooks: ProxyHooks;
  readonly registry: ModuleRegistry;
  readonly relay: MediaRelay;
  readonly dialogs: DialogApi;
}

const registries: ModuleRegistry[] = [];
afterEach(async () => {
  for (const r of registries.splice(0)) await r.close();
});

/** dialog + media-relay (+ more modules) booted over a fake core; the relay on a fresh slice of `ports` ports. */
async function boot(o: { ports?: number; idleTimeoutSec?: number; extra?: readonly AnyModule[] } = {}): Promise<Proxy> {
  const min = nextSlice;
  nextSlice += 10;
  assert.ok(min + 9 <= 25699, 'test media port range 25500-25699 exhausted');
  const hooks = new ProxyHooks();
  const core: CoreServices = { ...fakeCore(), hooks };
  const modules: AnyModule[] = [
    dialog(),
    mediaRelay({ ports: `${min}-${min + (o.ports ?? 10) - 1}`, host: '127.0.0.1', engine: 'js', advertise: ADVERTISE, idleTimeoutSec: o.idleTimeoutSec ?? 600 }),
    ...(o.extra ?? []),
  ];
  const registry = await ModuleRegistry.boot(validateModules(modules), core, silentLog);
  registries.push(registry);
  const backend = registry.api<MediaRelayApi>('media-relay')!.backend as EmbeddedBackend;
  return { hooks, registry, relay: backend.mediaRelay, dialogs: registry.api<DialogApi>('dialog')! };
}

type Ctx = Record<string, (...args: unknown[]) => unknown>;

/** The `ctx` of a route run for `request` (a reply route when `reply` is given). */
function ctx(p: Proxy, request: Request, reply: Reply | null = null): Ctx {
  return buildContext(new MessageContext(reply === null ? 'request' : 'reply', request, snapshot(), silentLog, reply), p.registry) as unknown as Ctx;
}

function txnOf(request: Request, target: Endpoint): TransactionView {
  return { request, target, snapshot: snapshot() };
}

/** What the plain engine does when a call is forwarded: the dialog module follows it from here. */
async function forwardCall(p: Proxy, request: Request, target: Endpoint): Promise<void> {
  await p.hooks.emitRequestForward({ request, target, txn: txnOf(request, target) });
}

/** What the plain engine does at the callee's ACK_CALL: the caller's implicit description, then the callee's. */
async function plainAnswer(p: Proxy, request: Request, reply: Reply, callee: Endpoint): Promise<{ caller: PlainMediaOffer; callee: PlainMediaOffer }> {
  const txn = txnOf(request, callee);
  const callerOffer = new PlainMediaOffer(request.source);
  await p.hooks.emitMedia({ request, reply: null, txn, offer: () => callerOffer });
  const calleeOffer = new PlainMediaOffer(callee);
  await p.hooks.emitMedia({ request, reply, txn, offer: () => calleeOffer });
  return { caller: callerOffer, callee: calleeOffer };
}

const CALL = 'CALL FROM:alice TO:bob\n';
const ACK_CALL = 'ACK_CALL FROM:bob TO:alice\n';

describe('media-relay: the plain engine\'s descriptions', () => {
  test('an engaged call: both parties are told one shared port, the relay expects each at its signaling address', async () => {
    const p = await boot();
    const call = plainRequest(CALL, ALICE_ADDR);
    ctx(p, call).engageMediaProxy!();
    const { caller, callee } = await plainAnswer(p, call, plainReply(ACK_CALL, BOB_ADDR), BOB_ADDR);
    assert.ok(caller.mediaPort !== null);
    assert.equal(callee.mediaPort, caller.mediaPort, 'one port per call, the same MEDIA_PORT for both');
    const session = p.relay.sessionOn(caller.mediaPort)!;
    assert.deepEqual(session.key, { callId: call.callId, stream: 0, component: 'media' });
    assert.equal(p.relay.count, 1, 'one session, no RTCP');
    // The relay's IPv4 socket names the parties' mapped signaling addresses in IPv4 form.
    assert.deepEqual(session.expected('a'), { address: '127.0.0.1', port: ALICE_ADDR.port });
    assert.deepEqual(session.expected('b'), { address: '127.0.0.1', port: BOB_ADDR.port });
    assert.deepEqual(session.stats().parties.map((x) => x.name), ['alice', 'bob']);
  });

  test('useMediaProxy in the request route does the same', async () => {
    const p = await boot();
    const call = plainRequest(CALL, ALICE_ADDR);
    ctx(p, call).useMediaProxy!();
    const { caller, callee } = await plainAnswer(p, call, plainReply(ACK_CALL, BOB_ADDR), BOB_ADDR);
    assert.ok(caller.mediaPort !== null && caller.mediaPort === callee.mediaPort);
  });

  test('a call no route asked for is not relayed, and its events settle at once', async () => {
    const p = await boot();
    const call = plainRequest(CALL, ALICE_ADDR);
    const offer = new PlainMediaOffer(call.source);
    let read = false;
    const settled = p.hooks.emitMedia({ request: call, reply: null, txn: txnOf(call, BOB_ADDR), offer: () => { read = true; return offer; } });
    assert.equal(settled, undefined, 'no promise');
    assert.equal(read, false, 'the description is not even read');
    assert.equal(offer.mediaPort, null);
    assert.equal(p.relay.count, 0);
  });

  test('no free port: the caller\'s description is refused with 503 no media port, nothing left open', async () => {
    const p = await boot({ ports: 1 });
    const first = plainRequest('CALL FROM:carol TO:dave\n', { address: '::ffff:127.0.0.3', port: 40003 });
    ctx(p, first).engageMediaProxy!();
    await plainAnswer(p, first, plainReply('ACK_CALL FROM:dave TO:carol\n', { address: '::ffff:127.0.0.4', port: 40004 }), { address: '::ffff:127.0.0.4', port: 40004 });
    assert.equal(p.relay.count, 1);

    const call = plainRequest(CALL, ALICE_ADDR);
    ctx(p, call).engageMediaProxy!();
    const offer = new PlainMediaOffer(call.source);
    await assert.rejects(
      Promise.resolve(p.hooks.emitMedia({ request: call, reply: null, txn: txnOf(call, BOB_ADDR), offer: () => offer })),
      (err: unknown) => isMediaRefused(err) && err.status === 503 && err.reason === 'no media port',
    );
    assert.equal(offer.mediaPort, null);
    assert.equal(p.relay.count, 1);
    assert.equal(p.relay.totals.noPortFailures, 1);
  });

  test('idle media ends the call: the dialog ends with "timeout" and the port is freed', async () => {
    const p = await boot({ idleTimeoutSec: 0.2 });
    const call = plainRequest(CALL, ALICE_ADDR);
    ctx(p, call).engageMediaProxy!();
    await forwardCall(p, call, BOB_ADDR);
    const ended: string[] = [];
    p.dialogs.onEnded(({ reason }) => ended.push(reason));
    await plainAnswer(p, call, plainReply(ACK_CALL, BOB_ADDR), BOB_ADDR);
    await waitFor(() => ended.length > 0, 'the idle call to end', 10_000);
    assert.deepEqual(ended, ['timeout']);
    assert.equal(p.dialogs.get(call.callId), undefined);
    assert.equal(p.relay.count, 0);
  });

  test('BYE: endMediaSession returns the session\'s counters; the dialog\'s end then finds nothing more to end', async () => {
    const p = await boot();
    const call = plainRequest(CALL, ALICE_ADDR);
    ctx(p, call).engageMediaProxy!();
    await forwardCall(p, call, BOB_ADDR);
    const { caller } = await plainAnswer(p, call, plainReply(ACK_CALL, BOB_ADDR), BOB_ADDR);
    const bye = plainRequest('BYE FROM:alice TO:bob\n', ALICE_ADDR);
    const result = ctx(p, bye).endMediaSession!() as EndMediaResult;
    assert.ok(result.ok);
    assert.equal(result.stats.port, caller.mediaPort);
    assert.deepEqual(result.stats.parties.map((x) => [x.name, x.packets]), [['alice', 0], ['bob', 0]]);
    assert.deepEqual(ctx(p, bye).endMediaSession!(), { ok: false, reason: 'no-session' });
    await forwardCall(p, bye, BOB_ADDR);
    assert.equal(p.dialogs.get(call.callId), undefined);
    assert.equal(p.relay.count, 0);
  });

  test('the dialog\'s end (BYE without endMediaSession) ends the media; a new call between the same users starts afresh', async () => {
    const p = await boot();
    const call = plainRequest(CALL, ALICE_ADDR);
    ctx(p, call).engageMediaProxy!();
    await forwardCall(p, call, BOB_ADDR);
    const first = await plainAnswer(p, call, plainReply(ACK_CALL, BOB_ADDR), BOB_ADDR);
    await forwardCall(p, plainRequest('BYE FROM:bob TO:alice\n', BOB_ADDR), ALICE_ADDR);
    assert.equal(p.relay.count, 0);

    const again = plainRequest(CALL, ALICE_ADDR);
    ctx(p, again).engageMediaProxy!();
    await forwardCall(p, again, BOB_ADDR);
    const second = await plainAnswer(p, again, plainReply(ACK_CALL, BOB_ADDR), BOB_ADDR);
    assert.notEqual(second.caller.mediaPort, first.caller.mediaPort, 'round-robin: not the port just freed');
    assert.equal(p.relay.count, 1);
  });
});

// SIP messages: an INVITE from alice (tag a1) and bob's 200 OK (tag b1), each with an SDP body.

function sdp(...lines: string[]): string {
  return lines.map((l) => `${l}\r\n`).join('');
}

function sipHeaders(callId: string, toTag: string | null): [string, string][] {
  return [
    ['Via', 'SIP/2.0/UDP 198.51.100.10:5060;branch=z9hG4bK776asdhds'], ['From', '<sip:alice@example.com>;tag=a1'],
    ['To', `<sip:bob@example.com>${toTag === null ? '' : `;tag=${toTag}`}`], ['Call-ID', callId], ['CSeq', '1 INVITE'],
    ['Content-Type', 'application/sdp'],
  ];
}

function model(sip: SipMessage): Request | Reply {
  const r = toModel(sip, { listener: 'sip:udp:5060', source: { address: '198.51.100.10', port: 5060 } }, 'udp', null, Buffer.alloc(0));
  assert.ok(r.ok);
  return r.msg;
}

/** What the SIP engine does with a message it passes on (see test/unit/sip-media.test.ts). */
async function passSip(p: Proxy, msg: SipMessage, request: Request, reply: Reply | null): Promise<void> {
  assert.ok(hasSdpBody(msg));
  let offer: SdpMediaOffer | undefined;
  await p.hooks.emitMedia({ request, reply, txn: null, offer: () => (offer ??= sipMediaOffer(msg)) });
  offer?.writeTo(msg);
}

const ICE_OFFER = sdp(
  'v=0', 'o=alice 1 1 IN IP4 198.51.100.10', 's=-', 'c=IN IP4 198.51.100.10', 't=0 0', 'a=ice-ufrag:8hhY', 'a=ice-pwd:asd88fgpdd777uzjYhagZg',
  'm=audio 49170 RTP/AVP 0', 'a=candidate:1 1 UDP 2130706431 198.51.100.10 49170 typ host', 'a=candidate:1 2 UDP 2130706430 198.51.100.10 49171 typ host',
);
const ICE_ANSWER = sdp(
  'v=0', 'o=bob 1 1 IN IP4 203.0.113.20', 's=-', 'c=IN IP4 203.0.113.20', 't=0 0', 'a=ice-ufrag:9iiZ', 'a=ice-pwd:bsd88fgpdd777uzjYhagZh',
  'm=audio 40000 RTP/AVP 0', 'a=candidate:1 1 UDP 2130706431 203.0.113.20 40000 typ host', 'a=candidate:1 2 UDP 2130706430 203.0.113.20 40001 typ host',
);

async function sipCall(p: Proxy, callId: string): Promise<{ invite: SipMessage; ok: SipMessage; request: Request }> {
  const invite = createRequest({ method: 'INVITE', uri: 'sip:bob@example.com', headers: sipHeaders(callId, null), body: ICE_OFFER });
  const request = model(invite) as Request;
  ctx(p, request).engageMediaProxy!();
  await forwardCall(p, request, { address: '203.0.113.20', port: 5060 });
  await passSip(p, invite, request, null);
  const ok = createResponse({ status: 200, reason: 'OK', headers: sipHeaders(callId, 'b1'), body: ICE_ANSWER });
  await passSip(p, ok, request, model(ok) as Reply);
  return { invite, ok, request };
}

describe('media-relay: the SIP engine\'s descriptions', () => {
  test('offer and answer: each party is told its own leg of the stream\'s RTP/RTCP sessions; a quiet stream does not end the call', async () => {
    const p = await boot({ idleTimeoutSec: 0.2 });
    const ended: { key: unknown; reason: string }[] = [];
    p.relay.onEnd((s, reason) => ended.push({ key: s.key, reason }));
    const { invite, ok, request } = await sipCall(p, 'quiet-call');
    const toCallee = Number(/m=audio (\d+) /.exec(invite.body.toString())![1]);
    const toCaller = Number(/m=audio (\d+) /.exec(ok.body.toString())![1]);
    const rtp = p.relay.sessionOn(toCaller);
    assert.ok(rtp !== undefined);
    assert.deepEqual(rtp.ports, [toCaller, toCallee], 'the caller\'s leg, then the callee\'s');
    assert.equal(p.relay.count, 2);
    await waitFor(() => ended.length === 2, 'both sessions to go idle', 10_000);
    assert.deepEqual(ended.map((e) => e.reason), ['idle', 'idle']);
    assert.equal(p.dialogs.get(request.callId)?.state, 'early', 'the dialog lives on');
  });

  test('ice-hints gets the description and the relayed streams: a relay candidate toward each party, ICE removed toward the callee', async () => {
    const p = await boot({ extra: [iceHints({ candidate: 'low-priority', removeIce: 'callee' })] });
    const { invite, ok } = await sipCall(p, 'ice-call');
    const offer = invite.body.toString();
    const answer = ok.body.toString();
    const port = Number(/m=audio (\d+) /.exec(answer)![1]);
    assert.doesNotMatch(offer, /a=(ice-|candidate)/, 'the offer goes to the callee: ICE removed');
    assert.match(answer, new RegExp(`a=candidate:switchyard 1 UDP \\d+ ${ADVERTISE} ${port} typ relay raddr 203\\.0\\.113\\.20 rport 40000`));
    assert.match(answer, new RegExp(`a=candidate:switchyard 2 UDP \\d+ ${ADVERTISE} ${port + 1} typ relay raddr 203\\.0\\.113\\.20 rport 40001`));
    assert.match(answer, /a=ice-ufrag:9iiZ/);
  });

  test('after endMediaSession the call is not followed: a later answer passes unchanged', async () => {
    const p = await boot();
    const { request } = await sipCall(p, 'ended-call');
    const result = ctx(p, request).endMediaSession!() as EndMediaResult;
    assert.ok(result.ok);
    assert.equal(p.relay.count, 0);
    const late = createResponse({ status: 200, reason: 'OK', headers: sipHeaders('ended-call', 'b1'), body: ICE_ANSWER });
    const reply = model(late) as Reply;
    assert.equal(p.hooks.emitMedia({ request: { ...request }, reply, txn: null, offer: () => sipMediaOffer(late) }), undefined);
    assert.equal(late.body.toString(), ICE_ANSWER);
  });
});

describe('media-relay: what it uses of other modules', () => {
  test('the dialog and ice-hints apis provide what media-relay declares it needs', async () => {
    const p = await boot({ extra: [iceHints()] });
    const dialogs: DialogFollow = p.registry.api<DialogApi>('dialog')!;
    const hints: MediaHints = p.registry.api<IceHintsApi>('ice-hints')!;
    assert.equal(typeof dialogs.terminate, 'function');
    assert.equal(typeof hints.apply, 'function');
  });
});

describe('media-relay: engageMediaProxy({ relay, set })', () => {
  test('a relay or set is checked against the configured relays: a wrong name, an unknown key or none configured is the script\'s error', async () => {
    const embedded = await boot();
    assert.throws(() => ctx(embedded, plainRequest(CALL, ALICE_ADDR)).engageMediaProxy!({ relay: 'eu-1' }), /no remote relays are configured/);

    const hooks = new ProxyHooks();
    // Nothing answers NG on this port: the relays are only named here, never reached.
    const modules: AnyModule[] = [dialog(), mediaRelay({ relays: [{ name: 'eu-1', ng: '127.0.0.1:9', set: 'eu' }, { name: 'us-1', ng: '127.0.0.1:9', set: 'us' }] })];
    const registry = await ModuleRegistry.boot(validateModules(modules), { ...fakeCore(), hooks }, silentLog);
    registries.push(registry);
    const p: Proxy = { hooks, registry, relay: null as unknown as MediaRelay, dialogs: registry.api<DialogApi>('dialog')! };
    const call = plainRequest(CALL, ALICE_ADDR);
    assert.deepEqual(ctx(p, call).engageMediaProxy!({ relay: 'eu-1' }), { ok: true });
    assert.deepEqual(ctx(p, call).engageMediaProxy!({ set: 'us' }), { ok: true });
    assert.throws(() => ctx(p, call).engageMediaProxy!({ relay: 'eu-9' }), /relay: no relay named "eu-9"/);
    assert.throws(() => ctx(p, call).engageMediaProxy!({ set: 'asia' }), /set: no relay set named "asia"/);
    assert.throws(() => ctx(p, call).engageMediaProxy!({ relays: 'eu-1' }), /engageMediaProxy: .*relays/);
  });
});
