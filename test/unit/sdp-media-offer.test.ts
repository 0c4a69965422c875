/**
 * The SIP dialect's MediaOffer (core/dialects/sip/media-offer.ts) on its own: what it reads from
 * SDP bodies, how relay() and the attribute changes render, and that untouched lines keep their
 * bytes. No relay here: test/unit/sip-media.test.ts runs the same bodies through one.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { isMediaRefused } from '../../core/kernel/hooks.ts';
import { createRequest } from '../../core/dialects/sip/codec/message.ts';
import { hasSdpBody, readSdpOffer, sipMediaOffer } from '../../core/dialects/sip/media-offer.ts';

const RELAY = '192.0.2.1';

function sdp(...lines: string[]): string {
  return lines.map((l) => `${l}\r\n`).join('');
}

function text(offer: { toBuffer(): Buffer }): string[] {
  return offer.toBuffer().toString('utf8').split('\r\n');
}

describe('SdpMediaOffer: reading streams', () => {
  test('session-level c= applies to every stream; RTCP is RTP + 1; a multicast TTL is not part of the address', () => {
    const offer = readSdpOffer(sdp(
      'v=0', 'o=jdoe 2890844526 2890842807 IN IP4 10.47.16.5', 's=SDP Seminar', 'c=IN IP4 224.2.17.12/127', 't=2873397496 2873404696',
      'm=audio 49170 RTP/AVP 0', 'm=video 51372 RTP/AVP 99', 'a=rtpmap:99 h263-1998/90000',
    ));
    assert.deepEqual(offer.streams, [
      { index: 0, kind: 'audio', proto: 'RTP/AVP', formats: ['0'], rtp: { address: '224.2.17.12', port: 49170 }, rtcp: { address: '224.2.17.12', port: 49171 }, rtcpMux: false, disabled: false },
      { index: 1, kind: 'video', proto: 'RTP/AVP', formats: ['99'], rtp: { address: '224.2.17.12', port: 51372 }, rtcp: { address: '224.2.17.12', port: 51373 }, rtcpMux: false, disabled: false },
    ]);
    assert.equal(offer.changed, false);
    assert.equal(offer.relayRequired, false, 'unrelayed, SDP still says where the party is');
  });

  test('a media-level c= wins over the session one', () => {
    const offer = readSdpOffer(sdp(
      'v=0', 'o=- 1 1 IN IP4 198.51.100.10', 's=-', 'c=IN IP4 198.51.100.10', 't=0 0',
      'm=audio 49170 RTP/AVP 0', 'm=video 51372 RTP/AVP 31', 'c=IN IP4 198.51.100.99',
    ));
    assert.deepEqual(offer.streams.map((s) => s.rtp), [{ address: '198.51.100.10', port: 49170 }, { address: '198.51.100.99', port: 51372 }]);
  });

  test('a=rtcp (RFC 3605) with and without an address; a=rtcp-fb is not a=rtcp', () => {
    const offer = readSdpOffer(sdp(
      'v=0', 'o=- 1 1 IN IP4 198.51.100.10', 's=-', 'c=IN IP4 198.51.100.10', 't=0 0',
      'm=audio 49170 RTP/AVP 0', 'a=rtcp:53020', 'a=rtcp-fb:* nack',
      'm=video 51372 RTP/AVP 31', 'a=rtcp:53022 IN IP4 198.51.100.99',
      'm=video 51374 RTP/AVP 31', 'a=rtcp-fb:* nack',
    ));
    assert.deepEqual(offer.streams.map((s) => s.rtcp), [
      { address: '198.51.100.10', port: 53020 },
      { address: '198.51.100.99', port: 53022 },
      { address: '198.51.100.10', port: 51375 },
    ]);
  });

  test('rtcp-mux: no RTCP address of its own, unless a=rtcp names one; a port-0 stream is disabled and has no RTCP', () => {
    const offer = readSdpOffer(sdp(
      'v=0', 'o=- 1 1 IN IP4 10.0.0.5', 's=-', 'c=IN IP4 10.0.0.5', 't=0 0',
      'm=audio 8000 RTP/AVP 0', 'a=rtcp-mux',
      'm=audio 40000 UDP/TLS/RTP/SAVPF 111', 'a=rtcp:40000 IN IP4 10.0.0.5', 'a=rtcp-mux',
      'm=video 0 RTP/AVP 31',
    ));
    const [mux, muxWithRtcp, off] = offer.streams;
    assert.deepEqual([mux!.rtcpMux, mux!.rtcp], [true, null]);
    assert.deepEqual([muxWithRtcp!.rtcpMux, muxWithRtcp!.rtcp], [true, { address: '10.0.0.5', port: 40000 }]);
    assert.deepEqual([off!.disabled, off!.rtcp, off!.rtp], [true, null, { address: '10.0.0.5', port: 0 }]);
  });

  test('host names in c= and a=rtcp are kept as written, never resolved', () => {
    const offer = readSdpOffer(sdp(
      'v=0', 'o=- 1 1 IN IP4 pc33.atlanta.example.com', 's=-', 'c=IN IP4 pc33.atlanta.example.com', 't=0 0',
      'm=audio 49170 RTP/AVP 0', 'a=rtcp:49171 IN IP4 rtcp.atlanta.example.com',
    ));
    assert.deepEqual(offer.streams[0]!.rtp, { address: 'pc33.atlanta.example.com', port: 49170 });
    assert.deepEqual(offer.streams[0]!.rtcp, { address: 'rtcp.atlanta.example.com', port: 49171 });
  });

  const MALFORMED: readonly [string, string][] = [
    ['no o= line', sdp('v=0', 's=-', 'c=IN IP4 198.51.100.10', 't=0 0', 'm=audio 49170 RTP/AVP 0')],
    ['port not a number', sdp('v=0', 'o=- 1 1 IN IP4 198.51.100.10', 's=-', 'c=IN IP4 198.51.100.10', 't=0 0', 'm=audio abc RTP/AVP 0')],
    ['no c= anywhere', sdp('v=0', 'o=- 1 1 IN IP4 198.51.100.10', 's=-', 't=0 0', 'm=audio 49170 RTP/AVP 0')],
    ['not SDP at all', 'hello, this is not a session description\r\n'],
  ];
  for (const [what, body] of MALFORMED) {
    test(`malformed (${what}): MediaRefused 400 Malformed SDP, the parser's reason as its cause`, () => {
      assert.throws(() => readSdpOffer(body), (err: unknown) => {
        assert.ok(isMediaRefused(err));
        assert.deepEqual([err.status, err.reason], [400, 'Malformed SDP']);
        assert.equal(typeof err.cause, 'string');
        return true;
      });
    });
  }
});

describe('SdpMediaOffer: relaying streams', () => {
  const TWO_STREAMS = sdp(
    'v=0', 'o=alice 2890844526 2890844526 IN IP4 198.51.100.10', 's=', 'c=IN IP4 198.51.100.10', 't=0 0',
    'm=audio 49170 RTP/AVP 0 8 97', 'a=rtpmap:0 PCMU/8000',
    'm=video 51372 RTP/AVP 31 32', 'a=rtpmap:31 H261/90000',
  );

  test('every stream relayed: the session c= and the m= ports change, nothing else; streams name the relay', () => {
    const offer = readSdpOffer(TWO_STREAMS);
    offer.relay(0, { address: RELAY, rtpPort: 5000, rtcpPort: 5001 });
    offer.relay(1, { address: RELAY, rtpPort: 5002, rtcpPort: 5003 });
    assert.equal(offer.changed, true);
    assert.deepEqual(text(offer), [
      'v=0', 'o=alice 2890844526 2890844526 IN IP4 198.51.100.10', 's=', `c=IN IP4 ${RELAY}`, 't=0 0',
      'm=audio 5000 RTP/AVP 0 8 97', 'a=rtpmap:0 PCMU/8000',
      'm=video 5002 RTP/AVP 31 32', 'a=rtpmap:31 H261/90000', '',
    ]);
    assert.deepEqual(offer.streams[1]!.rtp, { address: RELAY, port: 5002 });
    assert.deepEqual(offer.streams[1]!.rtcp, { address: RELAY, port: 5003 });
  });

  test('a stream left alone keeps the session c=; the relayed one gets a c= of its own', () => {
    const offer = readSdpOffer(TWO_STREAMS);
    offer.relay(0, { address: RELAY, rtpPort: 5000, rtcpPort: 5001 });
    assert.deepEqual(text(offer), [
      'v=0', 'o=alice 2890844526 2890844526 IN IP4 198.51.100.10', 's=', 'c=IN IP4 198.51.100.10', 't=0 0',
      'm=audio 5000 RTP/AVP 0 8 97', `c=IN IP4 ${RELAY}`, 'a=rtpmap:0 PCMU/8000',
      'm=video 51372 RTP/AVP 31 32', 'a=rtpmap:31 H261/90000', '',
    ]);
  });

  test('streams relayed to two addresses each get a c= of their own, the IP version following the address', () => {
    const offer = readSdpOffer(TWO_STREAMS);
    offer.relay(0, { address: RELAY, rtpPort: 5000, rtcpPort: 5001 });
    offer.relay(1, { address: '2001:db8::1', rtpPort: 6000, rtcpPort: 6001 });
    const lines = text(offer);
    assert.ok(lines.includes('c=IN IP4 198.51.100.10'), 'the session c= is left as it was');
    assert.equal(lines[lines.indexOf('m=audio 5000 RTP/AVP 0 8 97') + 1], `c=IN IP4 ${RELAY}`);
    assert.equal(lines[lines.indexOf('m=video 6000 RTP/AVP 31 32') + 1], 'c=IN IP6 2001:db8::1');
  });

  test('a=rtcp is rewritten only where the party wrote one; relaying again renders the last relay only once', () => {
    const offer = readSdpOffer(sdp(
      'v=0', 'o=- 1 1 IN IP4 198.51.100.10', 's=-', 'c=IN IP4 198.51.100.10', 't=0 0',
      'm=audio 49170 RTP/AVP 0', 'a=rtcp:53020', 'a=rtcp:53020',
      'm=audio 49172 RTP/AVP 0',
    ));
    offer.relay(0, { address: RELAY, rtpPort: 5000, rtcpPort: 5001 });
    offer.relay(1, { address: RELAY, rtpPort: 5002, rtcpPort: 5003 });
    offer.toBuffer();
    offer.relay(0, { address: RELAY, rtpPort: 5004, rtcpPort: 5005 });
    assert.deepEqual(text(offer), [
      'v=0', 'o=- 1 1 IN IP4 198.51.100.10', 's=-', `c=IN IP4 ${RELAY}`, 't=0 0',
      'm=audio 5004 RTP/AVP 0', `a=rtcp:5005 IN IP4 ${RELAY}`,
      'm=audio 5002 RTP/AVP 0', '',
    ]);
  });

  test('setTransport rewrites one m= line\'s profile and formats, nothing else; the same profile again changes nothing', () => {
    const offer = readSdpOffer(TWO_STREAMS);
    offer.setTransport(0, 'RTP/AVP', offer.streams[0]!.formats);
    assert.equal(offer.changed, false);
    offer.setTransport(1, 'UDP/TLS/RTP/SAVPF', ['111', '0']);
    assert.equal(offer.changed, true);
    assert.deepEqual([offer.streams[1]!.proto, offer.streams[1]!.formats], ['UDP/TLS/RTP/SAVPF', ['111', '0']]);
    const before = TWO_STREAMS.split('\r\n');
    const after = text(offer);
    assert.deepEqual(after.filter((l, i) => l !== before[i]), ['m=video 51372 UDP/TLS/RTP/SAVPF 111 0']);
    assert.throws(() => offer.setTransport(2, 'RTP/AVP', ['0']), RangeError);
  });

  test('an unknown stream index is an error', () => {
    const offer = readSdpOffer(TWO_STREAMS);
    assert.throws(() => offer.relay(2, { address: RELAY, rtpPort: 5000 }), RangeError);
    assert.throws(() => offer.attributes(5), RangeError);
  });
});

describe('SdpMediaOffer: attribute lines', () => {
  const WITH_ATTRIBUTES = sdp(
    'v=0', 'o=- 1 1 IN IP4 198.51.100.10', 's=-', 'c=IN IP4 198.51.100.10', 't=0 0', 'a=ice-ufrag:8hhY', 'a=ice-lite',
    'm=audio 49170 RTP/AVP 0', 'b=AS:64', 'a=candidate:1 1 UDP 2130706431 198.51.100.10 49170 typ host', 'a=end-of-candidates', 'a=sendrecv',
  );

  test('read in order, name and value split at the first colon, flags without a value', () => {
    const offer = readSdpOffer(WITH_ATTRIBUTES);
    assert.deepEqual(offer.attributes('session'), [{ name: 'ice-ufrag', value: '8hhY' }, { name: 'ice-lite', value: null }]);
    assert.deepEqual(offer.attributes(0).map((a) => a.name), ['candidate', 'end-of-candidates', 'sendrecv']);
    assert.equal(offer.attributes(0)[0]!.value, '1 1 UDP 2130706431 198.51.100.10 49170 typ host');
  });

  test('inserted before an attribute by its position, or at the end of the section', () => {
    const offer = readSdpOffer(WITH_ATTRIBUTES);
    offer.insertAttributes(0, 1, [{ name: 'candidate', value: 'x 1 UDP 1 192.0.2.1 5000 typ relay' }]);
    offer.insertAttributes(0, 4, [{ name: 'rtcp-mux', value: null }]);
    offer.insertAttributes('session', 2, [{ name: 'ice-pwd', value: 'asd88fgpdd777uzjYhagZg' }]);
    assert.deepEqual(text(offer), [
      'v=0', 'o=- 1 1 IN IP4 198.51.100.10', 's=-', 'c=IN IP4 198.51.100.10', 't=0 0', 'a=ice-ufrag:8hhY', 'a=ice-lite', 'a=ice-pwd:asd88fgpdd777uzjYhagZg',
      'm=audio 49170 RTP/AVP 0', 'b=AS:64', 'a=candidate:1 1 UDP 2130706431 198.51.100.10 49170 typ host',
      'a=candidate:x 1 UDP 1 192.0.2.1 5000 typ relay', 'a=end-of-candidates', 'a=sendrecv', 'a=rtcp-mux', '',
    ]);
    assert.throws(() => offer.insertAttributes(0, 9, [{ name: 'late', value: null }]), RangeError);
  });

  test('inserting into the last section of a body closed by an empty line keeps that line last', () => {
    const offer = readSdpOffer('v=0\r\no=- 1 1 IN IP4 198.51.100.10\r\ns=-\r\nc=IN IP4 198.51.100.10\r\nt=0 0\r\nm=audio 49170 RTP/AVP 0\r\n\r\n');
    offer.insertAttributes(0, 0, [{ name: 'sendonly', value: null }]);
    assert.equal(offer.toBuffer().toString(), 'v=0\r\no=- 1 1 IN IP4 198.51.100.10\r\ns=-\r\nc=IN IP4 198.51.100.10\r\nt=0 0\r\nm=audio 49170 RTP/AVP 0\r\na=sendonly\r\n\r\n');
  });

  test('removed by a predicate, with a count; nothing removed changes nothing', () => {
    const offer = readSdpOffer(WITH_ATTRIBUTES);
    assert.equal(offer.removeAttributes(0, (a) => a.name === 'rtcp'), 0);
    assert.equal(offer.changed, false);
    assert.equal(offer.removeAttributes('session', (a) => a.name.startsWith('ice-')), 2);
    assert.equal(offer.changed, true);
    assert.deepEqual(offer.attributes('session'), []);
    assert.ok(!text(offer).some((l) => l.startsWith('a=ice-')));
  });
});

describe('SdpMediaOffer in a SIP message', () => {
  const BODY = sdp('v=0', 'o=- 1 1 IN IP4 198.51.100.10', 's=-', 'c=IN IP4 198.51.100.10', 't=0 0', 'm=audio 49170 RTP/AVP 0');

  function invite(body: string, contentType: string | null): ReturnType<typeof createRequest> {
    const headers: [string, string][] = [
      ['Via', 'SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds'], ['From', '<sip:alice@atlanta.example.com>;tag=1'],
      ['To', '<sip:bob@biloxi.example.com>'], ['Call-ID', 'c1'], ['CSeq', '1 INVITE'],
    ];
    if (contentType !== null) headers.push(['Content-Type', contentType]);
    return createRequest({ method: 'INVITE', uri: 'sip:bob@biloxi.example.com', headers, body });
  }

  test('hasSdpBody: a non-empty body with Content-Type application/sdp, in any case, parameters ignored', () => {
    assert.equal(hasSdpBody(invite(BODY, 'application/sdp')), true);
    assert.equal(hasSdpBody(invite(BODY, 'Application/SDP; charset=UTF-8')), true);
    for (const ct of ['text/plain', 'application/sdpx', 'multipart/mixed;boundary=x', null]) assert.equal(hasSdpBody(invite(BODY, ct)), false, String(ct));
    assert.equal(hasSdpBody(invite('', 'application/sdp')), false);
  });

  test('writeTo replaces the body only when the description changed', () => {
    const msg = invite(BODY, 'application/sdp');
    const before = msg.body;
    const offer = sipMediaOffer(msg);
    assert.equal(offer.writeTo(msg), false);
    assert.equal(msg.body, before, 'the same Buffer');
    offer.relay(0, { address: RELAY, rtpPort: 5000, rtcpPort: 5001 });
    assert.equal(offer.writeTo(msg), true);
    assert.equal(msg.body.toString(), BODY.replace('c=IN IP4 198.51.100.10', `c=IN IP4 ${RELAY}`).replace('49170', '5000'));
  });
});
