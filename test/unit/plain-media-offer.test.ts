/**
 * The plain protocol's media description (core/dialects/plain/media-offer.ts): one stream at the
 * party's signaling address, and the relay port the engine reads back for MEDIA_PORT.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { PlainMediaOffer } from '../../core/dialects/plain/media-offer.ts';

const ALICE = { address: '::ffff:198.51.100.10', port: 40001 };

describe('PlainMediaOffer', () => {
  test('one UDP stream at the party\'s signaling address, no RTCP, no formats, no attributes', () => {
    const offer = new PlainMediaOffer(ALICE);
    assert.deepEqual(offer.streams, [
      { index: 0, kind: 'application', proto: 'udp', formats: [], rtp: ALICE, rtcp: null, rtcpMux: false, disabled: false },
    ]);
    assert.deepEqual(offer.attributes('session'), []);
    assert.deepEqual(offer.attributes(0), []);
    assert.equal(offer.changed, false);
    assert.equal(offer.mediaPort, null, 'not relayed: no MEDIA_PORT');
    assert.equal(offer.relayRequired, true, 'MEDIA_PORT can only name a relay port');
  });

  test('relayed: the stream names the relay, and its port is what MEDIA_PORT tells the other party', () => {
    const offer = new PlainMediaOffer(ALICE);
    offer.relay(0, { address: '192.0.2.1', rtpPort: 5000 });
    assert.equal(offer.changed, true);
    assert.equal(offer.mediaPort, 5000);
    assert.deepEqual(offer.streams[0]!.rtp, { address: '192.0.2.1', port: 5000 });
    assert.equal(offer.streams[0]!.rtcp, null);
  });

  test('a plain party has one stream only; attribute lines have nowhere to go', () => {
    const offer = new PlainMediaOffer(ALICE);
    assert.throws(() => offer.relay(1, { address: '192.0.2.1', rtpPort: 5000 }), RangeError);
    offer.insertAttributes(0, 0, [{ name: 'sendonly', value: null }]);
    assert.deepEqual(offer.attributes(0), []);
    assert.equal(offer.removeAttributes(0, () => true), 0);
    offer.setTransport(0, 'RTP/AVP', ['0']);
    assert.equal(offer.streams[0]!.proto, 'udp', 'MEDIA_PORT names no profile');
    assert.equal(offer.changed, false);
  });
});
