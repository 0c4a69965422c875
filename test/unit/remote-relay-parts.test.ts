/**
 * The pure parts of remote relays: a description rendered as the SDP an NG relay reads and the
 * relay's addresses read back per stream; the relay set's choice by weight, by name and by set,
 * and failed relays left out of new calls; the set by signaling source; NG counters turned into
 * the module's session counters.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { readSdpOffer } from '../../core/dialects/sip/media-offer.ts';
import { createLogger } from '../../core/lib/log.ts';
import { legTotals } from '../../modules/media-relay/ng/call-stats.ts';
import type { NgClient } from '../../modules/media-relay/ng/client.ts';
import { mediaOperations } from '../../modules/media-relay/operations.ts';
import { NgBackend } from '../../modules/media-relay/remote/ng-backend.ts';
import { sessionCounters } from '../../modules/media-relay/remote/ng-counters.ts';
import { parseNgAddress } from '../../modules/media-relay/remote/relay-address.ts';
import { RelaySet, type RemoteRelay } from '../../modules/media-relay/remote/relay-set.ts';
import { readRelayed, renderSdp } from '../../modules/media-relay/remote/sdp-text.ts';
import { SourceSets, validSourceSets } from '../../modules/media-relay/remote/source-sets.ts';

const SDP = [
  'v=0', 'o=alice 1 1 IN IP4 192.0.2.10', 's=-', 'c=IN IP4 192.0.2.10', 't=0 0', 'a=group:BUNDLE 0',
  'm=audio 4000 RTP/AVP 0 101', 'a=rtpmap:101 telephone-event/8000', 'a=candidate:1 1 UDP 1 192.0.2.10 4000 typ host', 'a=ice-ufrag:x',
  'm=video 0 RTP/AVP 96',
  'm=video 4002 RTP/AVPF 97', 'c=IN IP4 192.0.2.11', 'a=rtcp-mux', 'a=rtcp:4002',
  '',
].join('\r\n');

describe('sdp-text', () => {
  test('renders every stream in order, the unrelayed ones disabled, without ICE; keeps formats and attributes', () => {
    const offer = readSdpOffer(SDP);
    const text = renderSdp(offer, new Set([0, 2]));
    const lines = text.split('\r\n');
    assert.deepEqual(lines.filter((l) => l.startsWith('m=')), ['m=audio 4000 RTP/AVP 0 101', 'm=video 0 RTP/AVP 96', 'm=video 4002 RTP/AVPF 97']);
    assert.ok(lines.includes('c=IN IP4 192.0.2.10'));
    assert.ok(lines.includes('c=IN IP4 192.0.2.11'), 'a stream at another address gets its own c=');
    assert.ok(lines.includes('a=rtpmap:101 telephone-event/8000'));
    assert.ok(lines.includes('a=rtcp-mux'));
    assert.ok(!text.includes('candidate') && !text.includes('ice-ufrag'), 'ICE stays with the module');
    assert.ok(readSdpOffer(text), 'what is sent parses as SDP');
  });

  test('reads the relay\'s address and ports per stream, session or media c=, a=rtcp or rtcp-mux', () => {
    const offer = readSdpOffer(SDP);
    const streams = [offer.streams[0]!, offer.streams[2]!];
    const back = ['v=0', 'o=- 1 1 IN IP4 203.0.113.5', 's=-', 'c=IN IP4 203.0.113.5', 't=0 0',
      'm=audio 30000 RTP/AVP 0 101', 'a=rtcp:30001',
      'm=video 0 RTP/AVP 96',
      'm=video 30002 RTP/AVPF 97', 'c=IN IP6 2001:db8::5', 'a=rtcp-mux', ''].join('\r\n');
    assert.deepEqual([...readRelayed(back, streams)], [
      [0, { address: '203.0.113.5', rtpPort: 30000, rtcpPort: 30001 }],
      [2, { address: '2001:db8::5', rtpPort: 30002, rtcpPort: 30002 }],
    ]);
    const refused = back.replace('m=audio 30000', 'm=audio 0');
    assert.deepEqual([...readRelayed(refused, streams).keys()], [2], 'a stream answered with port 0 is not relayed');
  });

  test('NG addresses', () => {
    assert.deepEqual(parseNgAddress('10.0.0.5:2223'), { host: '10.0.0.5', port: 2223 });
    assert.deepEqual(parseNgAddress('[2001:db8::1]:2223'), { host: '2001:db8::1', port: 2223 });
    assert.deepEqual(parseNgAddress('relay.example.net:2223'), { host: 'relay.example.net', port: 2223 });
    for (const bad of ['10.0.0.5', '10.0.0.5:0', '[relay]:1', ':2223', '2001:db8::1:2223']) assert.equal(parseNgAddress(bad), null, bad);
  });
});

describe('RelaySet', () => {
  const log = createLogger({ level: 'silent' });
  /** A client that never answers a ping: health only changes through markFailed here. */
  const silentClient = { ping: () => new Promise(() => undefined), close: async () => undefined } as unknown as NgClient;
  const relay = (name: string, weight: number, set = 'default'): RemoteRelay => ({ name, weight, set, client: silentClient });
  const health = { pingIntervalMs: 60_000, minBackoffMs: 60_000, maxBackoffMs: 60_000 };

  test('spreads new calls exactly by weight', async () => {
    const s = new RelaySet([relay('a', 3), relay('b', 1), relay('zero', 0)], health, log);
    const picks = Array.from({ length: 40 }, () => s.pick(undefined)!.name);
    assert.equal(picks.filter((p) => p === 'a').length, 30);
    assert.equal(picks.filter((p) => p === 'b').length, 10);
    assert.ok(!picks.includes('zero'), 'weight 0 takes no call unless named');
    assert.equal(s.pick({ relay: 'zero' })?.name, 'zero');
    await s.close();
  });

  test('by name, by set, excluding relays tried, and never a failed relay', async () => {
    const s = new RelaySet([relay('eu-1', 1, 'eu'), relay('eu-2', 1, 'eu'), relay('us-1', 1, 'us')], health, log);
    assert.equal(s.pick({ relay: 'us-1' })?.name, 'us-1');
    assert.ok(['eu-1', 'eu-2'].includes(s.pick({ set: 'eu' })!.name));
    assert.equal(s.pick({ set: 'eu' }, new Set(['eu-1']))?.name, 'eu-2');
    s.markFailed('eu-2');
    assert.equal(s.healthOf('eu-2')?.up, false);
    for (let i = 0; i < 5; i++) assert.equal(s.pick({ set: 'eu' })?.name, 'eu-1');
    assert.equal(s.pick({ relay: 'eu-2' }), null, 'a named relay that is down takes no call');
    s.markFailed('eu-1');
    assert.equal(s.pick({ set: 'eu' }), null);
    assert.equal(s.pick({ set: 'nowhere' }), null);
    await s.close();
  });

  test('operators see each relay: up, calls placed, a health that fails only when no relay answers', async () => {
    const s = new RelaySet([relay('eu-1', 1, 'eu'), relay('us-1', 1, 'us')], health, log);
    const backend = new NgBackend({ relays: s, failoverTries: 1, lostAfterFailures: 3, log });
    const ops = mediaOperations(backend);
    const read = async (name: string) => ops.metrics!.find((m) => m.name === name)!.read();
    assert.deepEqual(await read('switchyard_media_relay_up'), [{ labels: { relay: 'eu-1', set: 'eu' }, value: 1 }, { labels: { relay: 'us-1', set: 'us' }, value: 1 }]);
    assert.deepEqual(await ops.health!(), { ok: true });
    s.markFailed('eu-1');
    assert.deepEqual(await ops.health!(), { ok: true, detail: 'relays down: eu-1' });
    s.markFailed('us-1');
    assert.equal((await ops.health!()).ok, false);
    assert.deepEqual(await read('switchyard_media_relay_calls_placed_total'), [{ labels: { relay: 'eu-1', set: 'eu' }, value: 0 }, { labels: { relay: 'us-1', set: 'us' }, value: 0 }]);
    backend.close();
  });
});

describe('NG counters as session counters', () => {
  test('the caller\'s leg is party a, the callee\'s b, per stream and component', () => {
    const stream = (port: number, rtcp: boolean, packets: number, confirmed: boolean) => ({
      localPort: port, endpoint: { family: 'IPv4' as const, address: '192.0.2.1', port: 4000 }, flags: [rtcp ? 'RTCP' : 'RTP', ...(confirmed ? ['confirmed'] : [])], stats: { packets, bytes: packets * 100, errors: 0 },
    });
    const stats = {
      created: 1000, tags: [
        { tag: 'callee-tag', medias: [{ index: 1, type: 'audio', flags: [], streams: [stream(30000, false, 7, true), stream(30001, true, 1, false)] }] },
        { tag: 'caller-tag', medias: [{ index: 1, type: 'audio', flags: [], streams: [stream(30002, false, 5, true), stream(30003, true, 0, false)] }] },
      ], totals: { rtp: { packets: 12, bytes: 1200, errors: 0 }, rtcp: { packets: 1, bytes: 100, errors: 0 } },
    };
    const out = sessionCounters('c1', stats, { caller: 'caller-tag', callee: 'callee-tag' }, 1_000_000 + 2000);
    assert.deepEqual(out.map((s) => [s.key.stream, s.key.component, s.stats.port, s.stats.parties[0]!.packets, s.stats.parties[1]!.packets]), [
      [0, 'rtp', 30002, 5, 7],
      [0, 'rtcp', 30003, 0, 1],
    ]);
    assert.equal(out[0]!.stats.parties[0]!.latched, true);
    assert.equal(out[0]!.stats.durationMs, 2000);
  });

  test('an rtcp-mux leg (rtpengine flags its one stream RTP and RTCP, beside an unused fallback RTCP stream) counts as RTP', () => {
    const counters = (packets: number) => ({ packets, bytes: packets * 100, errors: 0 });
    const browser = {
      tag: 'caller-tag', medias: [{ index: 1, type: 'audio', flags: ['rtcp-mux'], streams: [
        { localPort: 30000, flags: ['RTP', 'RTCP', 'filled', 'ICE'], stats: counters(50) },
        { localPort: 0, flags: ['RTCP', 'fallback RTCP', 'filled'], stats: counters(0) },
      ] }],
    };
    const phone = {
      tag: 'callee-tag', medias: [{ index: 1, type: 'audio', flags: [], streams: [
        { localPort: 30002, flags: ['RTP'], stats: counters(54) }, { localPort: 30003, flags: ['RTCP'], stats: counters(1) },
      ] }],
    };
    assert.deepEqual(legTotals(browser), { rtp: counters(50), rtcp: counters(0) });
    assert.deepEqual(legTotals(phone), { rtp: counters(54), rtcp: counters(1) });
    const stats = { created: 1000, tags: [browser, phone], totals: { rtp: counters(104), rtcp: counters(1) } };
    const out = sessionCounters('c1', stats, { caller: 'caller-tag', callee: 'callee-tag' }, 1_000_000);
    assert.deepEqual(out.map((s) => [s.key.component, s.stats.parties[0]!.packets, s.stats.parties[1]!.packets]), [['rtp', 50, 54], ['rtcp', 0, 1]]);
  });
});

describe('SourceSets', () => {
  test('the first rule holding the source names the set; IPv4-mapped sources match IPv4 ranges', () => {
    const s = new SourceSets([{ from: ['10.0.0.0/8', '2001:db8::/32'], set: 'eu' }, { from: ['192.0.2.7'], set: 'us' }, { from: ['0.0.0.0/0'], set: 'rest' }]);
    assert.equal(s.setFor('10.1.2.3'), 'eu');
    assert.equal(s.setFor('::ffff:10.1.2.3'), 'eu');
    assert.equal(s.setFor('2001:db8::9'), 'eu');
    assert.equal(s.setFor('192.0.2.7'), 'us');
    assert.equal(s.setFor('198.51.100.1'), 'rest');
    assert.equal(s.setFor('2001:db9::1'), undefined);
    assert.equal(validSourceSets([{ from: ['10.0.0.0/33'], set: 'x' }]), false);
    assert.equal(validSourceSets([{ from: ['relay.example'], set: 'x' }]), false);
  });
});
