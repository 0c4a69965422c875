/**
 * SIP media through the relay: SDP offers and answers written by hand after RFC 4566 / RFC 3264 /
 * RFC 3605 / RFC 4317 examples and common softphones, passed as the SIP engine passes them (a
 * media event per message with an SDP body, the description written back when it changed) to
 * media-relay's handler over the embedded backend and a real MediaRelay on loopback. Media ports
 * used here: 25000-25499 only, each test on its own 10-port slice of that range; every relay
 * is closed after its test.
 */
import { after, afterEach, describe, test } from 'node:test';
import dgram from 'node:dgram';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { isMediaRefused, type MediaEvent } from '../../core/kernel/hooks.ts';
import { createRequest, createResponse, type SipMessage } from '../../core/dialects/sip/codec/message.ts';
import { parseSip } from '../../core/dialects/sip/codec/parse.ts';
import { serializeSip } from '../../core/dialects/sip/codec/serialize.ts';
import { getAttributes, getConnection, parseSdp, type Sdp } from '../../core/dialects/sip/codec/sdp.ts';
import { hasSdpBody, sipMediaOffer, type SdpMediaOffer } from '../../core/dialects/sip/media-offer.ts';
import { toModel } from '../../core/dialects/sip/model.ts';
import { createLogger, type Logger } from '../../core/lib/log.ts';
import { OpenMap } from '../../core/lib/open-map.ts';
import type { Reply, Request } from '../../core/model/message.ts';
import { EmbeddedBackend } from '../../modules/media-relay/embedded-backend.ts';
import { createMediaHandler, type FollowedCall, type MediaAsks } from '../../modules/media-relay/media-handler.ts';
import { PortBudget } from '../../modules/media-relay/port-budget.ts';
import { JsEngine } from '../../modules/media-relay/relay/js-engine.ts';
import { MediaRelay } from '../../modules/media-relay/relay/media-relay.ts';
import type { RelaySession } from '../../modules/media-relay/relay/engine.ts';
import { silentLog, waitFor } from './_unit-fixtures.ts';
import type { Endpoint } from '../../core/lib/address.ts';

const PORT_MIN = 25000;
const PORT_MAX = 25499;
const SLICE = 10;
const ADVERTISE = '192.0.2.1';
const ADVERTISE6 = '2001:db8::1';
const CALL_ID = 'a84b4c76e66710@pc33.atlanta.example.com';
const CALLER_TAG = '1928301774';

/** media-relay's handler over the embedded backend and a relay, as the module wires them. */
interface Relaying {
  readonly relay: MediaRelay;
  readonly asks: MediaAsks;
  readonly handler: (e: MediaEvent) => void | Promise<void>;
}

const relays: MediaRelay[] = [];
let nextSlice = PORT_MIN;

/** A relay on a fresh 10-port slice of 25000-25499 (even start, so pairs start there). */
function newRelaying(o: { host?: string; ports?: number; advertise?: string; log?: Logger; maxStreams?: number; budget?: number } = {}): Relaying {
  const min = nextSlice;
  const max = min + (o.ports ?? SLICE) - 1;
  nextSlice = min + Math.max(SLICE, o.ports ?? SLICE);
  assert.ok(max <= PORT_MAX, 'test media port range 25000-25499 exhausted: give tests smaller slices');
  const log = o.log ?? silentLog;
  const relay = new MediaRelay({ range: { min, max }, idleTimeoutMs: 600_000, relatchAfterSilentMs: 0 }, new JsEngine(o.host ?? '127.0.0.1'), log);
  relays.push(relay);
  const asks: MediaAsks = { engaged: new WeakSet(), usedRequests: new WeakSet(), usedReplies: new WeakSet(), choices: new WeakMap(), legs: new WeakMap() };
  const addresses = o.advertise !== undefined && o.advertise.includes(':') ? { ipv4: ADVERTISE, ipv6: o.advertise } : { ipv4: o.advertise ?? ADVERTISE, ipv6: ADVERTISE6 };
  const handler = createMediaHandler({
    backend: new EmbeddedBackend(relay, addresses), asks, calls: new OpenMap<FollowedCall>(), hints: undefined, log,
    limits: () => ({ maxStreamsPerCall: o.maxStreams ?? 16 }), budget: new PortBudget(() => o.budget ?? 1000),
  });
  return { relay, asks, handler };
}

function closeRelays(): void {
  for (const r of relays.splice(0)) r.close();
}
afterEach(closeRelays);
after(closeRelays);

/** A logger whose warnings the test reads. */
function capturingLog(): { log: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const destination = new Writable({ write(chunk, _enc, done) { lines.push(JSON.parse(String(chunk))); done(); } });
  return { log: createLogger({ level: 'warn', pretty: false, destination }), lines };
}

/** SDP text from lines, CRLF terminated (RFC 4566 §5). */
function sdp(...lines: string[]): string {
  return lines.map((l) => `${l}\r\n`).join('');
}

interface MessageOptions {
  readonly contentType?: string | null;
  readonly callId?: string;
  readonly fromTag?: string;
  /** A request inside the dialog (re-INVITE). */
  readonly toTag?: string;
}

function invite(body: string | Buffer, o: MessageOptions = {}): SipMessage {
  const headers: [string, string][] = [
    ['Via', 'SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds'],
    ['From', `Alice <sip:alice@atlanta.example.com>;tag=${o.fromTag ?? CALLER_TAG}`],
    ['To', `Bob <sip:bob@biloxi.example.com>${o.toTag === undefined ? '' : `;tag=${o.toTag}`}`],
    ['Call-ID', o.callId ?? CALL_ID],
    ['CSeq', '314159 INVITE'],
  ];
  if (o.contentType !== null) headers.push(['Content-Type', o.contentType ?? 'application/sdp']);
  return createRequest({ method: 'INVITE', uri: 'sip:bob@biloxi.example.com', headers, body });
}

function ok200(body: string | Buffer, o: MessageOptions = {}): SipMessage {
  const headers: [string, string][] = [
    ['Via', 'SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds'],
    ['From', `Alice <sip:alice@atlanta.example.com>;tag=${o.fromTag ?? CALLER_TAG}`],
    ['To', 'Bob <sip:bob@biloxi.example.com>;tag=a6c85cf'],
    ['Call-ID', o.callId ?? CALL_ID],
    ['CSeq', '314159 INVITE'],
  ];
  if (o.contentType !== null) headers.push(['Content-Type', o.contentType ?? 'application/sdp']);
  return createResponse({ status: 200, reason: 'OK', headers, body });
}

function model(sip: SipMessage): Request | Reply {
  const r = toModel(sip, { listener: 'sip:udp:5060', source: { address: '198.51.100.10', port: 5060 } }, 'udp', null, Buffer.alloc(0));
  assert.ok(r.ok);
  return r.msg;
}

function asRequest(sip: SipMessage): Request {
  const m = model(sip);
  assert.equal(m.type, 'request');
  return m;
}

function asReply(sip: SipMessage): Reply {
  const m = model(sip);
  assert.equal(m.type, 'reply');
  return m;
}

/**
 * What the SIP engine does with a message it passes on: a media event when the body is SDP, the
 * description written back when it changed. True when the body was rewritten.
 */
async function pass(r: Relaying, msg: SipMessage, request: Request, reply: Reply | null = null, branchTarget?: Endpoint): Promise<boolean> {
  if (!hasSdpBody(msg)) return false;
  let offer: SdpMediaOffer | undefined;
  const txn = branchTarget === undefined ? null : { request, target: branchTarget, snapshot: undefined as never };
  await r.handler({ request, reply, txn, offer: () => (offer ??= sipMediaOffer(msg)) });
  return offer !== undefined && offer.writeTo(msg);
}

/** An INVITE whose route engaged the relay, passed on; returns its model for the answer's event. */
async function offer(r: Relaying, msg: SipMessage, expectRewritten = true): Promise<Request> {
  const request = asRequest(msg);
  r.asks.engaged.add(request);
  assert.equal(await pass(r, msg, request), expectRewritten);
  return request;
}

function parsedBody(sip: SipMessage): Sdp {
  const r = parseSdp(sip.body);
  assert.ok(r.ok, `rewritten SDP must parse: ${r.ok ? '' : r.reason}\n${sip.body.toString()}`);
  return r.sdp;
}

function lines(sip: SipMessage): string[] {
  return sip.body.toString('utf8').split('\r\n');
}

/**
 * The relay sessions a rewritten SDP points stream `index` at: RTP on its m= port, RTCP on the
 * next; `rtpPort` and `rtcpPort` are those ports (the leg of the party that reads the SDP).
 */
function pair(r: Relaying, sip: SipMessage, index: number): { rtp: RelaySession; rtcp: RelaySession; rtpPort: number; rtcpPort: number } {
  const port = parsedBody(sip).media[index]!.port;
  const rtp = r.relay.sessionOn(port);
  const rtcp = r.relay.sessionOn(port + 1);
  assert.ok(rtp !== undefined && rtcp !== undefined, `stream ${index} is relayed on ${port}/${port + 1}`);
  return { rtp, rtcp, rtpPort: port, rtcpPort: port + 1 };
}

function assertPortPair(p: { rtp: RelaySession; rtcp: RelaySession }, callId: string, stream: number): void {
  assert.equal(p.rtp.port % 2, 0, `RTP port ${p.rtp.port} is even`);
  assert.equal(p.rtcp.port, p.rtp.port + 1, 'RTCP port is RTP + 1');
  assert.ok(p.rtp.port >= PORT_MIN && p.rtcp.port <= PORT_MAX, 'ports within the test range');
  assert.deepEqual(p.rtp.key, { callId, stream, component: 'rtp' });
  assert.deepEqual(p.rtcp.key, { callId, stream, component: 'rtcp' });
}

// ---------------------------------------------------------------------------
// SDP bodies (hostnames of the RFC examples replaced by documentation addresses)
// ---------------------------------------------------------------------------

/** RFC 4566 §5 example: session-level c= (multicast, with TTL), audio + video. */
const RFC4566_EXAMPLE = sdp(
  'v=0',
  'o=jdoe 2890844526 2890842807 IN IP4 10.47.16.5',
  's=SDP Seminar',
  'i=A Seminar on the session description protocol',
  'u=http://www.example.com/seminars/sdp.pdf',
  'e=j.doe@example.com (Jane Doe)',
  'c=IN IP4 224.2.17.12/127',
  't=2873397496 2873404696',
  'a=recvonly',
  'm=audio 49170 RTP/AVP 0',
  'm=video 51372 RTP/AVP 99',
  'a=rtpmap:99 h263-1998/90000',
);

/** RFC 4317 §2.1 offer (audio + video, several codecs each). */
const RFC4317_OFFER = sdp(
  'v=0',
  'o=alice 2890844526 2890844526 IN IP4 198.51.100.10',
  's=',
  'c=IN IP4 198.51.100.10',
  't=0 0',
  'm=audio 49170 RTP/AVP 0 8 97',
  'a=rtpmap:0 PCMU/8000',
  'a=rtpmap:8 PCMA/8000',
  'a=rtpmap:97 iLBC/8000',
  'm=video 51372 RTP/AVP 31 32',
  'a=rtpmap:31 H261/90000',
  'a=rtpmap:32 MPV/90000',
);

/** RFC 4317 §2.1 answer. */
const RFC4317_ANSWER = sdp(
  'v=0',
  'o=bob 2808844564 2808844564 IN IP4 203.0.113.20',
  's=',
  'c=IN IP4 203.0.113.20',
  't=0 0',
  'm=audio 49174 RTP/AVP 0',
  'a=rtpmap:0 PCMU/8000',
  'm=video 49170 RTP/AVP 32',
  'a=rtpmap:32 MPV/90000',
);

/** A Linphone-like offer: a=rtcp-fb / a=rtcp-xr (which are not a=rtcp), audio + video, no ICE. */
const LINPHONE_OFFER = sdp(
  'v=0',
  'o=alice 3045 2217 IN IP4 192.168.1.20',
  's=Talk',
  'c=IN IP4 192.168.1.20',
  't=0 0',
  'a=rtcp-xr:rcvr-rtt=all:10000 stat-summary=loss,dup,jitt,TTL voip-metrics',
  'a=record:off',
  'm=audio 7078 RTP/AVP 96 97 98 0 8 18 101 99 100',
  'a=rtpmap:96 opus/48000/2',
  'a=fmtp:96 useinbandfec=1',
  'a=rtpmap:97 speex/16000',
  'a=fmtp:97 vbr=on',
  'a=rtpmap:98 speex/8000',
  'a=fmtp:98 vbr=on',
  'a=fmtp:18 annexb=yes',
  'a=rtpmap:101 telephone-event/48000',
  'a=rtpmap:99 telephone-event/16000',
  'a=rtpmap:100 telephone-event/8000',
  'a=rtcp-fb:* trr-int 1000',
  'a=rtcp-fb:* ccm tmmbr',
  'm=video 9078 RTP/AVP 96 97',
  'a=rtpmap:96 VP8/90000',
  'a=rtpmap:97 H264/90000',
  'a=fmtp:97 profile-level-id=42801F',
  'a=rtcp-fb:* trr-int 1000',
  'a=rtcp-fb:* ccm tmmbr',
  'a=rtcp-fb:96 nack pli',
  'a=rtcp-fb:97 nack pli',
);

/** A Bria-like offer: media-level c= in each section, audio + video. */
const BRIA_OFFER = sdp(
  'v=0',
  'o=- 1694512345 3 IN IP4 192.168.0.33',
  's=Bria 6 release 6.5.4 stamp 106969',
  't=0 0',
  'm=audio 51620 RTP/AVP 9 8 0 101',
  'c=IN IP4 192.168.0.33',
  'a=rtpmap:101 telephone-event/8000',
  'a=fmtp:101 0-15',
  'a=sendrecv',
  'm=video 55862 RTP/AVP 125 97',
  'c=IN IP4 192.168.0.34',
  'b=TIAS:2000000',
  'a=rtpmap:125 H264/90000',
  'a=fmtp:125 profile-level-id=42E01F;packetization-mode=1',
  'a=rtpmap:97 H264/90000',
  'a=fmtp:97 profile-level-id=42E01F',
  'a=sendrecv',
);

/** A Zoiper-like answer: a=rtcp-mux without a=rtcp. */
const ZOIPER_ANSWER = sdp(
  'v=0',
  'o=Z 0 1 IN IP4 10.0.0.5',
  's=Z',
  'c=IN IP4 10.0.0.5',
  't=0 0',
  'm=audio 8000 RTP/AVP 0 101',
  'a=rtpmap:101 telephone-event/8000',
  'a=fmtp:101 0-16',
  'a=sendrecv',
  'a=rtcp-mux',
);

// ---------------------------------------------------------------------------

describe('relayed SDP: connection addresses and port pairs', () => {
  test('RFC 4566 example: session-level c= only, audio + video each get their own even/odd pair', async () => {
    const r = newRelaying();
    const msg = invite(RFC4566_EXAMPLE);
    await offer(r, msg);

    const out = parsedBody(msg);
    assert.equal(out.media.length, 2);
    const audio = pair(r, msg, 0);
    const video = pair(r, msg, 1);
    assertPortPair(audio, CALL_ID, 0);
    assertPortPair(video, CALL_ID, 1);
    assert.notEqual(audio.rtpPort, video.rtpPort, 'each stream has its own pair');
    assert.equal(r.relay.count, 4, 'two RTP and two RTCP sessions');
    assert.equal(r.relay.portsInUse, 8, 'an RTP/RTCP pair per party per stream');

    // the SDP now points at the relay, formats unchanged
    assert.deepEqual(out.media[0]!.formats, ['0']);
    assert.deepEqual(out.media[1]!.formats, ['99']);
    assert.deepEqual(getConnection(out), { netType: 'IN', addrType: 'IP4', address: ADVERTISE });
    assert.equal(out.session.filter((l) => l.type === 'c').length, 1, 'still exactly one session c=');
    assert.ok(out.media.every((m) => !m.lines.some((l) => l.type === 'c')), 'no media-level c= added');
    assert.deepEqual(getAttributes(out, 1, 'rtpmap'), ['99 h263-1998/90000']);
    assert.deepEqual(getAttributes(out, 'session', 'recvonly'), ['']);
    // no a=rtcp in the offer: none added
    assert.deepEqual(getAttributes(out, 0, 'rtcp'), []);

    // the relay expects the caller at the address the SDP gave (TTL suffix dropped), RTCP on port + 1
    assert.deepEqual(audio.rtp.expected('a'), { address: '224.2.17.12', port: 49170 });
    assert.deepEqual(audio.rtcp.expected('a'), { address: '224.2.17.12', port: 49171 });
    assert.deepEqual(video.rtp.expected('a'), { address: '224.2.17.12', port: 51372 });
    assert.deepEqual(video.rtcp.expected('a'), { address: '224.2.17.12', port: 51373 });
    // the callee has not answered yet
    assert.equal(audio.rtp.expected('b').port, 0);
    // the parties are named by their users
    assert.deepEqual(audio.rtp.stats().parties.map((p) => p.name), ['alice', 'bob']);
  });

  test('media-level c= (Bria-like): each section keeps its own c=, rewritten, and sets its own expected address', async () => {
    const r = newRelaying();
    const msg = invite(BRIA_OFFER);
    await offer(r, msg);
    const out = parsedBody(msg);
    assert.equal(out.session.some((l) => l.type === 'c'), false, 'no session-level c= added when each medium has one');
    for (const i of [0, 1]) {
      assert.deepEqual(out.media[i]!.lines.filter((l) => l.type === 'c').map((l) => l.value), [`IN IP4 ${ADVERTISE}`]);
    }
    const audio = pair(r, msg, 0);
    const video = pair(r, msg, 1);
    assertPortPair(audio, CALL_ID, 0);
    assertPortPair(video, CALL_ID, 1);
    assert.deepEqual(audio.rtp.expected('a'), { address: '192.168.0.33', port: 51620 });
    assert.deepEqual(video.rtp.expected('a'), { address: '192.168.0.34', port: 55862 });
    assert.deepEqual(video.rtcp.expected('a'), { address: '192.168.0.34', port: 55863 });
    assert.deepEqual(out.media[0]!.formats, ['9', '8', '0', '101']);
    assert.deepEqual(out.media[1]!.formats, ['125', '97']);
    assert.deepEqual(getAttributes(out, 1, 'fmtp'), ['125 profile-level-id=42E01F;packetization-mode=1', '97 profile-level-id=42E01F']);
    assert.ok(out.media[1]!.lines.some((l) => l.type === 'b' && l.value === 'TIAS:2000000'), 'b= kept');
  });

  test('a media-level c= wins over the session-level one for what the relay expects', async () => {
    const r = newRelaying();
    const msg = invite(sdp(
      'v=0', 'o=alice 1 1 IN IP4 198.51.100.10', 's=-', 'c=IN IP4 198.51.100.10', 't=0 0',
      'm=audio 49170 RTP/AVP 0',
      'm=video 51372 RTP/AVP 31',
      'c=IN IP4 198.51.100.99',
    ));
    await offer(r, msg);
    assert.equal(pair(r, msg, 0).rtp.expected('a').address, '198.51.100.10');
    assert.equal(pair(r, msg, 1).rtp.expected('a').address, '198.51.100.99');
    const out = parsedBody(msg);
    assert.equal(getConnection(out)!.address, ADVERTISE);
    assert.equal(getConnection(out, 1)!.address, ADVERTISE);
  });

  test('IPv6: c=IN IP6 offer, advertised ::1, is rewritten to IN IP6 ::1 (c= and a=rtcp)', async () => {
    const r = newRelaying({ host: '::1', advertise: '::1' });
    const msg = invite(sdp(
      'v=0',
      'o=alice 2890844526 2890844526 IN IP6 2001:db8::10',
      's=-',
      'c=IN IP6 2001:db8::10',
      't=0 0',
      'm=audio 49170 RTP/AVP 0 8 101',
      'a=rtpmap:101 telephone-event/8000',
      'a=rtcp:49171 IN IP6 2001:db8::10',
    ));
    await offer(r, msg);
    const p = pair(r, msg, 0);
    assertPortPair(p, CALL_ID, 0);
    assert.deepEqual(lines(msg), [
      'v=0',
      'o=alice 2890844526 2890844526 IN IP6 2001:db8::10',
      's=-',
      'c=IN IP6 ::1',
      't=0 0',
      `m=audio ${p.rtpPort} RTP/AVP 0 8 101`,
      'a=rtpmap:101 telephone-event/8000',
      `a=rtcp:${p.rtcpPort} IN IP6 ::1`,
      '',
    ]);
    assert.deepEqual(p.rtp.expected('a'), { address: '2001:db8::10', port: 49170 });
    assert.deepEqual(p.rtcp.expected('a'), { address: '2001:db8::10', port: 49171 });
  });

  test('each party is told the relay in its own family: IPv4 and IPv6 parties are bridged', async () => {
    const r = newRelaying({ host: '::', ports: 20 });
    // An IPv4 caller calls a callee its INVITE reaches over IPv6: the callee is told the IPv6 address.
    const offerMsg = invite(RFC4317_OFFER, { callId: 'v4-to-v6' });
    const request = asRequest(offerMsg);
    r.asks.engaged.add(request);
    assert.equal(await pass(r, offerMsg, request, null, { address: '2001:db8::20', port: 5060 }), true);
    assert.deepEqual(getConnection(parsedBody(offerMsg)), { netType: 'IN', addrType: 'IP6', address: ADVERTISE6 });
    // Its IPv6 answer goes back to the IPv4 caller: the IPv4 address.
    const answer = ok200(sdp('v=0', 'o=- 1 1 IN IP6 2001:db8::20', 's=-', 'c=IN IP6 2001:db8::20', 't=0 0', 'm=audio 40000 RTP/AVP 0', 'm=video 40002 RTP/AVP 31'), { callId: 'v4-to-v6' });
    assert.equal(await pass(r, answer, request, asReply(answer)), true);
    assert.deepEqual(getConnection(parsedBody(answer)), { netType: 'IN', addrType: 'IP4', address: ADVERTISE });
    assert.deepEqual(pair(r, answer, 0).rtp.expected('b'), { address: '2001:db8::20', port: 40000 });
    // A re-offer from the caller: the callee's own description now says IPv6, whatever the signaling.
    const reoffer = invite(RFC4317_OFFER, { callId: 'v4-to-v6', toTag: 'a6c85cf' });
    assert.equal(await pass(r, reoffer, asRequest(reoffer)), true);
    assert.deepEqual(getConnection(parsedBody(reoffer)), { netType: 'IN', addrType: 'IP6', address: ADVERTISE6 });

    // With nothing known of the reader, the offer's own family.
    const v6 = invite(sdp('v=0', 'o=- 1 1 IN IP6 2001:db8::30', 's=-', 'c=IN IP6 2001:db8::30', 't=0 0', 'm=audio 40000 RTP/AVP 0'), { callId: 'v6-call' });
    await offer(r, v6);
    assert.deepEqual(getConnection(parsedBody(v6)), { netType: 'IN', addrType: 'IP6', address: ADVERTISE6 });
  });

  test('a relay on a dual-stack socket expects an IPv4 party in its mapped form', async () => {
    const r = newRelaying({ host: '::1', advertise: '::1' });
    const msg = invite(RFC4317_OFFER);
    await offer(r, msg);
    assert.deepEqual(pair(r, msg, 0).rtp.expected('a'), { address: '::ffff:198.51.100.10', port: 49170 });
  });
});

describe('relayed SDP: streams left alone', () => {
  test('a rejected (port 0) stream and a non-RTP stream (TCP/BFCP) keep their m= lines and get no ports', async () => {
    const r = newRelaying();
    const msg = invite(sdp(
      'v=0',
      'o=alice 2890844526 2890844526 IN IP4 198.51.100.10',
      's=-',
      'c=IN IP4 198.51.100.10',
      't=0 0',
      'm=audio 49170 RTP/AVP 0',
      'm=video 0 RTP/AVP 31',
      'm=application 5000 TCP/BFCP *',
      'a=setup:actpass',
      'a=connection:new',
      'a=floorctrl:c-s',
      'a=confid:4321',
      'a=userid:1234',
      'a=floorid:1 mstrm:10',
    ));
    await offer(r, msg);
    const text = lines(msg);
    assert.ok(text.includes('m=video 0 RTP/AVP 31'), 'port-0 stream unchanged');
    assert.ok(text.includes('m=application 5000 TCP/BFCP *'), 'BFCP stream unchanged');
    for (const a of ['a=setup:actpass', 'a=connection:new', 'a=floorctrl:c-s', 'a=confid:4321', 'a=userid:1234', 'a=floorid:1 mstrm:10']) {
      assert.ok(text.includes(a), `${a} kept`);
    }
    assert.equal(r.relay.count, 2, 'only the audio stream is relayed');
    assert.equal(r.relay.portsInUse, 4);
    const p = pair(r, msg, 0);
    assertPortPair(p, CALL_ID, 0);
    assert.ok(text.includes(`m=audio ${p.rtpPort} RTP/AVP 0`));
  });

  test('a stream left alone keeps reaching its own address: the relayed one gets its own c=, the session c= stays', async () => {
    const r = newRelaying();
    const msg = invite(sdp(
      'v=0', 'o=alice 1 1 IN IP4 198.51.100.10', 's=-', 'c=IN IP4 198.51.100.10', 't=0 0',
      'm=audio 49170 RTP/AVP 0',
      'm=application 5000 TCP/BFCP *',
    ));
    await offer(r, msg);
    const text = lines(msg);
    const audio = text.indexOf(`m=audio ${pair(r, msg, 0).rtpPort} RTP/AVP 0`);
    const bfcp = text.indexOf('m=application 5000 TCP/BFCP *');
    assert.ok(text.indexOf('c=IN IP4 198.51.100.10') < audio, 'the session-level c= still names the BFCP peer');
    assert.equal(text[audio + 1], `c=IN IP4 ${ADVERTISE}`, 'the audio stream points at the relay with a c= of its own');
    assert.ok(!text.slice(bfcp).some((l) => l.startsWith('c=')), 'no c= added to the BFCP stream');
  });

  test('a=rtcp with an address (RFC 3605): the relay expects RTCP from that address', async () => {
    const r = newRelaying();
    const msg = invite(sdp(
      'v=0', 'o=alice 1 1 IN IP4 198.51.100.10', 's=-', 'c=IN IP4 198.51.100.10', 't=0 0',
      'm=audio 49170 RTP/AVP 0', 'a=rtcp:53020 IN IP4 198.51.100.99',
    ));
    await offer(r, msg);
    const p = pair(r, msg, 0);
    assert.deepEqual(p.rtcp.expected('a'), { address: '198.51.100.99', port: 53020 });
    assert.deepEqual(p.rtp.expected('a'), { address: '198.51.100.10', port: 49170 });
  });

  test('an SDP with only port-0 and non-RTP streams is not touched at all', async () => {
    const r = newRelaying();
    const body = Buffer.from(sdp(
      'v=0', 'o=alice 1 1 IN IP4 198.51.100.10', 's=-', 'c=IN IP4 198.51.100.10', 't=0 0',
      'm=audio 0 RTP/AVP 0',
      'm=application 5000 TCP/BFCP *',
      'm=message 2855 TCP/MSRP *',
      'a=path:msrp://198.51.100.10:2855/kjhd37s2s20w2a;tcp',
    ));
    const msg = invite(body);
    await offer(r, msg, false);
    assert.equal(msg.body, body, 'same body Buffer');
    assert.equal(r.relay.count, 0);
  });

  test('a request the relay cannot give every stream ports is refused 503, never passed unrelayed', async () => {
    const r = newRelaying({ ports: 4 }); // the two pairs of one stream only
    const msg = invite(RFC4317_OFFER);
    const request = asRequest(msg);
    r.asks.engaged.add(request);
    await assert.rejects(pass(r, msg, request), (err: unknown) => isMediaRefused(err) && err.status === 503 && err.reason === 'No Media Port');
    assert.equal(msg.body.toString(), RFC4317_OFFER, 'the description is not rewritten');
    assert.equal(r.relay.totals.noPortFailures, 1);
  });

  test('a description with more streams than maxStreamsPerCall is refused 488 before any port is taken', async () => {
    const r = newRelaying({ maxStreams: 3 });
    const body = sdp('v=0', 'o=a 1 1 IN IP4 198.51.100.10', 's=-', 'c=IN IP4 198.51.100.10', 't=0 0', ...Array.from({ length: 4 }, (_, i) => `m=audio ${40000 + 2 * i} RTP/AVP 0`));
    const msg = invite(body);
    const request = asRequest(msg);
    r.asks.engaged.add(request);
    await assert.rejects(pass(r, msg, request), (err: unknown) => isMediaRefused(err) && err.status === 488);
    assert.equal(r.relay.portsInUse, 0);
  });

  test('a source past its port budget is refused 503; another source is not', async () => {
    const r = newRelaying({ budget: 8, ports: 20 }); // a budget of two SIP streams
    const first = invite(RFC4317_OFFER, { callId: 'budget-1' }); // audio and video: 8 ports
    await offer(r, first);
    const second = invite(RFC4317_OFFER, { callId: 'budget-2' });
    const request = asRequest(second);
    r.asks.engaged.add(request);
    await assert.rejects(pass(r, second, request), (err: unknown) => isMediaRefused(err) && err.status === 503 && err.reason === 'Media Ports Exhausted For This Source');
    assert.equal(r.relay.count, 4, 'only the first call holds ports');
    const elsewhere = invite(RFC4317_OFFER, { callId: 'budget-3' });
    const fromElsewhere = { ...asRequest(elsewhere), source: { address: '192.0.2.99', port: 5060 } };
    r.asks.engaged.add(fromElsewhere);
    assert.equal(await pass(r, elsewhere, fromElsewhere), true);
  });

  test('a host name in c= is not resolved: its stream is left alone and logged, the other streams are relayed', async () => {
    const { log, lines: logged } = capturingLog();
    const r = newRelaying({ log });
    const msg = invite(sdp(
      'v=0', 'o=alice 1 1 IN IP4 pc33.atlanta.example.com', 's=-', 'c=IN IP4 pc33.atlanta.example.com', 't=0 0',
      'm=audio 49170 RTP/AVP 0',
      'm=video 51372 RTP/AVP 31', 'c=IN IP4 198.51.100.10',
      'm=audio 49172 RTP/AVP 0', 'a=rtcp:49173 IN IP4 rtcp.atlanta.example.com',
    ));
    await offer(r, msg);
    const text = lines(msg);
    const video = pair(r, msg, 1);
    assert.equal(r.relay.count, 2, 'only the video stream is relayed');
    assert.deepEqual(video.rtp.expected('a'), { address: '198.51.100.10', port: 51372 });
    assert.ok(text.includes('c=IN IP4 pc33.atlanta.example.com'), 'the session c= still names the host, for the audio streams');
    assert.ok(text.includes('m=audio 49170 RTP/AVP 0') && text.includes('m=audio 49172 RTP/AVP 0'), 'audio ports unchanged');
    assert.ok(text.includes('a=rtcp:49173 IN IP4 rtcp.atlanta.example.com'));
    assert.equal(text[text.indexOf(`m=video ${video.rtpPort} RTP/AVP 31`) + 1], `c=IN IP4 ${ADVERTISE}`);
    const warning = logged.find((l) => l.msg === 'stream not relayed: its address is not an IP literal');
    assert.ok(warning, 'logged');
    assert.deepEqual([warning.callId, warning.stream, warning.host], [CALL_ID, 0, 'pc33.atlanta.example.com']);
  });

  test('every stream at a host name: nothing is relayed, nothing refused, the body untouched', async () => {
    const r = newRelaying();
    const body = Buffer.from(sdp('v=0', 'o=- 1 1 IN IP4 pc33.atlanta.example.com', 's=-', 'c=IN IP4 pc33.atlanta.example.com', 't=0 0', 'm=audio 49170 RTP/AVP 0'));
    const msg = invite(body);
    await offer(r, msg, false);
    assert.equal(msg.body, body);
    assert.equal(r.relay.count, 0);
  });
});

describe('relayed SDP: RTCP', () => {
  test('a=rtcp (RFC 3605) is rewritten to the relay RTCP port with the advertised address; the relay expects RTCP from the given port', async () => {
    const r = newRelaying();
    const msg = invite(sdp(
      'v=0', 'o=alice 2890844526 2890844526 IN IP4 198.51.100.10', 's=-', 'c=IN IP4 198.51.100.10', 't=0 0',
      'm=audio 49170 RTP/AVP 0',
      'a=rtcp:53020',
      'a=rtcp-fb:* nack',
      'm=video 51372 RTP/AVP 31',
      'a=rtcp:53022 IN IP4 198.51.100.10',
    ));
    await offer(r, msg);
    const out = parsedBody(msg);
    const audio = pair(r, msg, 0);
    const video = pair(r, msg, 1);
    assert.deepEqual(getAttributes(out, 0, 'rtcp'), [`${audio.rtcpPort} IN IP4 ${ADVERTISE}`]);
    assert.deepEqual(getAttributes(out, 0, 'rtcp-fb'), ['* nack'], 'a=rtcp-fb is not a=rtcp');
    assert.deepEqual(getAttributes(out, 1, 'rtcp'), [`${video.rtcpPort} IN IP4 ${ADVERTISE}`]);
    assert.deepEqual(audio.rtcp.expected('a'), { address: '198.51.100.10', port: 53020 });
    assert.deepEqual(audio.rtp.expected('a'), { address: '198.51.100.10', port: 49170 });
    assert.deepEqual(video.rtcp.expected('a'), { address: '198.51.100.10', port: 53022 });
  });

  test('a=rtcp-fb and a=rtcp-xr alone are not a=rtcp: RTCP is expected on RTP + 1 and no a=rtcp is added', async () => {
    const r = newRelaying();
    const msg = invite(LINPHONE_OFFER);
    await offer(r, msg);
    const out = parsedBody(msg);
    assert.deepEqual(getAttributes(out, 0, 'rtcp'), []);
    assert.deepEqual(getAttributes(out, 1, 'rtcp'), []);
    assert.deepEqual(pair(r, msg, 0).rtcp.expected('a'), { address: '192.168.1.20', port: 7079 });
    assert.deepEqual(pair(r, msg, 1).rtcp.expected('a'), { address: '192.168.1.20', port: 9079 });
    assert.deepEqual(out.media[0]!.formats, ['96', '97', '98', '0', '8', '18', '101', '99', '100']);
    assert.deepEqual(out.media[1]!.formats, ['96', '97']);
  });

  test('a=rtcp-mux without a=rtcp: a port pair still, RTCP expected on the RTP port, a=rtcp-mux kept, no a=rtcp added', async () => {
    const r = newRelaying();
    const msg = invite(ZOIPER_ANSWER);
    await offer(r, msg);
    const out = parsedBody(msg);
    const p = pair(r, msg, 0);
    assert.deepEqual(p.rtp.expected('a'), { address: '10.0.0.5', port: 8000 });
    assert.deepEqual(p.rtcp.expected('a'), { address: '10.0.0.5', port: 8000 });
    assert.deepEqual(getAttributes(out, 0, 'rtcp-mux'), ['']);
    assert.deepEqual(getAttributes(out, 0, 'rtcp'), []);
  });

  test('WebRTC-like offer without ICE (UDP/TLS/RTP/SAVPF, a=rtcp on the RTP port + a=rtcp-mux) is relayed', async () => {
    const r = newRelaying();
    const msg = invite(sdp(
      'v=0',
      'o=- 4611731400430051336 2 IN IP4 127.0.0.1',
      's=-',
      't=0 0',
      'a=group:BUNDLE 0',
      'a=msid-semantic: WMS stream0',
      'm=audio 40000 UDP/TLS/RTP/SAVPF 111 0 8 126',
      'c=IN IP4 198.51.100.30',
      'a=rtcp:40000 IN IP4 198.51.100.30',
      'a=mid:0',
      'a=sendrecv',
      'a=rtcp-mux',
      'a=rtpmap:111 opus/48000/2',
      'a=fmtp:111 minptime=10;useinbandfec=1',
      'a=rtpmap:126 telephone-event/8000',
      'a=setup:actpass',
      'a=fingerprint:sha-256 19:E2:1C:3B:4B:9F:81:E6:B8:5C:F4:A5:A8:D8:73:04:BB:05:2F:70:9F:04:A9:0E:05:E9:26:33:E8:70:88:A2',
    ));
    await offer(r, msg);
    const out = parsedBody(msg);
    const p = pair(r, msg, 0);
    assertPortPair(p, CALL_ID, 0);
    assert.equal(out.media[0]!.proto, 'UDP/TLS/RTP/SAVPF');
    assert.deepEqual(out.media[0]!.formats, ['111', '0', '8', '126']);
    assert.deepEqual(getAttributes(out, 0, 'rtcp'), [`${p.rtcpPort} IN IP4 ${ADVERTISE}`]);
    assert.deepEqual(getAttributes(out, 0, 'rtcp-mux'), ['']);
    assert.equal(getAttributes(out, 0, 'fingerprint').length, 1);
    assert.deepEqual(getAttributes(out, 'session', 'group'), ['BUNDLE 0']);
    assert.deepEqual(p.rtp.expected('a'), { address: '198.51.100.30', port: 40000 });
    assert.deepEqual(p.rtcp.expected('a'), { address: '198.51.100.30', port: 40000 }, 'a=rtcp port taken as given');
  });
});

describe('relayed SDP: offer/answer over one call', () => {
  test('the answer (from the callee) reuses the pairs the offer (from the caller) opened', async () => {
    const r = newRelaying();
    const offerMsg = invite(RFC4317_OFFER);
    const request = await offer(r, offerMsg);
    const audio = pair(r, offerMsg, 0);
    const video = pair(r, offerMsg, 1);
    const offered = parsedBody(offerMsg);
    const started = r.relay.totals.sessionsStarted;

    const answer = ok200(RFC4317_ANSWER);
    assert.equal(await pass(r, answer, request, asReply(answer)), true);
    const answered = parsedBody(answer);
    assert.equal(r.relay.totals.sessionsStarted, started, 'no new session for the answer');
    assert.equal(r.relay.count, 4);
    assert.equal(pair(r, answer, 0).rtp, audio.rtp);
    assert.equal(pair(r, answer, 1).rtp, video.rtp);
    // A port pair per party: the callee was told its own leg, the caller is told its own.
    assert.deepEqual([offered.media[0]!.port, answered.media[0]!.port], [audio.rtp.ports[1], audio.rtp.ports[0]], 'audio: each party its own leg');
    assert.deepEqual([offered.media[1]!.port, answered.media[1]!.port], [video.rtp.ports[1], video.rtp.ports[0]], 'video: each party its own leg');
    assert.notEqual(answered.media[0]!.port, offered.media[0]!.port);
    assert.deepEqual(answered.media[0]!.formats, ['0']);
    assert.deepEqual(answered.media[1]!.formats, ['32']);
    assert.equal(getConnection(answered)!.address, ADVERTISE);

    // each side's expected address is its own SDP's
    assert.deepEqual(audio.rtp.expected('a'), { address: '198.51.100.10', port: 49170 });
    assert.deepEqual(audio.rtp.expected('b'), { address: '203.0.113.20', port: 49174 });
    assert.deepEqual(audio.rtcp.expected('b'), { address: '203.0.113.20', port: 49175 });
    assert.deepEqual(video.rtp.expected('a'), { address: '198.51.100.10', port: 51372 });
    assert.deepEqual(video.rtp.expected('b'), { address: '203.0.113.20', port: 49170 });
    // the relay sends to each side where its SDP said, until it latches
    assert.deepEqual(audio.rtp.stats().parties[1]!.media, { address: '203.0.113.20', port: 49174 });
  });

  test('an answer rejecting video (RFC 4317 §2.2 style, port 0) leaves that m= line at 0', async () => {
    const r = newRelaying();
    const offerMsg = invite(RFC4317_OFFER);
    const request = await offer(r, offerMsg);
    const video = pair(r, offerMsg, 1);
    const answer = ok200(sdp(
      'v=0', 'o=bob 2808844564 2808844564 IN IP4 203.0.113.20', 's=', 'c=IN IP4 203.0.113.20', 't=0 0',
      'm=audio 49172 RTP/AVP 0',
      'a=rtpmap:0 PCMU/8000',
      'm=video 0 RTP/AVP 31',
      'a=rtpmap:31 H261/90000',
    ));
    assert.equal(await pass(r, answer, request, asReply(answer)), true);
    const out = parsedBody(answer);
    assert.equal(out.media[1]!.port, 0);
    assert.deepEqual(out.media[1]!.formats, ['31']);
    assert.equal(out.media[0]!.port, pair(r, offerMsg, 0).rtp.ports[0], 'the caller is told its own leg');
    assert.equal(video.rtp.expected('b').port, 0, 'the relay was not told to expect the rejected stream');
  });

  test('a re-offer changing the address updates what the relay expects, on the same relay ports', async () => {
    const r = newRelaying();
    const offerMsg = invite(RFC4317_OFFER);
    const request = await offer(r, offerMsg);
    const answer = ok200(RFC4317_ANSWER);
    assert.equal(await pass(r, answer, request, asReply(answer)), true);
    const audio = pair(r, offerMsg, 0);
    const port = audio.rtpPort;
    // the caller latches from some source
    const source = dgram.createSocket('udp4');
    await new Promise<void>((done) => source.bind(0, '127.0.0.1', done));
    try {
      source.send('rtp', audio.rtp.ports[0]!, '127.0.0.1');
      await waitFor(() => audio.rtp.stats().parties[0].latched, 'the caller latched');
    } finally {
      source.close();
    }

    const reoffer = invite(sdp(
      'v=0',
      'o=alice 2890844526 2890844527 IN IP4 198.51.100.77',
      's=',
      'c=IN IP4 198.51.100.77',
      't=0 0',
      'm=audio 50000 RTP/AVP 0 8 97',
      'a=rtpmap:0 PCMU/8000',
      'a=rtpmap:8 PCMA/8000',
      'a=rtpmap:97 iLBC/8000',
      'm=video 50002 RTP/AVP 31 32',
      'a=rtpmap:31 H261/90000',
      'a=rtpmap:32 MPV/90000',
    ), { toTag: 'a6c85cf' });
    assert.equal(await pass(r, reoffer, asRequest(reoffer)), true, 'a request inside the dialog of a followed call');
    assert.equal(pair(r, reoffer, 0).rtp, audio.rtp, 'same pair');
    assert.equal(parsedBody(reoffer).media[0]!.port, port, 'same relay port in the re-offer');
    assert.equal(r.relay.count, 4);
    assert.deepEqual(audio.rtp.expected('a'), { address: '198.51.100.77', port: 50000 });
    assert.deepEqual(audio.rtp.stats().parties[0]!.media, { address: '198.51.100.77', port: 50000 });
    assert.equal(audio.rtp.stats().parties[0]!.latched, false, 'the moved party latches anew');
    assert.deepEqual(audio.rtcp.expected('a'), { address: '198.51.100.77', port: 50001 });
    assert.deepEqual(pair(r, reoffer, 1).rtp.expected('a'), { address: '198.51.100.77', port: 50002 });
    // the other side is unchanged
    assert.deepEqual(audio.rtp.expected('b'), { address: '203.0.113.20', port: 49174 });
  });

  test('a re-INVITE from the callee (its own From tag) describes the callee\'s side; its answer the caller\'s', async () => {
    const r = newRelaying();
    const offerMsg = invite(RFC4317_OFFER);
    const request = await offer(r, offerMsg);
    const answer = ok200(RFC4317_ANSWER);
    await pass(r, answer, request, asReply(answer));
    const audio = pair(r, offerMsg, 0);

    const fromCallee = invite(sdp('v=0', 'o=bob 1 2 IN IP4 203.0.113.21', 's=', 'c=IN IP4 203.0.113.21', 't=0 0', 'm=audio 40100 RTP/AVP 0'), { fromTag: 'a6c85cf', toTag: CALLER_TAG });
    const reinvite = asRequest(fromCallee);
    assert.equal(await pass(r, fromCallee, reinvite), true);
    assert.deepEqual(audio.rtp.expected('b'), { address: '203.0.113.21', port: 40100 });
    assert.deepEqual(audio.rtp.expected('a'), { address: '198.51.100.10', port: 49170 }, 'the caller unchanged');

    const callerAnswer = ok200(sdp('v=0', 'o=alice 1 3 IN IP4 198.51.100.11', 's=', 'c=IN IP4 198.51.100.11', 't=0 0', 'm=audio 40200 RTP/AVP 0'), { fromTag: 'a6c85cf' });
    assert.equal(await pass(r, callerAnswer, reinvite, asReply(callerAnswer)), true);
    assert.deepEqual(audio.rtp.expected('a'), { address: '198.51.100.11', port: 40200 });
  });

  test('a late offer: the INVITE carries no SDP, the 200 OK offers (the callee\'s side), the ACK answers (the caller\'s)', async () => {
    const r = newRelaying();
    const inviteMsg = invite('', { contentType: null });
    const request = await offer(r, inviteMsg, false);
    const offered = ok200(RFC4317_ANSWER);
    assert.equal(await pass(r, offered, request, asReply(offered)), true, 'the engaged call is followed though its INVITE had no SDP');
    const audio = pair(r, offered, 0);
    assert.deepEqual(audio.rtp.expected('b'), { address: '203.0.113.20', port: 49174 });
    const ack = createRequest({
      method: 'ACK', uri: 'sip:bob@203.0.113.20',
      headers: [
        ['Via', 'SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhdt'], ['From', `Alice <sip:alice@atlanta.example.com>;tag=${CALLER_TAG}`],
        ['To', 'Bob <sip:bob@biloxi.example.com>;tag=a6c85cf'], ['Call-ID', CALL_ID], ['CSeq', '314159 ACK'], ['Content-Type', 'application/sdp'],
      ],
      body: RFC4317_OFFER,
    });
    assert.equal(await pass(r, ack, asRequest(ack)), true);
    assert.equal(pair(r, ack, 0).rtp, audio.rtp, 'the answer shares the offer\'s ports');
    assert.deepEqual(audio.rtp.expected('a'), { address: '198.51.100.10', port: 49170 });
  });

  test('a request outside the dialog of a followed call that no route engaged is left alone', async () => {
    const r = newRelaying();
    await offer(r, invite(RFC4317_OFFER));
    const other = invite(RFC4317_OFFER);
    assert.equal(await pass(r, other, asRequest(other)), false);
    assert.equal(other.body.toString(), RFC4317_OFFER);
  });

  test('sessions that went idle are opened anew by the next description of their stream', async () => {
    const r = newRelaying();
    const offerMsg = invite(RFC4317_OFFER);
    const request = await offer(r, offerMsg);
    const audio = pair(r, offerMsg, 0);
    r.relay.end(audio.rtp, 'idle'); // the RTCP session lives on (hold)
    const answer = ok200(RFC4317_ANSWER);
    assert.equal(await pass(r, answer, request, asReply(answer)), true);
    const again = pair(r, answer, 0);
    assert.notEqual(again.rtp, audio.rtp);
    assert.equal(audio.rtcp.ended, true, 'the leftover RTCP session was replaced with its RTP one');
    assert.deepEqual(again.rtp.expected('b'), { address: '203.0.113.20', port: 49174 });
    assert.equal(pair(r, answer, 1).rtp, pair(r, offerMsg, 1).rtp, 'the video stream kept its sessions');
  });
});

describe('relayed SDP: what is not SDP, or not valid SDP', () => {
  const MALFORMED: readonly [string, string][] = [
    ['no o= line', sdp('v=0', 's=-', 'c=IN IP4 198.51.100.10', 't=0 0', 'm=audio 49170 RTP/AVP 0')],
    ['port not a number', sdp('v=0', 'o=- 1 1 IN IP4 198.51.100.10', 's=-', 'c=IN IP4 198.51.100.10', 't=0 0', 'm=audio abc RTP/AVP 0')],
    ['no c= anywhere', sdp('v=0', 'o=- 1 1 IN IP4 198.51.100.10', 's=-', 't=0 0', 'm=audio 49170 RTP/AVP 0')],
    ['not SDP at all', 'hello, this is not a session description\r\n'],
    ['mixed line ends', 'v=0\r\no=- 1 1 IN IP4 198.51.100.10\ns=-\r\nc=IN IP4 198.51.100.10\r\nt=0 0\r\nm=audio 49170 RTP/AVP 0\r\n'],
  ];

  for (const [what, text] of MALFORMED) {
    test(`malformed SDP in a request (${what}) → MediaRefused 400 Malformed SDP, nothing opened`, async () => {
      const r = newRelaying();
      const body = Buffer.from(text);
      const msg = invite(body);
      await assert.rejects(offer(r, msg), (err: unknown) => {
        assert.ok(isMediaRefused(err));
        assert.equal(err.status, 400);
        assert.equal(err.reason, 'Malformed SDP');
        return true;
      });
      assert.equal(msg.body, body);
      assert.equal(r.relay.count, 0);
    });

    test(`malformed SDP in a response (${what}) → MediaRefused too (the engine passes the reply unchanged), body untouched`, async () => {
      const r = newRelaying();
      const request = await offer(r, invite(RFC4317_OFFER));
      const opened = r.relay.count;
      const body = Buffer.from(text);
      const msg = ok200(body);
      await assert.rejects(pass(r, msg, request, asReply(msg)), (err: unknown) => isMediaRefused(err) && err.status === 400);
      assert.equal(msg.body, body);
      assert.equal(msg.body.toString(), text);
      assert.equal(r.relay.count, opened, 'nothing more opened');
    });
  }

  test('a body that is not SDP is never read (no media event)', async () => {
    const r = newRelaying();
    for (const ct of ['text/plain', 'application/pidf+xml', 'multipart/mixed;boundary=unique-boundary-1', 'application/sdpx', null]) {
      const body = Buffer.from(RFC4317_OFFER);
      const msg = invite(body, { contentType: ct });
      await offer(r, msg, false);
      assert.equal(msg.body, body, `Content-Type ${String(ct)}`);
    }
    await offer(r, invite(''), false);
    assert.equal(r.relay.count, 0);
  });

  test('Content-Type matching is case-insensitive and ignores parameters', async () => {
    const r = newRelaying();
    const msg = invite(RFC4317_OFFER, { contentType: 'Application/SDP; charset=UTF-8' });
    await offer(r, msg);
    assert.equal(getConnection(parsedBody(msg))!.address, ADVERTISE);
  });
});

describe('relayed SDP: exact output', () => {
  test('a parsed INVITE with a Linphone-like offer: byte-exact SDP (line order, CRLF) and Content-Length updated', async () => {
    const r = newRelaying();
    const head = [
      'INVITE sip:bob@biloxi.example.com SIP/2.0',
      'Via: SIP/2.0/UDP 192.168.1.20:5060;branch=z9hG4bK.n2Xr7lWQb;rport',
      'From: <sip:alice@atlanta.example.com>;tag=9fxced76sl',
      'To: <sip:bob@biloxi.example.com>',
      'Call-ID: 3848276298220188511@192.168.1.20',
      'CSeq: 20 INVITE',
      'Contact: <sip:alice@192.168.1.20;transport=udp>',
      'Max-Forwards: 70',
      'Content-Type: application/sdp',
      `Content-Length: ${Buffer.byteLength(LINPHONE_OFFER)}`,
    ].join('\r\n');
    const raw = Buffer.from(`${head}\r\n\r\n${LINPHONE_OFFER}`);
    const parsed = parseSip(raw);
    assert.ok(parsed.ok);
    const msg = parsed.msg;
    await offer(r, msg);
    const a = pair(r, msg, 0);
    const v = pair(r, msg, 1);
    assert.deepEqual(a.rtp.key.callId, '3848276298220188511@192.168.1.20');
    const expected = sdp(
      'v=0',
      'o=alice 3045 2217 IN IP4 192.168.1.20',
      's=Talk',
      `c=IN IP4 ${ADVERTISE}`,
      't=0 0',
      'a=rtcp-xr:rcvr-rtt=all:10000 stat-summary=loss,dup,jitt,TTL voip-metrics',
      'a=record:off',
      `m=audio ${a.rtpPort} RTP/AVP 96 97 98 0 8 18 101 99 100`,
      'a=rtpmap:96 opus/48000/2',
      'a=fmtp:96 useinbandfec=1',
      'a=rtpmap:97 speex/16000',
      'a=fmtp:97 vbr=on',
      'a=rtpmap:98 speex/8000',
      'a=fmtp:98 vbr=on',
      'a=fmtp:18 annexb=yes',
      'a=rtpmap:101 telephone-event/48000',
      'a=rtpmap:99 telephone-event/16000',
      'a=rtpmap:100 telephone-event/8000',
      'a=rtcp-fb:* trr-int 1000',
      'a=rtcp-fb:* ccm tmmbr',
      `m=video ${v.rtpPort} RTP/AVP 96 97`,
      'a=rtpmap:96 VP8/90000',
      'a=rtpmap:97 H264/90000',
      'a=fmtp:97 profile-level-id=42801F',
      'a=rtcp-fb:* trr-int 1000',
      'a=rtcp-fb:* ccm tmmbr',
      'a=rtcp-fb:96 nack pli',
      'a=rtcp-fb:97 nack pli',
    );
    assert.equal(msg.body.toString('utf8'), expected);
    assert.ok(msg.body.equals(Buffer.from(expected)), 'byte-exact');
    const wire = serializeSip(msg).toString('utf8');
    const expectedHead = head.replace(/Content-Length: \d+/, `Content-Length: ${Buffer.byteLength(expected)}`);
    assert.equal(wire, `${expectedHead}\r\n\r\n${expected}`);
  });

  test('an LF-only SDP without a final newline keeps its line ends', async () => {
    const r = newRelaying();
    const msg = invite('v=0\no=- 1 1 IN IP4 198.51.100.10\ns=-\nc=IN IP4 198.51.100.10\nt=0 0\nm=audio 49170 RTP/AVP 0\na=ptime:20');
    await offer(r, msg);
    const p = pair(r, msg, 0);
    assert.equal(msg.body.toString(), `v=0\no=- 1 1 IN IP4 198.51.100.10\ns=-\nc=IN IP4 ${ADVERTISE}\nt=0 0\nm=audio ${p.rtpPort} RTP/AVP 0\na=ptime:20`);
  });
});
