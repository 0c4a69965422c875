import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { readSdpOffer, type SdpMediaOffer } from '../../core/dialects/sip/media-offer.ts';
import { PlainMediaOffer } from '../../core/dialects/plain/media-offer.ts';
import type { MediaStream, RelayedStream } from '../../core/model/media.ts';
import { parseCandidate } from '../../modules/ice-hints/candidate.ts';
import { candidatePriority, relayCandidatePriority } from '../../modules/ice-hints/priority.ts';
import { applyIceHints, type IceHintOptions } from '../../modules/ice-hints/rewrite.ts';

function sdpOf(...lines: string[]): SdpMediaOffer {
  return readSdpOffer([...lines, ''].join('\r\n'));
}

const formatSdp = (offer: SdpMediaOffer): string => offer.toBuffer().toString('utf8');
const opts = (o: Partial<IceHintOptions>): IceHintOptions => ({ candidate: 'none', dropIPv6Candidates: false, removeIce: false, ...o });
const candidates = (offer: SdpMediaOffer, i = 0): string[] => offer.attributes(i).filter((a) => a.name === 'candidate').map((a) => a.value!);

/** A browser-like audio offer: ICE, rtcp-mux, host candidates on IPv4 and IPv6, a server-reflexive one. */
const WEBRTC_OFFER = [
  'v=0', 'o=- 4611731400430051336 2 IN IP4 127.0.0.1', 's=-', 't=0 0', 'a=group:BUNDLE 0',
  'm=audio 54609 UDP/TLS/RTP/SAVPF 111', 'c=IN IP4 203.0.113.5', 'a=rtcp:9 IN IP4 0.0.0.0',
  'a=candidate:1467250027 1 udp 2122260223 192.168.1.10 54609 typ host generation 0',
  'a=candidate:1467250028 1 udp 2122194687 2001:db8::10 54610 typ host generation 0',
  'a=candidate:435653019 1 udp 1686052607 203.0.113.5 54609 typ srflx raddr 192.168.1.10 rport 54609 generation 0',
  'a=end-of-candidates', 'a=ice-ufrag:Oyef', 'a=ice-pwd:7Sd7U3rJ0cq3kvCCR6pOMyDQ', 'a=ice-options:trickle',
  'a=fingerprint:sha-256 49:66:12:17:0D:1C:91:AE:57:4C:C6:36:DD:D5:97:D2:7D:62:C9:9A:7F:B9:A3:F4:70:03:E7:43:91:73:23:5A',
  'a=setup:actpass', 'a=mid:0', 'a=sendrecv', 'a=rtcp-mux', 'a=rtpmap:111 opus/48000/2',
];

/** A softphone offer with ICE at session level, no rtcp-mux: candidates for RTP and RTCP. */
const SOFTPHONE_OFFER = [
  'v=0', 'o=alice 2890844526 2890844526 IN IP4 198.51.100.10', 's=-', 'c=IN IP4 198.51.100.10', 't=0 0',
  'a=ice-ufrag:8hhY', 'a=ice-pwd:asd88fgpdd777uzjYhagZg',
  'm=audio 49170 RTP/AVP 0',
  'a=candidate:1 1 UDP 2130706431 198.51.100.10 49170 typ host',
  'a=candidate:1 2 UDP 2130706430 198.51.100.10 49171 typ host',
  'a=candidate:2 1 UDP 1694498815 192.0.2.3 45664 typ srflx raddr 198.51.100.10 rport 49170',
  'a=candidate:2 2 UDP 1694498814 192.0.2.3 45665 typ srflx raddr 198.51.100.10 rport 49171',
  'm=video 0 RTP/AVP 31',
];

/** A stream the relay took over: the party's `raddr`:`rport`, now at the relay's `address`, 5000 (RTCP 5001). */
function stream(o: { index?: number; rtcpMux?: boolean; raddr?: string; rport?: number; address?: string } = {}): RelayedStream {
  const raddr = o.raddr ?? '198.51.100.10';
  const rport = o.rport ?? 49170;
  const s: MediaStream = {
    index: o.index ?? 0, kind: 'audio', proto: 'RTP/AVP', formats: ['0'], rtp: { address: raddr, port: rport },
    rtcp: o.rtcpMux === true ? null : { address: raddr, port: rport + 1 }, rtcpMux: o.rtcpMux ?? false, disabled: false,
  };
  return { stream: s, to: { address: o.address ?? '192.0.2.1', rtpPort: 5000, rtcpPort: 5001 } };
}

describe('RFC 8445 priorities', () => {
  test('the formula: 2^24·type + 2^8·local + (256 − component)', () => {
    assert.equal(candidatePriority(126, 65535, 1), 2130706431);
    assert.equal(candidatePriority(126, 65535, 2), 2130706430);
    assert.equal(candidatePriority(100, 65535, 1), 1694498815);
    assert.equal(candidatePriority(0, 0, 1), 255);
    assert.throws(() => candidatePriority(127, 0, 1), /type preference/);
    assert.throws(() => candidatePriority(0, 65536, 1), /local preference/);
    assert.throws(() => candidatePriority(0, 0, 0), /component/);
  });

  test('low-priority sorts below every host and server-reflexive candidate; high-priority above them all', () => {
    for (const component of [1, 2]) {
      const low = relayCandidatePriority('low-priority', component);
      assert.ok(low < candidatePriority(1, 0, component), 'below anything with a non-zero type preference');
      assert.ok(low > 0);
      const existing = [2130706431, 2122260223, 1686052607];
      const high = relayCandidatePriority('high-priority', component, existing);
      assert.ok(high > Math.max(...existing));
      assert.ok(high <= 2 ** 31 - 1);
    }
    assert.equal(relayCandidatePriority('high-priority', 1, [2 ** 31 - 1]), 2 ** 31 - 1, 'capped at the largest valid priority');
  });
});

describe('ICE hints on a relayed SDP', () => {
  test('low-priority, rtcp-mux: one relay candidate for component 1, before a=end-of-candidates, ranked last', () => {
    const sdp = sdpOf(...WEBRTC_OFFER);
    assert.equal(applyIceHints(sdp, [stream({ rtcpMux: true, raddr: '203.0.113.5', rport: 54609 })], opts({ candidate: 'low-priority' })), true);
    const cands = candidates(sdp);
    assert.equal(cands.length, 4);
    const relay = parseCandidate(cands[3]!)!;
    assert.deepEqual({ ...relay }, { foundation: 'switchyard', component: 1, transport: 'UDP', priority: relayCandidatePriority('low-priority', 1), address: '192.0.2.1', port: 5000, type: 'relay' });
    assert.match(cands[3]!, / typ relay raddr 203\.0\.113\.5 rport 54609$/);
    for (const c of cands.slice(0, 3)) assert.ok(parseCandidate(c)!.priority > relay.priority);
    const text = formatSdp(sdp);
    assert.ok(text.indexOf('typ relay') < text.indexOf('a=end-of-candidates'), 'before end-of-candidates');
  });

  test('high-priority without rtcp-mux: components 1 and 2 at the relay RTP and RTCP ports, each above the client\'s own', () => {
    const sdp = sdpOf(...SOFTPHONE_OFFER);
    applyIceHints(sdp, [stream()], opts({ candidate: 'high-priority' }));
    const all = candidates(sdp).map((c) => parseCandidate(c)!);
    const relay = all.filter((c) => c.type === 'relay');
    assert.deepEqual(relay.map((c) => [c.component, c.port]), [[1, 5000], [2, 5001]]);
    for (const r of relay) {
      for (const c of all.filter((x) => x.type !== 'relay' && x.component === r.component)) assert.ok(r.priority > c.priority);
    }
    assert.deepEqual(candidates(sdp, 1), [], 'the rejected video stream gets none');
  });

  test('none leaves the SDP as it was; a stream without ICE is never touched', () => {
    const sdp = sdpOf(...SOFTPHONE_OFFER);
    const before = formatSdp(sdp);
    assert.equal(applyIceHints(sdp, [stream()], opts({})), false);
    assert.equal(formatSdp(sdp), before);
    const plain = sdpOf('v=0', 'o=- 1 1 IN IP4 198.51.100.10', 's=-', 'c=IN IP4 198.51.100.10', 't=0 0', 'm=audio 49170 RTP/AVP 0');
    const plainBefore = formatSdp(plain);
    assert.equal(applyIceHints(plain, [stream()], opts({ candidate: 'high-priority', dropIPv6Candidates: true })), false);
    assert.equal(formatSdp(plain), plainBefore);
  });

  test('IPv6 candidates can be dropped; IPv4 ones stay', () => {
    const sdp = sdpOf(...WEBRTC_OFFER);
    applyIceHints(sdp, [stream({ rtcpMux: true })], opts({ dropIPv6Candidates: true }));
    const addrs = candidates(sdp).map((c) => parseCandidate(c)!.address);
    assert.deepEqual(addrs, ['192.168.1.10', '203.0.113.5']);
  });

  test('removing ICE strips every ICE attribute at session and media level, nothing else', () => {
    const sdp = sdpOf(...SOFTPHONE_OFFER);
    assert.equal(applyIceHints(sdp, [stream()], opts({ removeIce: true, candidate: 'high-priority' })), true);
    const text = formatSdp(sdp);
    assert.doesNotMatch(text, /a=(ice-|candidate|end-of-candidates|remote-candidates)/);
    assert.match(text, /m=audio 49170 RTP\/AVP 0/);
    const webrtc = sdpOf(...WEBRTC_OFFER);
    applyIceHints(webrtc, [stream({ rtcpMux: true })], opts({ removeIce: true }));
    const t2 = formatSdp(webrtc);
    assert.doesNotMatch(t2, /a=(ice-|candidate|end-of-candidates)/);
    assert.match(t2, /a=fingerprint:sha-256 /);
    assert.match(t2, /a=rtcp-mux/);
  });

  test('an IPv6 offer (c=IN IP6, IPv6 candidates): relay candidates follow the advertised address; dropping IPv6 empties the client\'s list', () => {
    const v6 = [
      'v=0', 'o=- 1 1 IN IP6 2001:db8::10', 's=-', 'c=IN IP6 2001:db8::10', 't=0 0', 'a=ice-ufrag:v6uf', 'a=ice-pwd:v6pwdv6pwdv6pwdv6pwdv6pw',
      'm=audio 40000 RTP/AVP 0',
      'a=candidate:1 1 UDP 2130706431 2001:db8::10 40000 typ host',
      'a=candidate:1 2 UDP 2130706430 2001:db8::10 40001 typ host',
    ];
    const sdp = sdpOf(...v6);
    applyIceHints(sdp, [stream({ raddr: '2001:db8::10', rport: 40000, address: '2001:db8::1' })], opts({ candidate: 'high-priority' }));
    const relay = candidates(sdp).map((c) => parseCandidate(c)!).filter((c) => c.type === 'relay');
    assert.deepEqual(relay.map((c) => [c.component, c.address, c.port]), [[1, '2001:db8::1', 5000], [2, '2001:db8::1', 5001]]);
    assert.match(candidates(sdp)[2]!, / raddr 2001:db8::10 rport 40000$/);
    const dropped = sdpOf(...v6);
    applyIceHints(dropped, [stream()], opts({ candidate: 'low-priority', dropIPv6Candidates: true }));
    assert.deepEqual(candidates(dropped).map((c) => parseCandidate(c)!.type), ['relay', 'relay'], 'only the IPv4 relay candidates are left');
  });

  test('an IPv6 relay address gives an IPv6 candidate', () => {
    const sdp = sdpOf(...SOFTPHONE_OFFER);
    applyIceHints(sdp, [stream({ address: '2001:db8::1' })], opts({ candidate: 'low-priority' }));
    const relay = candidates(sdp).map((c) => parseCandidate(c)!).filter((c) => c.type === 'relay');
    assert.deepEqual(relay.map((c) => c.address), ['2001:db8::1', '2001:db8::1']);
  });
});

describe('ICE hints through the MediaOffer', () => {
  test('relay candidates land right after the client\'s last candidate, the rest of the SDP byte for byte', () => {
    const offer = sdpOf(...SOFTPHONE_OFFER, 'a=sendrecv');
    assert.equal(offer.changed, false);
    applyIceHints(offer, [stream()], opts({ candidate: 'low-priority' }));
    assert.equal(offer.changed, true);
    const low1 = relayCandidatePriority('low-priority', 1);
    const low2 = relayCandidatePriority('low-priority', 2);
    assert.equal(formatSdp(offer), [
      ...SOFTPHONE_OFFER.slice(0, 12),
      `a=candidate:switchyard 1 UDP ${low1} 192.0.2.1 5000 typ relay raddr 198.51.100.10 rport 49170`,
      `a=candidate:switchyard 2 UDP ${low2} 192.0.2.1 5001 typ relay raddr 198.51.100.10 rport 49171`,
      'm=video 0 RTP/AVP 31',
      'a=sendrecv',
      '',
    ].join('\r\n'));
  });

  test('a stream with ICE but no candidates yet gets the relay candidates at the end of its section', () => {
    const offer = sdpOf('v=0', 'o=- 1 1 IN IP4 198.51.100.10', 's=-', 'c=IN IP4 198.51.100.10', 't=0 0',
      'm=audio 49170 RTP/AVP 0', 'a=ice-ufrag:abcd', 'a=ice-pwd:abcdabcdabcdabcdabcdabcd', 'a=rtcp-mux');
    applyIceHints(offer, [stream({ rtcpMux: true })], opts({ candidate: 'high-priority' }));
    assert.deepEqual(offer.attributes(0).map((a) => a.name), ['ice-ufrag', 'ice-pwd', 'rtcp-mux', 'candidate']);
  });

  test('a plain party\'s description has no ICE: nothing changes', () => {
    const offer = new PlainMediaOffer({ address: '::ffff:198.51.100.10', port: 4000 });
    const relayed: RelayedStream = { stream: offer.streams[0]!, to: { address: '192.0.2.1', rtpPort: 5000 } };
    assert.equal(applyIceHints(offer, [relayed], opts({ candidate: 'high-priority', dropIPv6Candidates: true })), false);
    assert.equal(applyIceHints(offer, [relayed], opts({ removeIce: true })), false);
    assert.equal(offer.changed, false);
  });
});
