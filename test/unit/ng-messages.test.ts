import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { type BencodeInputObject, type BencodeValue, decodeBencode, encodeBencode } from '../../modules/media-relay/ng/bencode.ts';
import { callStatsFields, legTotals, type NgCallStats, parseCallStats } from '../../modules/media-relay/ng/call-stats.ts';
import {
  canonicalName,
  deleteRequestDict,
  errorResponse,
  listRequestDict,
  loadLimitResponse,
  NG_ERRORS,
  type NgRequest,
  okResponse,
  parseNgRequest,
  pongResponse,
  queryRequestDict,
  resultStatus,
  sdpRequestDict,
  splitFrame,
} from '../../modules/media-relay/ng/messages.ts';

const SDP = 'v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 30000 RTP/AVP 0\r\n';

/** Encodes a dictionary and decodes it again, as it would arrive. */
function wire(dict: BencodeInputObject): BencodeValue {
  const e = encodeBencode(dict);
  assert.ok(e.ok);
  const d = decodeBencode(e.bytes);
  assert.ok(d.ok);
  return d.value;
}

function request(dict: BencodeInputObject): NgRequest {
  const r = parseNgRequest(wire(dict));
  if (!r.ok) throw new Error(`refused: ${r.reason}`);
  return r.request;
}

function refusal(dict: BencodeInputObject): string {
  const r = parseNgRequest(wire(dict));
  assert.equal(r.ok, false, `${JSON.stringify(dict)} should be refused`);
  return r.ok ? '' : r.reason;
}

/** What Kamailio's rtpengine module sends for `rtpengine_offer("trust-address replace-origin replace-session-connection ICE=remove")`. */
const kamailioOffer: BencodeInputObject = {
  supports: ['load limit'],
  sdp: SDP,
  flags: ['trust-address', 'SIP-source-address', 'symmetric'],
  replace: ['origin', 'session-connection'],
  ICE: 'remove',
  direction: ['internal', 'external'],
  'transport-protocol': 'RTP/AVP',
  'received-from': ['IP4', '192.0.2.10'],
  'call-id': 'a84b4c76e66710@pc33',
  'via-branch': 'z9hG4bK776asdhds',
  'from-tag': '1928301774',
  command: 'offer',
  'sip-message-type': 'sip_request',
  'record call': 'no',
};

describe('NG framing', () => {
  test('cookie and body split at the first space', () => {
    const f = splitFrame(Buffer.from('5323_1 d7:command4:pinge'));
    assert.ok(f.ok);
    assert.equal(f.cookie, '5323_1');
    assert.equal(f.body.toString(), 'd7:command4:pinge');
  });

  test('a cookie of any bytes but a space is kept byte for byte (latin1)', () => {
    const f = splitFrame(Buffer.from([0xff, 0x01, 0x41, 0x20, 0x64, 0x65]));
    assert.ok(f.ok);
    assert.deepEqual([...Buffer.from(f.cookie, 'latin1')], [0xff, 0x01, 0x41]);
  });

  test('no cookie: no space, or a space first; a cookie too long to answer', () => {
    assert.deepEqual(splitFrame(Buffer.from('d7:command4:pinge')), { ok: false, reason: 'no-cookie' });
    assert.deepEqual(splitFrame(Buffer.from(' d7:command4:pinge')), { ok: false, reason: 'no-cookie' });
    assert.deepEqual(splitFrame(Buffer.alloc(0)), { ok: false, reason: 'no-cookie' });
    assert.deepEqual(splitFrame(Buffer.from(`${'c'.repeat(200)} de`)), { ok: false, reason: 'cookie-too-long' });
    assert.ok(splitFrame(Buffer.from(`${'c'.repeat(128)} de`)).ok);
  });
});

describe('NG requests', () => {
  test('canonical names: lower case, hyphens', () => {
    assert.equal(canonicalName('transport protocol'), 'transport-protocol');
    assert.equal(canonicalName('SIP_source address'), 'sip-source-address');
    assert.equal(canonicalName('call-id'), 'call-id');
    assert.equal(canonicalName('ICE'), 'ice');
  });

  test('a Kamailio offer, field by field', () => {
    const r = request(kamailioOffer);
    assert.equal(r.command, 'offer');
    if (r.command !== 'offer') return;
    assert.equal(r.callId, 'a84b4c76e66710@pc33');
    assert.equal(r.fromTag, '1928301774');
    assert.equal(r.toTag, undefined);
    assert.equal(r.viaBranch, 'z9hG4bK776asdhds');
    assert.equal(r.sdp.toString(), SDP);
    assert.deepEqual([...r.flags], ['trust-address', 'sip-source-address', 'symmetric']);
    assert.deepEqual([...r.replace], ['origin', 'session-connection']);
    assert.equal(r.ice, 'remove');
    assert.deepEqual(r.iceOptions, []);
    assert.deepEqual(r.direction, ['internal', 'external']);
    assert.equal(r.transportProtocol, 'RTP/AVP');
    assert.deepEqual(r.receivedFrom, { family: 'IP4', address: '192.0.2.10' });
    assert.equal(r.sipMessageType, 'sip_request');
    assert.ok(r.supports.has('load-limit'));
    assert.deepEqual([...r.options.keys()], ['record-call'], 'keys without a field of their own are kept');
  });

  test('keys in rtpengine\'s other spellings mean the same; one key in two spellings is refused', () => {
    const r = request({ ...kamailioOffer, 'transport-protocol': undefined, 'transport protocol': 'RTP/SAVPF', 'received-from': undefined, 'received from': ['IP6', '2001:db8::1'], 'address family': 'IP6', 'media address': '2001:db8::2' });
    assert.ok(r.command === 'offer');
    assert.equal(r.transportProtocol, 'RTP/SAVPF');
    assert.deepEqual(r.receivedFrom, { family: 'IP6', address: '2001:db8::1' });
    assert.equal(r.addressFamily, 'IP6');
    assert.equal(r.mediaAddress, '2001:db8::2');
    assert.equal(refusal({ ...kamailioOffer, 'transport protocol': 'RTP/AVP' }), 'Key "transport-protocol" given twice');
  });

  test('ICE: a single string or a list; modes apart from other items; two modes refused', () => {
    const r = request({ ...kamailioOffer, ICE: ['force', 'trickle', 'lite-both'] });
    assert.ok(r.command === 'offer');
    assert.equal(r.ice, 'force');
    assert.deepEqual(r.iceOptions, ['trickle', 'lite-both']);
    const relay = request({ ...kamailioOffer, ICE: 'force relay' });
    assert.ok(relay.command === 'offer' && relay.ice === 'force-relay');
    assert.match(refusal({ ...kamailioOffer, ICE: ['force', 'remove'] }), /two modes/);
  });

  test('offer and answer: what rtpengine requires, with its error reasons', () => {
    assert.equal(refusal({ ...kamailioOffer, 'call-id': undefined }), NG_ERRORS.noCallId);
    assert.equal(refusal({ ...kamailioOffer, 'call-id': '' }), NG_ERRORS.noCallId);
    assert.equal(refusal({ ...kamailioOffer, 'from-tag': undefined }), NG_ERRORS.noFromTag);
    assert.equal(refusal({ ...kamailioOffer, sdp: undefined }), NG_ERRORS.noSdp);
    assert.equal(refusal({ ...kamailioOffer, sdp: '' }), NG_ERRORS.noSdp);
    assert.equal(refusal({ ...kamailioOffer, command: 'answer' }), NG_ERRORS.noToTag);
    const answer = request({ ...kamailioOffer, command: 'answer', 'to-tag': 'as1' });
    assert.ok(answer.command === 'answer');
    assert.equal(answer.toTag, 'as1');
  });

  test('values of the wrong shape are refused with the key named', () => {
    assert.equal(refusal({ ...kamailioOffer, 'call-id': 5 }), '"call-id" must be a string');
    assert.equal(refusal({ ...kamailioOffer, sdp: ['v=0'] }), '"sdp" must be a string');
    assert.equal(refusal({ ...kamailioOffer, flags: { a: 1 } }), '"flags" must be a list of strings');
    assert.equal(refusal({ ...kamailioOffer, flags: ['ok', 1] }), '"flags" must be a list of strings');
    assert.equal(refusal({ ...kamailioOffer, 'transport-protocol': 'RTP/XYZ' }), 'Invalid "transport-protocol" value "RTP/XYZ"');
    assert.equal(refusal({ ...kamailioOffer, 'received-from': ['IP4'] }), '"received-from" must be [family, address]');
    assert.equal(refusal({ ...kamailioOffer, 'received-from': ['IP6', '192.0.2.1'] }), '"received-from" address "192.0.2.1" is not IP6');
    assert.equal(refusal({ ...kamailioOffer, 'received-from': ['IPX', '192.0.2.1'] }), 'Invalid "received-from" value "IPX"');
    assert.equal(refusal({ ...kamailioOffer, 'received-from': 'not-an-ip' }), '"not-an-ip" is not an IP address');
    assert.equal(refusal({ ...kamailioOffer, direction: ['a', 'b', 'c'] }), '"direction" names more than two interfaces');
    assert.equal(refusal({ ...kamailioOffer, 'address family': 'IP5' }), 'Invalid "address-family" value "IP5"');
  });

  test('received-from as the address alone', () => {
    const r = request({ ...kamailioOffer, 'received-from': '2001:db8::7' });
    assert.ok(r.command === 'offer');
    assert.deepEqual(r.receivedFrom, { family: 'IP6', address: '2001:db8::7' });
  });

  test('ping, statistics, list', () => {
    assert.equal(request({ command: 'ping' }).command, 'ping');
    assert.equal(request({ command: 'statistics' }).command, 'statistics');
    const list = request({ command: 'list' });
    assert.ok(list.command === 'list' && list.limit === 32);
    const five = request({ command: 'list', limit: '5' });
    assert.ok(five.command === 'list' && five.limit === 5);
    assert.equal(refusal({ command: 'list', limit: -1 }), 'invalid limit, must be >= 0');
    assert.equal(refusal({ command: 'list', limit: 'many' }), '"limit" must be an integer');
  });

  test('delete: call-id only is enough; tags, flags, delete delay', () => {
    const whole = request({ command: 'delete', 'call-id': 'c1' });
    assert.ok(whole.command === 'delete');
    assert.equal(whole.fromTag, undefined);
    const leg = request({ command: 'delete', 'call-id': 'c1', 'from-tag': 'f', 'to-tag': 't', flags: ['fatal', 'fast'], 'delete delay': 0 });
    assert.ok(leg.command === 'delete');
    assert.deepEqual([leg.fromTag, leg.toTag, leg.deleteDelay, leg.flags.has('fatal')], ['f', 't', 0, true]);
    assert.equal(refusal({ command: 'delete' }), NG_ERRORS.noCallId);
    assert.equal(refusal({ command: 'delete', 'call-id': 'c1', 'delete-delay': -5 }), '"delete delay" must not be negative');
  });

  test('query needs a call-id', () => {
    const q = request({ command: 'query', 'call-id': 'c1', 'from-tag': 'f' });
    assert.ok(q.command === 'query' && q.callId === 'c1' && q.fromTag === 'f');
    assert.equal(refusal({ command: 'query' }), NG_ERRORS.noCallId);
  });

  test('recording and the other rtpengine commands are recognised, with their call reference', () => {
    const r = request({ command: 'start recording', 'call-id': 'c1', 'from-tag': 'f' });
    assert.equal(r.command, 'start recording');
    assert.ok(r.command === 'start recording' && r.callId === 'c1');
    assert.equal(request({ command: 'block DTMF' }).command, 'block DTMF');
  });

  test('unknown command, no command, not a dictionary', () => {
    assert.equal(refusal({ command: 'explode' }), NG_ERRORS.unknownCommand);
    assert.equal(refusal({ command: 'PING' }), NG_ERRORS.unknownCommand, 'command names are case-sensitive');
    assert.equal(refusal({ 'call-id': 'x' }), NG_ERRORS.noCommand);
    assert.equal(refusal({ command: 7 }), '"command" must be a string');
    const list = parseNgRequest(wire({ l: [] }).valueOf() as BencodeValue);
    assert.ok(list.ok === false);
    const notDict = parseNgRequest(Buffer.from('ping'));
    assert.deepEqual(notDict, { ok: false, reason: NG_ERRORS.notDictionary });
  });

  test('what a client writes, a server reads back the same', () => {
    const offer = request(sdpRequestDict('offer', {
      callId: 'c1', fromTag: 'f1', viaBranch: 'z9hG4bK1', sdp: Buffer.from(SDP), flags: ['trust-address', 'symmetric'],
      replace: ['origin', 'session-connection'], ice: 'remove', direction: ['pub', 'priv'], transportProtocol: 'RTP/AVP',
      receivedFrom: { family: 'IP4', address: '192.0.2.10' }, addressFamily: 'IP4', mediaAddress: '192.0.2.20',
      rtcpMux: ['demux'], sdes: ['off'], label: 'caller', sipMessageType: 'sip_request', options: { 'record call': 'no' },
    }));
    assert.ok(offer.command === 'offer');
    assert.deepEqual(
      [offer.callId, offer.fromTag, offer.viaBranch, offer.sdp.toString(), [...offer.flags], [...offer.replace], offer.ice, offer.direction, offer.transportProtocol, offer.receivedFrom, offer.addressFamily, offer.mediaAddress, [...offer.rtcpMux], offer.sdes, offer.label, offer.sipMessageType, [...offer.supports], [...offer.options]],
      ['c1', 'f1', 'z9hG4bK1', SDP, ['trust-address', 'symmetric'], ['origin', 'session-connection'], 'remove', ['pub', 'priv'], 'RTP/AVP', { family: 'IP4', address: '192.0.2.10' }, 'IP4', '192.0.2.20', ['demux'], ['off'], 'caller', 'sip_request', ['load-limit'], [['record-call', Buffer.from('no')]]],
    );
    const answer = request(sdpRequestDict('answer', { callId: 'c1', fromTag: 'f1', toTag: 't1', sdp: SDP, ice: ['force', 'trickle'] }));
    assert.ok(answer.command === 'answer' && answer.toTag === 't1' && answer.ice === 'force' && answer.iceOptions[0] === 'trickle');
    const del = request(deleteRequestDict({ callId: 'c1', fromTag: 'f1', deleteDelay: 0, flags: ['fast'] }));
    assert.ok(del.command === 'delete' && del.deleteDelay === 0 && del.flags.has('fast'));
    const query = request(queryRequestDict({ callId: 'c1' }));
    assert.ok(query.command === 'query' && query.callId === 'c1' && query.fromTag === undefined);
    const list = request(listRequestDict(7));
    assert.ok(list.command === 'list' && list.limit === 7);
  });
});

describe('NG results', () => {
  test('result dictionaries as rtpengine writes them', () => {
    const enc = (r: BencodeInputObject): string => {
      const e = encodeBencode(r);
      assert.ok(e.ok);
      return e.bytes.toString();
    };
    assert.equal(enc(pongResponse()), 'd6:result4:ponge');
    assert.equal(enc(errorResponse('No call-id in message')), 'd12:error-reason21:No call-id in message6:result5:errore');
    assert.equal(enc(okResponse({ sdp: 'v=0' })), 'd6:result2:ok3:sdp3:v=0e');
    assert.equal(enc(okResponse({}, 'Call-ID not found')), 'd6:result2:ok7:warning17:Call-ID not founde');
    assert.equal(enc(loadLimitResponse('too many sessions')), 'd7:message17:too many sessions6:result10:load limite');
  });

  test('a client reads each kind of result', () => {
    assert.equal(resultStatus(wire(pongResponse())).kind, 'pong');
    const ok = resultStatus(wire(okResponse({ sdp: 'x' }, 'careful')));
    assert.ok(ok.kind === 'ok' && ok.warning === 'careful');
    assert.deepEqual(resultStatus(wire(errorResponse('Unknown call-id'))), { kind: 'error', reason: 'Unknown call-id' });
    assert.deepEqual(resultStatus(wire(loadLimitResponse('busy'))), { kind: 'load-limit', message: 'busy' });
    assert.equal(resultStatus(wire({ result: 'maybe' })).kind, 'malformed');
    assert.equal(resultStatus(wire({ sdp: 'x' })).kind, 'malformed');
    assert.equal(resultStatus(Buffer.from('ok')).kind, 'malformed');
  });

  test('call counters: built by a relay, read back by a client; per-leg totals', () => {
    const stats: NgCallStats = {
      created: 1_700_000_000,
      lastSignal: 1_700_000_005,
      tags: [
        {
          tag: 'caller', label: undefined, created: 1_700_000_000, inDialogueWith: 'callee',
          medias: [{
            index: 1, type: 'audio', protocol: 'RTP/AVP', flags: ['initialized'],
            streams: [
              { localPort: 30000, endpoint: { family: 'IPv4', address: '192.0.2.10', port: 4000 }, advertisedEndpoint: { family: 'IPv4', address: '192.0.2.10', port: 4000 }, lastPacket: 1_700_000_004, flags: ['RTP', 'filled'], stats: { packets: 50, bytes: 8600, errors: 0 } },
              { localPort: 30001, endpoint: undefined, advertisedEndpoint: undefined, lastPacket: undefined, flags: ['RTCP'], stats: { packets: 2, bytes: 160, errors: 0 } },
            ],
          }],
        },
        { tag: 'callee', label: 'b', created: 1_700_000_001, inDialogueWith: 'caller', medias: [{ index: 1, type: 'audio', protocol: 'RTP/AVP', flags: [], streams: [{ localPort: 30002, endpoint: undefined, advertisedEndpoint: undefined, lastPacket: undefined, flags: ['RTP'], stats: { packets: 40, bytes: 6880, errors: 1 } }] }] },
      ],
      totals: { rtp: { packets: 90, bytes: 15480, errors: 1 }, rtcp: { packets: 2, bytes: 160, errors: 0 } },
    };
    const back = parseCallStats(wire(okResponse(callStatsFields(stats))) as ReadonlyMap<string, BencodeValue>);
    // The tags dictionary is written with its keys sorted: the parties come back in that order.
    assert.deepEqual(back, { ...stats, tags: [stats.tags[1], stats.tags[0]] });
    const byTag = new Map(back.tags.map((t) => [t.tag, t]));
    assert.deepEqual(legTotals(byTag.get('caller')!), { rtp: { packets: 50, bytes: 8600, errors: 0 }, rtcp: { packets: 2, bytes: 160, errors: 0 } });
    assert.deepEqual(legTotals(byTag.get('callee')!).rtp, { packets: 40, bytes: 6880, errors: 1 });
  });

  test('counters read leniently: what is missing is empty', () => {
    const s = parseCallStats(new Map<string, BencodeValue>([['tags', new Map<string, BencodeValue>([['x', new Map<string, BencodeValue>([['medias', Buffer.from('junk')]])]])]]));
    assert.deepEqual(s.tags.map((t) => [t.tag, t.medias.length]), [['x', 0]]);
    assert.deepEqual(s.totals.rtp, { packets: 0, bytes: 0, errors: 0 });
  });
});

describe('NG request validation, fuzzed', () => {
  const keys = ['command', 'call-id', 'from-tag', 'to-tag', 'via-branch', 'sdp', 'flags', 'replace', 'ICE', 'direction', 'transport-protocol', 'transport protocol', 'received-from', 'address family', 'rtcp-mux', 'SDES', 'label', 'supports', 'rtpp-flags', 'delete delay', 'limit', 'other'];
  const words = ['offer', 'answer', 'delete', 'query', 'list', 'ping', 'statistics', 'start recording', 'IP4', 'IP6', '127.0.0.1', '::1', 'remove', 'force', 'RTP/AVP', 'origin', 'trust-address', 'replace-origin ICE=force codec=[a', '', '-1', '7'];
  const leaf: fc.Arbitrary<BencodeValue> = fc.oneof(fc.constantFrom(...words).map((w) => Buffer.from(w)), fc.integer({ min: -5, max: 50 }), fc.uint8Array({ maxLength: 12 }).map((a) => Buffer.from(a)));
  const value: fc.Arbitrary<BencodeValue> = fc.oneof(leaf, fc.array(leaf, { maxLength: 3 }), fc.dictionary(fc.constantFrom('a', 'b'), leaf).map((o) => new Map(Object.entries(o))));
  const dict = fc.uniqueArray(fc.tuple(fc.constantFrom(...keys), value), { maxLength: 10, selector: ([k]) => k }).map((entries) => new Map(entries));

  test('any dictionary is either a typed request or refused with a reason; never a throw', () => {
    fc.assert(fc.property(dict, (d) => {
      const r = parseNgRequest(d);
      if (r.ok) assert.ok(typeof r.request.command === 'string');
      else assert.ok(typeof r.reason === 'string' && r.reason.length > 0 && r.reason.length < 200);
    }), { numRuns: 5000 });
  });
});
