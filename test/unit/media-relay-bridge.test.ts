/**
 * The DTLS-SRTP/RTP bridge and NG flags per leg (modules/media-relay/bridge.ts): a route's flags
 * read as Kamailio writes them for rtpengine_offer() and validated; `auto` deciding from the
 * call's first description and where it goes; the NG dictionary each leg's offer or answer
 * becomes; the description rendered for the relay with its ICE and the relay's whole description
 * read back. Then the module end to end against a fake NG relay on loopback: a browser's offer
 * to a UDP phone goes out as the relay wrote it (RTP/AVP, no ICE, no DTLS), the phone's answer
 * comes back as the relay wrote it (UDP/TLS/RTP/SAVPF, fingerprint, candidate, rtcp-mux); a call
 * between two plain phones is sent without flags; the embedded relay refuses what it cannot do.
 */
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { after, afterEach, describe, test } from 'node:test';
import { buildContext } from '../../core/kernel/context.ts';
import { validateModules } from '../../core/kernel/validate-modules.ts';
import type { AnyModule } from '../../core/kernel/define-module.ts';
import { ModuleRegistry } from '../../core/kernel/module-registry.ts';
import { MessageContext } from '../../core/kernel/message-context.ts';
import { isMediaRefused, ProxyHooks, type TransactionView } from '../../core/kernel/hooks.ts';
import { createRequest, createResponse, type SipMessage } from '../../core/dialects/sip/codec/message.ts';
import { readSdpOffer, sipMediaOffer, type SdpMediaOffer } from '../../core/dialects/sip/media-offer.ts';
import { toModel } from '../../core/dialects/sip/model.ts';
import type { Reply, Request, SignalingTransport } from '../../core/model/message.ts';
import { dialog } from '../../modules/dialog/index.ts';
import { mediaRelay } from '../../modules/media-relay/index.ts';
import { autoBridge, decideLegs, legFlagsSchema, mergeLegFlags, TOWARD_RTP, TOWARD_WEBRTC } from '../../modules/media-relay/bridge.ts';
import { bencodeText, decodeBencode, encodeBencode, isBencodeDict, type BencodeDict, type BencodeValue } from '../../modules/media-relay/ng/bencode.ts';
import { framePrefix, sdpRequestDict, splitFrame } from '../../modules/media-relay/ng/messages.ts';
import { withLegFlags } from '../../modules/media-relay/remote/ng-backend.ts';
import { readRelayDescription, renderSdp } from '../../modules/media-relay/remote/sdp-text.ts';
import { fakeCore, silentLog, snapshot } from './_unit-fixtures.ts';

const sdp = (...lines: string[]): string => lines.map((l) => `${l}\r\n`).join('');

/** What Chromium offers (one audio stream, trimmed). */
const BROWSER_OFFER = sdp(
  'v=0', 'o=- 4611731400430051336 2 IN IP4 127.0.0.1', 's=-', 't=0 0', 'a=group:BUNDLE 0', 'a=msid-semantic: WMS s1',
  'm=audio 46231 UDP/TLS/RTP/SAVPF 111 0 8', 'c=IN IP4 192.0.2.2', 'a=rtcp:9 IN IP4 0.0.0.0',
  'a=candidate:899889391 1 udp 2122194687 192.0.2.2 46231 typ host generation 0', 'a=ice-ufrag:lpMC', 'a=ice-pwd:flu5ezr8NVDcUTFRJG2S2w3F',
  'a=ice-options:trickle', 'a=fingerprint:sha-256 A0:3B:55:1F:FD:1C:13:99:6F:54:C2:2E:C8:54:FA:A0:B6:42:15:2E:8F:A5:50:97:88:30:FB:F6:70:65:34:EB',
  'a=setup:actpass', 'a=mid:0', 'a=sendrecv', 'a=rtcp-mux', 'a=rtpmap:111 opus/48000/2', 'a=rtpmap:0 PCMU/8000', 'a=rtpmap:8 PCMA/8000',
);
/** What rtpengine sends on to the phone for it (RTP/AVP, ICE removed, rtcp-mux-demux). */
const RELAY_TO_PHONE = sdp(
  'v=0', 'o=- 4611731400430051336 2 IN IP4 203.0.113.5', 's=-', 't=0 0', 'a=msid-semantic: WMS s1',
  'm=audio 30000 RTP/AVP 111 0 8', 'c=IN IP4 203.0.113.5', 'a=mid:0', 'a=rtpmap:111 opus/48000/2', 'a=rtpmap:0 PCMU/8000', 'a=rtpmap:8 PCMA/8000',
  'a=sendrecv', 'a=rtcp:30001',
);
/** The phone's answer. */
const PHONE_ANSWER = sdp(
  'v=0', 'o=bob 1 1 IN IP4 198.51.100.20', 's=-', 'c=IN IP4 198.51.100.20', 't=0 0', 'm=audio 40000 RTP/AVP 0', 'a=rtpmap:0 PCMU/8000', 'a=sendrecv',
);
/** What rtpengine answers the browser for it (DTLS-SRTP, its own ICE candidate, rtcp-mux). */
const RELAY_TO_BROWSER = sdp(
  'v=0', 'o=bob 1 1 IN IP4 203.0.113.5', 's=-', 't=0 0',
  'm=audio 30010 UDP/TLS/RTP/SAVPF 0', 'c=IN IP4 203.0.113.5', 'a=mid:0', 'a=rtpmap:0 PCMU/8000', 'a=sendrecv', 'a=rtcp:30010', 'a=rtcp-mux', 'a=setup:passive',
  'a=fingerprint:sha-256 E6:AD:2C:A6:33:07:B6:5B:F1:BE:A4:D2:E0:E3:4C:5E:36:B7:6A:66:24:7B:DC:4D:22:DF:37:29:F3:B5:B8:17',
  'a=ice-ufrag:n48GX3I1', 'a=ice-pwd:dn9bkyZMelaZHSBXxCy9pQJp5x', 'a=ice-options:trickle',
  'a=candidate:XWpj5GNJpxzo85ji 1 UDP 2130706431 203.0.113.5 30010 typ host', 'a=end-of-candidates',
);
const PLAIN_OFFER = sdp('v=0', 'o=carol 1 1 IN IP4 198.51.100.30', 's=-', 'c=IN IP4 198.51.100.30', 't=0 0', 'm=audio 41000 RTP/AVP 0', 'a=rtpmap:0 PCMU/8000');

describe('NG flags of a leg, as a route writes them', () => {
  const parse = (v: unknown) => legFlagsSchema.safeParse(v);

  test('Kamailio\'s rtpengine_offer() words: flags, replace-*, rtcp-mux-*, SDES-*, ICE=, DTLS=, transport words, directions, other keys', () => {
    const r = parse('trust-address replace-origin replace-session-connection ICE=force DTLS=passive UDP/TLS/RTP/SAVPF rtcp-mux-offer rtcp-mux-require SDES-off generate-mid internal external label=web DTLS-fingerprint=sha-256 codec=[strip=[opus] offer=[PCMU]]');
    assert.ok(r.success, JSON.stringify(r.error?.issues));
    assert.deepEqual(r.data, {
      flags: ['trust-address', 'generate-mid'], replace: ['origin', 'session-connection'], rtcpMux: ['offer', 'require'], sdes: ['off'],
      direction: ['internal', 'external'], transportProtocol: 'UDP/TLS/RTP/SAVPF', ice: 'force', dtls: 'passive', label: 'web',
      options: { 'DTLS-fingerprint': 'sha-256', codec: { strip: ['opus'], offer: ['PCMU'] } },
    });
    const toPhone = parse('RTP/AVP ICE=remove rtcp-mux-demux');
    assert.ok(toPhone.success);
    assert.deepEqual(toPhone.data, { transportProtocol: 'RTP/AVP', ice: 'remove', rtcpMux: ['demux'] });
    const combined = parse('RTP AVP ICE=[force trickle] rtcp-mux=[offer]');
    assert.ok(combined.success);
    assert.deepEqual(combined.data, { transportProtocol: 'RTP/AVP', ice: 'force', iceOptions: ['trickle'], rtcpMux: ['offer'] });
  });

  test('the object form, checked the same way', () => {
    const r = parse({ transportProtocol: 'RTP/AVP', ice: ['remove'], rtcpMux: ['demux'], flags: ['symmetric'], options: { 'ICE-lite': 'forward' } });
    assert.ok(r.success);
    assert.deepEqual(r.data, { transportProtocol: 'RTP/AVP', ice: 'remove', rtcpMux: ['demux'], flags: ['symmetric'], options: { 'ICE-lite': 'forward' } });
  });

  test('refused: the keys the proxy writes, unknown profiles and modes, two ICE modes, broken brackets, unknown object keys', () => {
    for (const bad of ['call-id=x', 'from-tag=a', 'to_tag=b', 'via-branch=z9', 'sdp=v=0', 'received-from=[IP4 10.0.0.1]', 'RTP/XYZ=1 transport-protocol=RTP/XYZ',
      'ICE=sometimes', 'ICE=[force remove]', 'DTLS=maybe', 'rtcp-mux-sideways', 'codec=[strip=[opus]', 'address-family=IP5', 'media-address=relay.example']) {
      assert.equal(parse(bad).success, false, bad);
    }
    assert.equal(parse({ options: { 'Call-ID': 'x' } }).success, false);
    assert.equal(parse({ transportProtocol: 'RTP/AVP', iceMode: 'force' }).success, false);
  });
});

describe('which calls the bridge takes, and with which flags', () => {
  const streams = (text: string) => readSdpOffer(text).streams;

  test('auto: a DTLS description read over UDP/TCP/TLS, or a plain one read over WS/WSS; not two of a kind', () => {
    assert.equal(autoBridge(streams(BROWSER_OFFER), 'caller', 'udp'), 'webrtc-to-rtp');
    assert.equal(autoBridge(streams(BROWSER_OFFER), 'callee', 'tls'), 'rtp-to-webrtc', 'a browser answering a late offer of a phone');
    assert.equal(autoBridge(streams(PLAIN_OFFER), 'caller', 'wss'), 'rtp-to-webrtc');
    assert.equal(autoBridge(streams(PLAIN_OFFER), 'callee', 'ws'), 'webrtc-to-rtp');
    assert.equal(autoBridge(streams(BROWSER_OFFER), 'caller', 'ws'), null, 'browser to browser: the relay forwards DTLS as it is');
    assert.equal(autoBridge(streams(PLAIN_OFFER), 'caller', 'udp'), null);
    assert.equal(autoBridge(streams(PLAIN_OFFER), 'caller', undefined), null);
  });

  test('the bridge\'s flags per leg, the route\'s over them: flags and replace add up, other keys replace', () => {
    const legs = decideLegs({ bridge: 'auto' }, streams(BROWSER_OFFER), 'caller', 'udp');
    assert.deepEqual(legs, { kind: 'webrtc-to-rtp', toCallee: TOWARD_RTP, toCaller: TOWARD_WEBRTC });
    assert.deepEqual(TOWARD_RTP, { transportProtocol: 'RTP/AVP', ice: 'remove', rtcpMux: ['demux'], options: { 'DTLS-reverse': 'passive' } });
    assert.deepEqual(TOWARD_WEBRTC, { transportProtocol: 'UDP/TLS/RTP/SAVPF', ice: 'force', dtls: 'passive', rtcpMux: ['offer', 'require'], sdes: ['off'], flags: ['generate-mid'] });
    assert.equal(decideLegs({ bridge: 'auto' }, streams(PLAIN_OFFER), 'caller', 'udp'), null, 'nothing to bridge: the call is handled as any other');
    assert.equal(decideLegs(undefined, streams(BROWSER_OFFER), 'caller', 'udp'), null);
    assert.deepEqual(decideLegs({ bridge: 'rtp-to-webrtc' }, streams(PLAIN_OFFER), 'caller', 'udp'), { kind: 'rtp-to-webrtc', toCallee: TOWARD_WEBRTC, toCaller: TOWARD_RTP });
    assert.deepEqual(decideLegs({ ng: { toCallee: { flags: ['symmetric'] } } }, streams(PLAIN_OFFER), 'caller', 'udp'), { kind: null, toCallee: { flags: ['symmetric'] }, toCaller: {} });
    assert.deepEqual(mergeLegFlags(TOWARD_WEBRTC, { flags: ['strict-source'], dtls: 'active', options: { 'ICE-lite': 'forward' } }), {
      ...TOWARD_WEBRTC, flags: ['generate-mid', 'strict-source'], dtls: 'active', options: { 'ICE-lite': 'forward' },
    });
  });

  test('each leg\'s NG dictionary: the proxy\'s own keys with the leg\'s, in the spellings rtpengine reads', () => {
    const own = { callId: 'c1', sdp: 'v=0\r\n', flags: ['trust-address'], replace: ['origin', 'session-connection'], ice: 'remove' as const, receivedFrom: { family: 'IP4' as const, address: '192.0.2.2' } };
    const toPhone = sdpRequestDict('offer', { ...withLegFlags(own, TOWARD_RTP), fromTag: 'a1' });
    assert.deepEqual(
      { ...toPhone, sdp: undefined },
      {
        'DTLS-reverse': 'passive', command: 'offer', 'call-id': 'c1', 'from-tag': 'a1', 'to-tag': undefined, 'via-branch': undefined, flags: ['trust-address'], supports: ['load limit'],
        sdp: undefined, replace: ['origin', 'session-connection'], ICE: 'remove', direction: undefined, 'transport-protocol': 'RTP/AVP', 'received-from': ['IP4', '192.0.2.2'],
        'address family': undefined, 'media address': undefined, 'rtcp-mux': ['demux'], SDES: undefined, DTLS: undefined, label: undefined, 'sip-message-type': undefined,
      },
    );
    const toBrowser = sdpRequestDict('answer', { ...withLegFlags(own, mergeLegFlags(TOWARD_WEBRTC, { ice: 'force', iceOptions: ['trickle'], addressFamily: 'IP6' })), fromTag: 'a1', toTag: 'b1' });
    assert.equal(toBrowser['transport-protocol'], 'UDP/TLS/RTP/SAVPF');
    assert.deepEqual(toBrowser.ICE, ['force', 'trickle']);
    assert.equal(toBrowser.DTLS, 'passive');
    assert.deepEqual(toBrowser['rtcp-mux'], ['offer', 'require']);
    assert.deepEqual(toBrowser.SDES, ['off']);
    assert.deepEqual(toBrowser.flags, ['trust-address', 'generate-mid']);
    assert.equal(toBrowser['address family'], 'IP6', 'the leg\'s family over the one the proxy chose');
    assert.ok(encodeBencode(toBrowser).ok);
  });
});

describe('the description for a relay that converts, and the relay\'s read back', () => {
  test('with NG flags the relay gets the party\'s ICE; otherwise ICE stays with the module, as before', () => {
    const offer = readSdpOffer(BROWSER_OFFER);
    const withIce = renderSdp(offer, new Set([0]), true);
    for (const line of ['a=ice-ufrag:lpMC', 'a=ice-pwd:flu5ezr8NVDcUTFRJG2S2w3F', 'a=candidate:899889391 1 udp 2122194687 192.0.2.2 46231 typ host generation 0', 'a=ice-options:trickle', 'a=fingerprint:sha-256 A0:3B', 'a=setup:actpass', 'a=rtcp-mux']) {
      assert.ok(withIce.includes(line), line);
    }
    const without = renderSdp(offer, new Set([0]));
    assert.ok(!without.includes('ice-ufrag') && !without.includes('candidate'));
    assert.equal(without, renderSdp(offer, new Set([0]), false));
  });

  test('the relay\'s profile, formats and attribute lines per stream it took, and its session attributes', () => {
    const streams = readSdpOffer(PHONE_ANSWER).streams;
    const d = readRelayDescription(RELAY_TO_BROWSER, streams);
    assert.deepEqual(d.sessionAttributes, []);
    const s = d.streams.get(0)!;
    assert.equal(s.proto, 'UDP/TLS/RTP/SAVPF');
    assert.deepEqual(s.formats, ['0']);
    assert.deepEqual(s.attributes.slice(0, 3), [{ name: 'mid', value: '0' }, { name: 'rtpmap', value: '0 PCMU/8000' }, { name: 'sendrecv', value: null }]);
    assert.ok(s.attributes.some((a) => a.name === 'candidate' && a.value!.includes('203.0.113.5 30010 typ host')));
    assert.equal(readRelayDescription(RELAY_TO_BROWSER.replace('m=audio 30010', 'm=audio 0'), streams).streams.size, 0, 'a stream the relay refused keeps the party\'s description');
  });
});

// The module against a fake NG relay: it answers ping, and offer/answer with canned SDP.

interface FakeRelay {
  readonly port: number;
  readonly commands: BencodeDict[];
  close(): Promise<void>;
}

async function fakeRelay(answer: (command: string, dict: BencodeDict) => string): Promise<FakeRelay> {
  const socket = dgram.createSocket('udp4');
  const commands: BencodeDict[] = [];
  socket.on('message', (msg, rinfo) => {
    const frame = splitFrame(msg);
    if (!frame.ok) return;
    const decoded = decodeBencode(frame.body);
    if (!decoded.ok || !isBencodeDict(decoded.value)) return;
    const dict = decoded.value;
    const command = bencodeText(dict.get('command')) ?? '';
    if (command !== 'ping') commands.push(dict);
    const result = command === 'ping' ? { result: 'pong' } : command === 'offer' || command === 'answer' ? { result: 'ok', sdp: answer(command, dict) } : { result: 'ok' };
    const out = encodeBencode(result, { prefix: framePrefix(frame.cookie) });
    if (out.ok) socket.send(out.bytes, rinfo.port, rinfo.address);
  });
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  return { port: socket.address().port, commands, close: () => new Promise((resolve) => socket.close(() => resolve())) };
}

const registries: ModuleRegistry[] = [];
const relays: FakeRelay[] = [];
afterEach(async () => {
  for (const r of registries.splice(0)) await r.close();
});
after(async () => {
  for (const r of relays.splice(0)) await r.close();
});

async function boot(relay: FakeRelay | null): Promise<{ hooks: ProxyHooks; registry: ModuleRegistry }> {
  const hooks = new ProxyHooks();
  const media = relay === null
    ? mediaRelay({ ports: '25700-25709', host: '127.0.0.1', engine: 'js', advertise: '192.0.2.1' })
    : mediaRelay({ relays: [{ name: 'rtpe', ng: `127.0.0.1:${relay.port}` }] });
  const modules: AnyModule[] = [dialog(), media];
  const registry = await ModuleRegistry.boot(validateModules(modules), { ...fakeCore(), hooks }, silentLog);
  registries.push(registry);
  return { hooks, registry };
}

type Ctx = Record<string, (...args: unknown[]) => unknown>;

function ctx(registry: ModuleRegistry, request: Request): Ctx {
  return buildContext(new MessageContext('request', request, snapshot(), silentLog, null), registry) as unknown as Ctx;
}

function headers(callId: string, toTag: string | null): [string, string][] {
  return [
    ['Via', 'SIP/2.0/WS df7jal23ls0d.invalid;branch=z9hG4bKbrowser;rport'], ['From', '<sip:alice@example.com>;tag=a1'],
    ['To', `<sip:bob@example.com>${toTag === null ? '' : `;tag=${toTag}`}`], ['Call-ID', callId], ['CSeq', '1 INVITE'],
    ['Content-Type', 'application/sdp'],
  ];
}

function model(sip: SipMessage, transport: 'udp' | 'ws', source: string): Request | Reply {
  const r = toModel(sip, { listener: `sip:${transport}:5060`, source: { address: source, port: 5060 } }, transport, transport === 'ws' ? 1 : null, Buffer.alloc(0));
  assert.ok(r.ok);
  return r.msg;
}

/** What the SIP engine does with a message it passes on: the media hook, then the body written back. */
async function pass(hooks: ProxyHooks, msg: SipMessage, request: Request, reply: Reply | null, txn: TransactionView | null): Promise<void> {
  let offer: SdpMediaOffer | undefined;
  await hooks.emitMedia({ request, reply, txn, offer: () => (offer ??= sipMediaOffer(msg)) });
  offer?.writeTo(msg);
}

const toPhone = (request: Request, transport: SignalingTransport = 'udp'): TransactionView => ({ request, target: { address: '198.51.100.20', port: 5060 }, targetTransport: transport, snapshot: snapshot() });

function textOf(v: BencodeValue | undefined): unknown {
  if (v === undefined) return undefined;
  if (Array.isArray(v)) return v.map((x) => bencodeText(x as BencodeValue));
  return bencodeText(v);
}

describe('media-relay with a relay that converts: the whole description is the relay\'s', () => {
  test('bridge auto: a browser on WS calls a phone on UDP; each reads the relay\'s description of its own kind', async () => {
    const relay = await fakeRelay((command) => (command === 'offer' ? RELAY_TO_PHONE : RELAY_TO_BROWSER));
    relays.push(relay);
    const { hooks, registry } = await boot(relay);
    const invite = createRequest({ method: 'INVITE', uri: 'sip:bob@example.com', headers: headers('bridge-1', null), body: BROWSER_OFFER });
    const request = model(invite, 'ws', '192.0.2.2') as Request;
    assert.deepEqual(ctx(registry, request).engageMediaProxy!({ bridge: 'auto' }), { ok: true });
    const txn = toPhone(request);
    await hooks.emitRequestForward({ request, target: txn.target, txn });
    await pass(hooks, invite, request, null, txn);

    const offered = relay.commands[0]!;
    assert.equal(textOf(offered.get('command')), 'offer');
    assert.equal(textOf(offered.get('transport-protocol')), 'RTP/AVP');
    assert.equal(textOf(offered.get('ICE')), 'remove');
    assert.deepEqual(textOf(offered.get('rtcp-mux')), ['demux']);
    assert.equal(textOf(offered.get('DTLS-reverse')), 'passive');
    assert.match(String(textOf(offered.get('sdp'))), /a=ice-ufrag:lpMC\r\na=ice-pwd:flu5ezr8NVDcUTFRJG2S2w3F/, 'the relay gets the browser\'s ICE');
    // The phone reads the relay's description: its profile and attribute lines, the caller's o= and s= kept.
    assert.equal(invite.body.toString(), sdp(
      'v=0', 'o=- 4611731400430051336 2 IN IP4 127.0.0.1', 's=-', 't=0 0', 'a=msid-semantic: WMS s1',
      'm=audio 30000 RTP/AVP 111 0 8', 'c=IN IP4 203.0.113.5', 'a=mid:0', 'a=rtpmap:111 opus/48000/2', 'a=rtpmap:0 PCMU/8000', 'a=rtpmap:8 PCMA/8000',
      'a=sendrecv', 'a=rtcp:30001',
    ));

    const ok = createResponse({ status: 200, reason: 'OK', headers: headers('bridge-1', 'b1'), body: PHONE_ANSWER });
    await pass(hooks, ok, request, model(ok, 'udp', '198.51.100.20') as Reply, txn);
    const answered = relay.commands[1]!;
    assert.equal(textOf(answered.get('command')), 'answer');
    assert.equal(textOf(answered.get('transport-protocol')), 'UDP/TLS/RTP/SAVPF');
    assert.equal(textOf(answered.get('ICE')), 'force');
    assert.equal(textOf(answered.get('DTLS')), 'passive');
    assert.deepEqual(textOf(answered.get('flags')), ['trust-address', 'generate-mid']);
    assert.equal(ok.body.toString(), sdp(
      'v=0', 'o=bob 1 1 IN IP4 198.51.100.20', 's=-', 'c=IN IP4 203.0.113.5', 't=0 0',
      'm=audio 30010 UDP/TLS/RTP/SAVPF 0', 'a=mid:0', 'a=rtpmap:0 PCMU/8000', 'a=sendrecv', 'a=rtcp:30010', 'a=rtcp-mux', 'a=setup:passive',
      'a=fingerprint:sha-256 E6:AD:2C:A6:33:07:B6:5B:F1:BE:A4:D2:E0:E3:4C:5E:36:B7:6A:66:24:7B:DC:4D:22:DF:37:29:F3:B5:B8:17',
      'a=ice-ufrag:n48GX3I1', 'a=ice-pwd:dn9bkyZMelaZHSBXxCy9pQJp5x', 'a=ice-options:trickle',
      'a=candidate:XWpj5GNJpxzo85ji 1 UDP 2130706431 203.0.113.5 30010 typ host', 'a=end-of-candidates',
    ));
  });

  test('bridge auto between two plain phones: no flags are sent, only the relay\'s addresses are taken', async () => {
    const relay = await fakeRelay(() => RELAY_TO_PHONE.replace(' 111 0 8', ' 0').replace('a=rtpmap:111 opus/48000/2\r\n', '').replace('a=rtpmap:8 PCMA/8000\r\n', ''));
    relays.push(relay);
    const { hooks, registry } = await boot(relay);
    const invite = createRequest({ method: 'INVITE', uri: 'sip:bob@example.com', headers: headers('plain-1', null), body: PLAIN_OFFER });
    const request = model(invite, 'udp', '198.51.100.30') as Request;
    ctx(registry, request).engageMediaProxy!({ bridge: 'auto' });
    const txn = toPhone(request);
    await hooks.emitRequestForward({ request, target: txn.target, txn });
    await pass(hooks, invite, request, null, txn);
    const offered = relay.commands[0]!;
    assert.equal(offered.get('transport-protocol'), undefined);
    assert.equal(offered.get('rtcp-mux'), undefined);
    assert.equal(textOf(offered.get('ICE')), 'remove');
    assert.equal(invite.body.toString(), sdp('v=0', 'o=carol 1 1 IN IP4 198.51.100.30', 's=-', 'c=IN IP4 203.0.113.5', 't=0 0', 'm=audio 30000 RTP/AVP 0', 'a=rtpmap:0 PCMU/8000'));
  });

  test('flags of the route\'s own for the callee\'s leg, as a Kamailio script writes them', async () => {
    const relay = await fakeRelay(() => RELAY_TO_PHONE);
    relays.push(relay);
    const { hooks, registry } = await boot(relay);
    const invite = createRequest({ method: 'INVITE', uri: 'sip:bob@example.com', headers: headers('flags-1', null), body: PLAIN_OFFER });
    const request = model(invite, 'udp', '198.51.100.30') as Request;
    ctx(registry, request).engageMediaProxy!({ ng: { toCallee: 'symmetric RTP/SAVP SDES-only-AES_CM_128_HMAC_SHA1_80 direction=external' } });
    const txn = toPhone(request, 'tls');
    await hooks.emitRequestForward({ request, target: txn.target, txn });
    await pass(hooks, invite, request, null, txn);
    const offered = relay.commands[0]!;
    assert.deepEqual(textOf(offered.get('flags')), ['trust-address', 'symmetric']);
    assert.equal(textOf(offered.get('transport-protocol')), 'RTP/SAVP');
    assert.deepEqual(textOf(offered.get('SDES')), ['only-AES_CM_128_HMAC_SHA1_80']);
    assert.deepEqual(textOf(offered.get('direction')), ['external']);
    assert.match(invite.body.toString(), /^m=audio 30000 RTP\/AVP 111 0 8\r$/m, 'the relay\'s m= line');
  });

  test('a malformed flag or a key the proxy writes is the script\'s error', async () => {
    const relay = await fakeRelay(() => RELAY_TO_PHONE);
    relays.push(relay);
    const { registry } = await boot(relay);
    const invite = createRequest({ method: 'INVITE', uri: 'sip:bob@example.com', headers: headers('bad-1', null), body: PLAIN_OFFER });
    const request = model(invite, 'udp', '198.51.100.30') as Request;
    assert.throws(() => ctx(registry, request).engageMediaProxy!({ ng: { toCallee: 'ICE=sometimes' } }), /engageMediaProxy: ng\.toCallee\.ice: expected an ICE mode/);
    assert.throws(() => ctx(registry, request).engageMediaProxy!({ ng: { toCaller: 'call-id=other' } }), /"call-id" is written by the proxy/);
    assert.throws(() => ctx(registry, request).engageMediaProxy!({ bridge: 'sometimes' }), /engageMediaProxy: bridge: /);
    assert.throws(() => ctx(registry, request).engageMediaProxy!({ ng: { toTheCallee: 'RTP/AVP' } }), /engageMediaProxy: ng: /);
  });
});

describe('the embedded relay cannot bridge', () => {
  test('NG flags or a bridge named outright are the script\'s error', async () => {
    const { registry } = await boot(null);
    const invite = createRequest({ method: 'INVITE', uri: 'sip:bob@example.com', headers: headers('embedded-1', null), body: BROWSER_OFFER });
    const request = model(invite, 'ws', '192.0.2.2') as Request;
    assert.throws(() => ctx(registry, request).engageMediaProxy!({ ng: { toCallee: 'RTP/AVP' } }), /ng flags need a remote NG relay/);
    assert.throws(() => ctx(registry, request).engageMediaProxy!({ bridge: 'webrtc-to-rtp' }), /bridge 'webrtc-to-rtp' needs a remote NG relay/);
  });

  test('bridge auto: a call that needs the bridge is refused 488; one that does not is relayed as ever', async () => {
    const { hooks, registry } = await boot(null);
    const invite = createRequest({ method: 'INVITE', uri: 'sip:bob@example.com', headers: headers('embedded-2', null), body: BROWSER_OFFER });
    const request = model(invite, 'ws', '192.0.2.2') as Request;
    assert.deepEqual(ctx(registry, request).engageMediaProxy!({ bridge: 'auto' }), { ok: true });
    const txn = toPhone(request);
    await hooks.emitRequestForward({ request, target: txn.target, txn });
    await assert.rejects(pass(hooks, invite, request, null, txn), (err: unknown) => isMediaRefused(err) && err.status === 488 && err.reason === 'Media Bridge Unavailable');

    const other = createRequest({ method: 'INVITE', uri: 'sip:bob@example.com', headers: headers('embedded-3', null), body: BROWSER_OFFER });
    const toBrowser = model(other, 'ws', '192.0.2.2') as Request;
    ctx(registry, toBrowser).engageMediaProxy!({ bridge: 'auto' });
    const wsTxn = toPhone(toBrowser, 'wss');
    await hooks.emitRequestForward({ request: toBrowser, target: wsTxn.target, txn: wsTxn });
    await pass(hooks, other, toBrowser, null, wsTxn);
    assert.match(other.body.toString(), /^m=audio 257\d\d UDP\/TLS\/RTP\/SAVPF 111 0 8\r$/m, 'browser to browser: relayed, DTLS as it is');
    assert.match(other.body.toString(), /^c=IN IP4 192\.0\.2\.1\r$/m);
  });
});
