/**
 * The NG client against the NG server (a test handler behind it), and against fake relays that
 * stay silent, lose datagrams or answer badly.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { legTotals } from '../../modules/media-relay/ng/call-stats.ts';
import { NgClient, type NgClientOptions } from '../../modules/media-relay/ng/client.ts';
import type { NgHandler } from '../../modules/media-relay/ng/handler.ts';
import { splitFrame } from '../../modules/media-relay/ng/messages.ts';
import { NgServer } from '../../modules/media-relay/ng/server.ts';
import { UdpPeer } from '../helpers/udp-peer.ts';

const SDP = 'v=0\r\no=- 1 1 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n';

const handler: NgHandler = {
  async offer(r) {
    if (r.callId === 'full') return { ok: false, reason: 'no more ports', loadLimit: true };
    return { ok: true, sdp: r.sdp.toString().replace('m=audio 4000', 'm=audio 30000') };
  },
  async answer(r) {
    return { ok: true, sdp: r.sdp, warning: `to-tag ${r.toTag}` };
  },
  async delete(r) {
    return { ok: true, stats: { created: 1, lastSignal: 2, tags: [{ tag: r.fromTag ?? '', label: undefined, created: 1, inDialogueWith: undefined, medias: [{ index: 1, type: 'audio', protocol: 'RTP/AVP', flags: [], streams: [{ localPort: 30000, endpoint: undefined, advertisedEndpoint: undefined, lastPacket: undefined, flags: ['RTP'], stats: { packets: 7, bytes: 1204, errors: 0 } }] }] }], totals: { rtp: { packets: 7, bytes: 1204, errors: 0 }, rtcp: { packets: 0, bytes: 0, errors: 0 } } } };
  },
  async query(r) {
    if (r.callId !== 'c1') return { ok: false, reason: 'Unknown call-id' };
    return { ok: true, stats: { created: 1, lastSignal: 2, tags: [], totals: { rtp: { packets: 1, bytes: 172, errors: 0 }, rtcp: { packets: 0, bytes: 0, errors: 0 } } } };
  },
  async list() {
    return { ok: true, calls: ['c1', 'c2'] };
  },
  async statistics() {
    return { ok: true, statistics: { currentstatistics: { sessionstotal: 2 } } };
  },
};

describe('NG client', () => {
  let server: NgServer;
  const clients: NgClient[] = [];
  const peers: UdpPeer[] = [];

  async function client(options: Partial<NgClientOptions> & { port: number }): Promise<NgClient> {
    const c = await NgClient.open({ host: '127.0.0.1', ...options });
    clients.push(c);
    return c;
  }

  async function peer(): Promise<UdpPeer> {
    const p = await UdpPeer.open(4);
    peers.push(p);
    return p;
  }

  before(async () => {
    server = await NgServer.listen({ host: '::', port: 0, handler });
  });

  after(async () => {
    for (const c of clients) await c.close();
    for (const p of peers) await p.close();
    await server.close();
  });

  test('every command against the server, with typed results', async () => {
    const c = await client({ port: server.port });
    const ping = await c.ping();
    assert.ok(ping.ok && ping.value.rttMs >= 0);
    const offer = await c.offer({ callId: 'c1', fromTag: 'f1', sdp: SDP, flags: ['trust-address'], replace: ['origin', 'session-connection'], ice: 'remove' });
    assert.ok(offer.ok);
    assert.match(offer.value.sdp.toString(), /m=audio 30000/);
    const answer = await c.answer({ callId: 'c1', fromTag: 'f1', toTag: 't1', sdp: SDP });
    assert.ok(answer.ok && answer.value.warning === 'to-tag t1');
    const query = await c.query({ callId: 'c1' });
    assert.ok(query.ok);
    assert.deepEqual(query.value.totals.rtp, { packets: 1, bytes: 172, errors: 0 });
    const list = await c.list();
    assert.ok(list.ok);
    assert.deepEqual(list.value, ['c1', 'c2']);
    const stats = await c.statistics();
    assert.ok(stats.ok && stats.value.get('currentstatistics') instanceof Map);
    const del = await c.delete({ callId: 'c1', fromTag: 'f1' });
    assert.ok(del.ok && del.value.stats !== undefined);
    assert.equal(legTotals(del.value.stats.tags[0]!).rtp.packets, 7);
    assert.equal(c.pending, 0);
    assert.deepEqual(c.stats(), { commands: 7, retransmissions: 0, answered: 7, timeouts: 0, stray: 0, sendFailed: 0 });
  });

  test('the relay\'s error-reason and load limit are typed errors', async () => {
    const c = await client({ port: server.port });
    const refused = await c.query({ callId: 'nope' });
    assert.deepEqual(refused.ok ? null : [refused.error.kind, refused.error.reason], ['refused', 'Unknown call-id']);
    const full = await c.offer({ callId: 'full', fromTag: 'f', sdp: SDP });
    assert.deepEqual(full.ok ? null : [full.error.kind, full.error.reason], ['load-limit', 'no more ports']);
  });

  test('over IPv6, and by name', async () => {
    const v6 = await client({ host: '::1', port: server.port });
    assert.ok((await v6.ping()).ok);
    const named = await client({ host: 'localhost', port: server.port });
    assert.ok((await named.ping()).ok);
  });

  test('nothing listening: a timeout error within the configured bound, after every try', async () => {
    const silent = await peer();
    const c = await client({ port: silent.port, timeoutMs: 600, tries: 3 });
    const start = performance.now();
    const r = await c.offer({ callId: 'dead', fromTag: 'f', sdp: SDP });
    const elapsed = performance.now() - start;
    assert.ok(!r.ok && r.error.kind === 'timeout', JSON.stringify(r));
    assert.ok(elapsed >= 590 && elapsed < 900, `${elapsed.toFixed(0)} ms`);
    const copies = [await silent.next(), await silent.next(), await silent.next()];
    assert.ok(copies.every((d) => d.data.equals(copies[0]!.data)), 'retransmissions are the same datagram, same cookie');
    assert.equal((await silent.drain(50)).length, 0, 'no fourth try');
    assert.equal(c.stats().timeouts, 1);
  });

  test('a port where nothing listens at all (ICMP unreachable) also ends in the timeout, on time', async () => {
    const gone = await peer();
    const port = gone.port;
    await gone.close();
    peers.splice(peers.indexOf(gone), 1);
    const c = await client({ port, timeoutMs: 400, tries: 3 });
    const start = performance.now();
    const r = await c.ping();
    const elapsed = performance.now() - start;
    assert.ok(!r.ok && r.error.kind === 'timeout');
    assert.ok(elapsed < 700, `${elapsed.toFixed(0)} ms`);
  });

  test('a lost datagram is made up by a retransmission', async () => {
    const lossy = await peer();
    const c = await client({ port: lossy.port, timeoutMs: 900, tries: 3 });
    const pending = c.ping();
    await lossy.next();
    const second = await lossy.next();
    const f = splitFrame(second.data);
    assert.ok(f.ok);
    await lossy.send(`${f.cookie} d6:result4:ponge`, second.port);
    const r = await pending;
    assert.ok(r.ok);
    assert.equal(c.stats().retransmissions, 1);
  });

  test('a lost answer: the client retransmits, the server answers from its cookie cache, the handler runs once', async () => {
    let offers = 0;
    const counting = await NgServer.listen({ host: '127.0.0.1', port: 0, handler: { ...handler, offer: async (r, context) => { offers++; return handler.offer(r, context); } } });
    // A forwarder between the two that loses the server's first answer.
    const front = await peer();
    const back = await peer();
    const c = await client({ port: front.port, timeoutMs: 900, tries: 3 });
    const pending = c.offer({ callId: 'lost-answer', fromTag: 'f', sdp: SDP });
    const first = await front.next();
    await back.send(first.data, counting.port);
    await back.next();
    const second = await front.next();
    assert.deepEqual(second.data, first.data, 'the retransmission is the same datagram');
    await back.send(second.data, counting.port);
    const answer = await back.next();
    await front.send(answer.data, first.port);
    const r = await pending;
    assert.ok(r.ok, JSON.stringify(r));
    assert.equal(offers, 1);
    assert.equal(counting.stats().resent, 1);
    await counting.close();
  });

  test('a malformed answer with the cookie is a malformed error; answers from elsewhere or for no command are ignored', async () => {
    const fake = await peer();
    const intruder = await peer();
    const c = await client({ port: fake.port, timeoutMs: 1500, tries: 1 });
    const pending = c.query({ callId: 'c1' });
    const req = await fake.next();
    const f = splitFrame(req.data);
    assert.ok(f.ok);
    await intruder.send(`${f.cookie} d6:result2:oke`, req.port);
    await fake.send('someone_else d6:result4:ponge', req.port);
    await fake.send(`${f.cookie} d6:resultxx`, req.port);
    const r = await pending;
    assert.ok(!r.ok && r.error.kind === 'malformed', JSON.stringify(r));
    assert.equal(c.stats().stray, 2);

    const missing = c.offer({ callId: 'c1', fromTag: 'f', sdp: SDP });
    const offer = splitFrame((await fake.next()).data);
    assert.ok(offer.ok);
    await fake.send(`${offer.cookie} d6:result2:oke`, req.port);
    const m = await missing;
    assert.ok(!m.ok && m.error.kind === 'malformed' && /sdp/.test(m.error.message));
  });

  test('outstanding commands are bounded; close fails what is left', async () => {
    const silent = await peer();
    const c = await client({ port: silent.port, timeoutMs: 5000, maxOutstanding: 2 });
    const a = c.ping();
    const b = c.ping();
    const overloaded = await c.ping();
    assert.ok(!overloaded.ok && overloaded.error.kind === 'overloaded');
    await c.close();
    const [ra, rb] = await Promise.all([a, b]);
    assert.ok(!ra.ok && ra.error.kind === 'closed' && !rb.ok && rb.error.kind === 'closed');
    const afterClose = await c.ping();
    assert.ok(!afterClose.ok && afterClose.error.kind === 'closed');
  });

  test('a request that cannot be encoded fails at once', async () => {
    const c = await client({ port: server.port });
    const r = await c.delete({ callId: 'c1', deleteDelay: 1.5 });
    assert.ok(!r.ok && r.error.kind === 'unencodable');
    assert.equal(c.pending, 0);
  });

  test('many commands at once, each matched to its own result', async () => {
    const c = await client({ port: server.port });
    const results = await Promise.all(Array.from({ length: 200 }, (_, i) => c.answer({ callId: `m${i}`, fromTag: 'f', toTag: `t${i}`, sdp: SDP })));
    results.forEach((r, i) => assert.ok(r.ok && r.value.warning === `to-tag t${i}`));
  });
});
