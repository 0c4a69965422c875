/**
 * The NG client against real rtpengine (userspace, loopback): a call set up with the flags
 * Kamailio's default rtpengine calls send, media through it, its per-leg counters, its end;
 * then the same client facing the stopped relay, which must fail within its deadline.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { legTotals } from '../../modules/media-relay/ng/call-stats.ts';
import { NgClient } from '../../modules/media-relay/ng/client.ts';
import { NG_ERRORS, type NgSdpParams, parseNgRequest } from '../../modules/media-relay/ng/messages.ts';
import { type Rtpengine, rtpengineMissing, startRtpengine } from '../helpers/rtpengine.ts';
import { UdpPeer } from '../helpers/udp-peer.ts';

const missing = rtpengineMissing();

function sdp(port: number, session: number, ice: boolean): string {
  return [
    'v=0',
    `o=- ${session} 1 IN IP4 127.0.0.1`,
    's=-',
    'c=IN IP4 127.0.0.1',
    't=0 0',
    `m=audio ${port} RTP/AVP 0 8 101`,
    'a=rtpmap:0 PCMU/8000',
    'a=rtpmap:8 PCMA/8000',
    'a=rtpmap:101 telephone-event/8000',
    'a=fmtp:101 0-16',
    'a=sendrecv',
    ...(ice ? ['a=ice-ufrag:F7gI', 'a=ice-pwd:x9cml/YzichV2+XlhiMu8g', `a=candidate:1 1 UDP 2130706431 127.0.0.1 ${port} typ host`] : []),
    '',
  ].join('\r\n');
}

/** An RTP packet: version 2, PCMU, 160 bytes of payload. */
function rtp(seq: number, ssrc: number): Buffer {
  const p = Buffer.alloc(172, 0xff);
  p[0] = 0x80;
  p[1] = 0;
  p.writeUInt16BE(seq, 2);
  p.writeUInt32BE(seq * 160, 4);
  p.writeUInt32BE(ssrc, 8);
  return p;
}

function audioPort(body: string): number {
  const m = /^m=audio (\d+) RTP\/AVP /m.exec(body);
  assert.ok(m, `an m=audio line in\n${body}`);
  return Number(m[1]);
}

/** The next RTP datagram (STUN and the like skipped), with where it came from. */
async function nextRtp(peer: UdpPeer, deadline: number): Promise<{ data: Buffer; port: number }> {
  for (;;) {
    const d = await peer.next(Math.max(1, deadline - Date.now()));
    if (d.data[0] === 0x80) return d;
  }
}

describe('NG client against rtpengine', { skip: missing ?? false }, () => {
  let relay: Rtpengine;
  let client: NgClient;
  let caller: UdpPeer;
  let callee: UdpPeer;
  const callId = `ng-e2e-${process.pid}@127.0.0.1`;
  let offerPort = 0;
  let answerPort = 0;
  const PACKETS = 5;

  /** What Kamailio's rtpengine_manage() sends with the flags of the usual scripts. */
  const kamailioFlags = (): Omit<NgSdpParams, 'sdp' | 'callId' | 'fromTag'> => ({
    viaBranch: 'z9hG4bK-ng-e2e',
    flags: ['trust-address', 'symmetric'],
    replace: ['origin', 'session-connection'],
    ice: 'remove',
    direction: ['internal', 'external'],
    transportProtocol: 'RTP/AVP',
    receivedFrom: { family: 'IP4', address: '127.0.0.1' },
  });

  before(async () => {
    relay = await startRtpengine();
    client = await NgClient.open({ host: '127.0.0.1', port: relay.ngPort, timeoutMs: 1000, tries: 3 });
    caller = await UdpPeer.open(4);
    callee = await UdpPeer.open(4);
  });

  after(async () => {
    await client?.close();
    await caller?.close();
    await callee?.close();
    await relay?.stop();
  });

  test('ping', async () => {
    const r = await client.ping();
    assert.ok(r.ok, JSON.stringify(r));
  });

  test('offer: the SDP comes back pointing at the relay, ICE removed', async () => {
    const r = await client.offer({ callId, fromTag: 'caller-tag', sdp: sdp(caller.port, 1001, true), sipMessageType: 'sip_request', ...kamailioFlags() });
    assert.ok(r.ok, `${JSON.stringify(r)}\n${relay.log()}`);
    const body = r.value.sdp.toString();
    offerPort = audioPort(body);
    assert.ok(offerPort >= relay.media.min && offerPort <= relay.media.max, `relay port ${offerPort} in ${relay.media.min}-${relay.media.max}`);
    assert.match(body, /^c=IN IP4 127\.0\.0\.1\r$/m);
    assert.doesNotMatch(body, /a=(candidate|ice-ufrag|ice-pwd)/, 'ICE=remove');
    assert.match(body, /^a=rtpmap:0 PCMU\/8000\r$/m);
  });

  test('answer: the callee\'s SDP, rewritten with a port of its own', async () => {
    const r = await client.answer({ callId, fromTag: 'caller-tag', toTag: 'callee-tag', sdp: sdp(callee.port, 2002, false), sipMessageType: 'sip_reply', ...kamailioFlags(), direction: undefined });
    assert.ok(r.ok, `${JSON.stringify(r)}\n${relay.log()}`);
    answerPort = audioPort(r.value.sdp.toString());
    assert.ok(answerPort >= relay.media.min && answerPort <= relay.media.max);
    assert.notEqual(answerPort, offerPort);
  });

  test('media flows both ways through the relay; query returns per-leg counters', async () => {
    const deadline = Date.now() + 5000;
    for (let i = 0; i < PACKETS; i++) {
      await caller.send(rtp(i, 0x1111), answerPort);
      const atCallee = await nextRtp(callee, deadline);
      assert.equal(atCallee.port, offerPort, 'the callee hears the caller from the port it was offered');
      assert.deepEqual(atCallee.data, rtp(i, 0x1111));
      await callee.send(rtp(100 + i, 0x2222), offerPort);
      const atCaller = await nextRtp(caller, deadline);
      assert.equal(atCaller.port, answerPort);
      assert.deepEqual(atCaller.data, rtp(100 + i, 0x2222));
    }
    const q = await client.query({ callId });
    assert.ok(q.ok, JSON.stringify(q));
    const tags = new Map(q.value.tags.map((t) => [t.tag, t]));
    assert.deepEqual([...tags.keys()].sort(), ['callee-tag', 'caller-tag']);
    const callerLeg = legTotals(tags.get('caller-tag')!);
    const calleeLeg = legTotals(tags.get('callee-tag')!);
    assert.deepEqual([callerLeg.rtp.packets, callerLeg.rtp.bytes], [PACKETS, PACKETS * 172], 'what the caller sent');
    assert.deepEqual([calleeLeg.rtp.packets, calleeLeg.rtp.bytes], [PACKETS, PACKETS * 172], 'what the callee sent');
    assert.equal(q.value.totals.rtp.packets, 2 * PACKETS);
    const stream = tags.get('caller-tag')!.medias[0]!.streams.find((s) => s.flags.includes('RTP'));
    assert.equal(stream?.localPort, answerPort, 'the caller\'s leg is served on the port its SDP was given');
    assert.deepEqual(stream?.endpoint, { family: 'IPv4', address: '127.0.0.1', port: caller.port });
  });

  test('list and statistics, for operators', async () => {
    const list = await client.list();
    assert.ok(list.ok && list.value.includes(callId), JSON.stringify(list));
    const stats = await client.statistics();
    assert.ok(stats.ok, JSON.stringify(stats));
    assert.ok(stats.value.get('currentstatistics') instanceof Map);
  });

  test('rtpengine\'s error reasons are the ones the server side uses', async () => {
    const noCallId = await client.raw({ command: 'query' });
    assert.ok(!noCallId.ok && noCallId.error.reason === NG_ERRORS.noCallId, JSON.stringify(noCallId));
    const unknown = await client.raw({ command: 'frobnicate' });
    assert.ok(!unknown.ok && unknown.error.reason === NG_ERRORS.unknownCommand, JSON.stringify(unknown));
    const body = sdp(caller.port, 3, false);
    const reasons = [
      [{ command: 'offer' }, NG_ERRORS.noSdp],
      [{ command: 'offer', sdp: body }, NG_ERRORS.noCallId],
      [{ command: 'offer', sdp: body, 'call-id': 'x' }, NG_ERRORS.noFromTag],
      [{ command: 'answer', sdp: body, 'call-id': 'x', 'from-tag': 'f' }, NG_ERRORS.noToTag],
    ] as const;
    for (const [dict, reason] of reasons) {
      const r = await client.raw(dict);
      assert.ok(!r.ok && r.error.reason === reason, `${JSON.stringify(dict)}: ${JSON.stringify(r)}`);
      const ours = parseNgRequest(new Map(Object.entries(dict).map(([k, v]) => [k, Buffer.from(v)])));
      assert.deepEqual(ours, { ok: false, reason }, 'the server side refuses it alike');
    }
  });

  test('delete ends the call and returns its counters; then the call is unknown', async () => {
    const d = await client.delete({ callId, fromTag: 'caller-tag' });
    assert.ok(d.ok, JSON.stringify(d));
    assert.equal(d.value.stats?.totals.rtp.packets, 2 * PACKETS);
    const q = await client.query({ callId });
    assert.ok(!q.ok && q.error.kind === 'refused' && q.error.reason === 'Unknown call-id', JSON.stringify(q));
  });

  test('the relay gone: each command fails with its timeout, within the configured bound', async () => {
    await relay.stop();
    const start = performance.now();
    const r = await client.offer({ callId: 'after-stop', fromTag: 'f', sdp: sdp(caller.port, 4, false) });
    const elapsed = performance.now() - start;
    assert.ok(!r.ok && r.error.kind === 'timeout', JSON.stringify(r));
    assert.ok(elapsed >= 990 && elapsed < 1400, `${elapsed.toFixed(0)} ms`);
  });
});
