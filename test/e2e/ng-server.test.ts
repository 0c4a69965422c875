/**
 * The NG server on loopback, driven by raw datagrams from test peers, with a test handler that
 * records what it was asked.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import { type BencodeInputObject, type BencodeValue, decodeBencode, encodeBencode } from '../../modules/media-relay/ng/bencode.ts';
import type { NgHandler, NgReply, NgSdpReply } from '../../modules/media-relay/ng/handler.ts';
import { type NgRequest, sdpRequestDict, splitFrame } from '../../modules/media-relay/ng/messages.ts';
import { NgServer, type NgServerOptions } from '../../modules/media-relay/ng/server.ts';
import { UdpPeer } from '../helpers/udp-peer.ts';

const SDP = 'v=0\r\no=- 1 1 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n';

/** A handler that records each request and answers from what the test set. */
class TestHandler implements NgHandler {
  readonly seen: NgRequest[] = [];
  /** While set, offers wait for it. */
  gate: Promise<void> | null = null;
  offerReply: NgReply<NgSdpReply> | null = null;

  private record(r: NgRequest): void {
    this.seen.push(r);
  }

  async offer(r: Extract<NgRequest, { command: 'offer' }>): Promise<NgReply<NgSdpReply>> {
    this.record(r);
    if (this.gate !== null) await this.gate;
    if (r.callId === 'throws') throw new Error('handler bug');
    if (r.callId === 'hangs') await new Promise(() => undefined);
    return this.offerReply ?? { ok: true, sdp: r.sdp.toString().replaceAll('192.0.2.10', '203.0.113.1') };
  }

  async answer(r: Extract<NgRequest, { command: 'answer' }>): Promise<NgReply<NgSdpReply>> {
    this.record(r);
    return { ok: true, sdp: r.sdp, warning: 'as it came' };
  }

  async delete(r: Extract<NgRequest, { command: 'delete' }>) {
    this.record(r);
    if (r.callId === 'unknown') return r.flags.has('fatal') ? { ok: false as const, reason: 'Call-ID not found or tags didn\'t match' } : { ok: true as const, warning: 'Call-ID not found or tags didn\'t match' };
    return {
      ok: true as const,
      stats: r.flags.has('fast') ? undefined : { created: 1, lastSignal: 2, tags: [], totals: { rtp: { packets: 10, bytes: 1720, errors: 0 }, rtcp: { packets: 0, bytes: 0, errors: 0 } } },
    };
  }

  async query(r: Extract<NgRequest, { command: 'query' }>) {
    this.record(r);
    if (r.callId !== 'c1') return { ok: false as const, reason: 'Unknown call-id' };
    return { ok: true as const, stats: { created: 1, lastSignal: 2, tags: [{ tag: 'f1', label: undefined, created: 1, inDialogueWith: undefined, medias: [] }], totals: { rtp: { packets: 3, bytes: 516, errors: 0 }, rtcp: { packets: 0, bytes: 0, errors: 0 } } } };
  }

  async list(r: Extract<NgRequest, { command: 'list' }>) {
    this.record(r);
    return { ok: true as const, calls: ['a', 'b', 'c', 'd'] };
  }

  async statistics(r: Extract<NgRequest, { command: 'statistics' }>) {
    this.record(r);
    if (r.options.has('broken')) return { ok: true as const, statistics: { avgcallduration: 0.5 } };
    return { ok: true as const, statistics: { currentstatistics: { sessionstotal: 2 } } };
  }
}

/** A test peer that sends framed dictionaries and waits for the answer carrying a cookie. */
class NgPeer {
  private readonly held = new Map<string, Buffer[]>();
  private n = 0;

  constructor(readonly peer: UdpPeer, private readonly port: number) {}

  cookie(): string {
    return `t${this.peer.port}_${++this.n}`;
  }

  async send(cookie: string, body: BencodeInputObject | Buffer | string): Promise<void> {
    let bytes: Buffer;
    if (Buffer.isBuffer(body) || typeof body === 'string') bytes = Buffer.concat([Buffer.from(`${cookie} `, 'latin1'), Buffer.from(body)]);
    else {
      const e = encodeBencode(body, { prefix: Buffer.from(`${cookie} `, 'latin1') });
      assert.ok(e.ok);
      bytes = e.bytes;
    }
    await this.peer.send(bytes, this.port);
  }

  sendRaw(bytes: Buffer): Promise<void> {
    return this.peer.send(bytes, this.port);
  }

  /** The next answer for `cookie`, as bytes after the cookie (answers for other cookies are kept). */
  async answerBytes(cookie: string, timeoutMs = 3000): Promise<Buffer> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const kept = this.held.get(cookie);
      if (kept !== undefined && kept.length > 0) return kept.shift() as Buffer;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no answer for ${cookie} within ${timeoutMs} ms`);
      const d = await this.peer.next(left);
      const f = splitFrame(d.data);
      assert.ok(f.ok, `the server answered without a cookie: ${d.data.toString('latin1')}`);
      const list = this.held.get(f.cookie) ?? [];
      list.push(f.body);
      this.held.set(f.cookie, list);
    }
  }

  async answer(cookie: string, timeoutMs?: number): Promise<ReadonlyMap<string, BencodeValue>> {
    const d = decodeBencode(await this.answerBytes(cookie, timeoutMs));
    assert.ok(d.ok, 'the answer is bencode');
    assert.ok(d.value instanceof Map, 'the answer is a dictionary');
    return d.value;
  }

  async ask(body: BencodeInputObject | Buffer | string): Promise<ReadonlyMap<string, BencodeValue>> {
    const cookie = this.cookie();
    await this.send(cookie, body);
    return this.answer(cookie);
  }
}

const text = (v: BencodeValue | undefined): string | undefined => (Buffer.isBuffer(v) ? v.toString() : undefined);
const result = (d: ReadonlyMap<string, BencodeValue>): [string | undefined, string | undefined] => [text(d.get('result')), text(d.get('error-reason'))];

describe('NG server', () => {
  const handler = new TestHandler();
  let server: NgServer;
  let v4: NgPeer;
  let v6: NgPeer;
  const peers: UdpPeer[] = [];
  const servers: NgServer[] = [];

  async function startServer(options: Omit<NgServerOptions, 'handler'> & { handler?: NgHandler }): Promise<NgServer> {
    const s = await NgServer.listen({ host: '::', port: 0, handler, ...options });
    servers.push(s);
    return s;
  }

  async function peerFor(s: NgServer, family: 4 | 6 = 4): Promise<NgPeer> {
    const p = await UdpPeer.open(family);
    peers.push(p);
    return new NgPeer(p, s.port);
  }

  before(async () => {
    server = await startServer({ handlerTimeoutMs: 300, maxRequestBytes: 4096 });
    v4 = await peerFor(server, 4);
    v6 = await peerFor(server, 6);
  });

  after(async () => {
    for (const s of servers) await s.close();
    for (const p of peers) await p.close();
  });

  test('ping answers pong to IPv4 and IPv6 senders alike (one dual-stack socket)', async () => {
    assert.deepEqual(result(await v4.ask({ command: 'ping' })), ['pong', undefined]);
    assert.deepEqual(result(await v6.ask({ command: 'ping' })), ['pong', undefined]);
    const cookie = v4.cookie();
    await v4.send(cookie, 'd7:command4:pinge');
    assert.equal((await v4.answerBytes(cookie)).toString(), 'd6:result4:ponge', 'byte for byte as rtpengine answers');
  });

  test('offer: the handler gets the typed request; the result carries its SDP', async () => {
    const before = handler.seen.length;
    const d = await v4.ask(sdpRequestDict('offer', { callId: 'c1', fromTag: 'f1', sdp: SDP, flags: ['trust-address'], replace: ['origin'], ice: 'remove', receivedFrom: { family: 'IP4', address: '192.0.2.10' } }));
    assert.deepEqual(result(d), ['ok', undefined]);
    assert.equal(text(d.get('sdp')), SDP.replaceAll('192.0.2.10', '203.0.113.1'));
    const seen = handler.seen[before];
    assert.ok(seen?.command === 'offer');
    assert.equal(seen.callId, 'c1');
    assert.ok(seen.flags.has('trust-address') && seen.replace.has('origin') && seen.ice === 'remove');
  });

  test('answer, with the handler\'s warning', async () => {
    const d = await v4.ask(sdpRequestDict('answer', { callId: 'c1', fromTag: 'f1', toTag: 't1', sdp: SDP }));
    assert.deepEqual([...result(d), text(d.get('warning'))], ['ok', undefined, 'as it came']);
  });

  test('delete: counters unless fast; an unknown call is a warning, or an error when fatal', async () => {
    const full = await v4.ask({ command: 'delete', 'call-id': 'c1', 'from-tag': 'f1' });
    assert.equal(text(full.get('result')), 'ok');
    assert.ok(full.get('totals') instanceof Map);
    const fast = await v4.ask({ command: 'delete', 'call-id': 'c1', flags: ['fast'] });
    assert.equal(fast.has('totals'), false);
    const unknown = await v4.ask({ command: 'delete', 'call-id': 'unknown' });
    assert.deepEqual([text(unknown.get('result')), text(unknown.get('warning'))], ['ok', 'Call-ID not found or tags didn\'t match']);
    assert.deepEqual(result(await v4.ask({ command: 'delete', 'call-id': 'unknown', flags: ['fatal'] })), ['error', 'Call-ID not found or tags didn\'t match']);
  });

  test('query, list (its limit applied), statistics', async () => {
    const q = await v4.ask({ command: 'query', 'call-id': 'c1' });
    assert.equal(text(q.get('result')), 'ok');
    const tags = q.get('tags');
    assert.ok(tags instanceof Map && tags.has('f1'));
    assert.deepEqual(result(await v4.ask({ command: 'query', 'call-id': 'nope' })), ['error', 'Unknown call-id']);
    const list = await v4.ask({ command: 'list', limit: 2 });
    assert.deepEqual((list.get('calls') as Buffer[]).map(String), ['a', 'b']);
    const stats = await v4.ask({ command: 'statistics' });
    assert.ok(stats.get('statistics') instanceof Map);
  });

  test('commands outside the core set are refused cleanly', async () => {
    assert.deepEqual(result(await v4.ask({ command: 'start recording', 'call-id': 'c1' })), ['error', 'Unsupported command "start recording"']);
  });

  test('malformed and unknown commands get NG errors', async () => {
    assert.deepEqual(result(await v4.ask({ command: 'frobnicate' })), ['error', 'Unrecognized command']);
    assert.deepEqual(result(await v4.ask({ command: 'offer', 'from-tag': 'f', sdp: SDP })), ['error', 'No call-id in message']);
    assert.deepEqual(result(await v4.ask({ command: 'query' })), ['error', 'No call-id in message']);
    assert.deepEqual(result(await v4.ask({ 'call-id': 'x' })), ['error', 'Dictionary contains no key "command"']);
    for (const junk of ['d7:command4:ping', 'garbage', 'i42e', 'le', '', 'd7:command4:pinge trailing']) {
      assert.deepEqual(result(await v4.ask(junk)), ['error', 'Could not decode bencode dictionary'], JSON.stringify(junk));
    }
  });

  test('a datagram without a cookie gets nothing and is counted', async () => {
    const before = server.stats().dropped.noCookie;
    await v4.sendRaw(Buffer.from('d7:command4:pinge'));
    await v4.sendRaw(Buffer.from(' d7:command4:pinge'));
    // Loopback keeps order: the next datagram back is the pong to this ping, nothing before it.
    const cookie = v4.cookie();
    await v4.send(cookie, { command: 'ping' });
    const d = await v4.peer.next();
    assert.equal(d.data.toString(), `${cookie} d6:result4:ponge`);
    assert.equal(server.stats().dropped.noCookie, before + 2);
  });

  test('an oversize datagram is refused with an error', async () => {
    const d = await v4.ask(sdpRequestDict('offer', { callId: 'big', fromTag: 'f', sdp: 'x'.repeat(5000) }) as BencodeInputObject);
    assert.equal(text(d.get('result')), 'error');
    assert.match(text(d.get('error-reason')) ?? '', /^Message too large/);
    assert.ok(server.stats().refused.oversize >= 1);
  });

  test('a retransmitted command is answered from the cache, the handler runs once', async () => {
    const cookie = v4.cookie();
    const offer = sdpRequestDict('offer', { callId: 'rtx', fromTag: 'f', sdp: SDP });
    const calls = (): number => handler.seen.filter((r) => r.command === 'offer' && r.callId === 'rtx').length;
    await v4.send(cookie, offer);
    const first = await v4.answerBytes(cookie);
    await v4.send(cookie, offer);
    const second = await v4.answerBytes(cookie);
    assert.deepEqual(second, first);
    assert.equal(calls(), 1);
    // The same cookie from another source is another command.
    await v6.send(cookie, offer);
    await v6.answerBytes(cookie);
    assert.equal(calls(), 2);
    assert.ok(server.stats().resent >= 1);
  });

  test('a command still being handled is not run twice; every copy is answered once it is done', async () => {
    let open!: () => void;
    handler.gate = new Promise((resolve) => { open = resolve; });
    const cookie = v4.cookie();
    const offer = sdpRequestDict('offer', { callId: 'slow', fromTag: 'f', sdp: SDP });
    await v4.send(cookie, offer);
    await v4.send(cookie, offer);
    await v4.send(cookie, offer);
    const deadline = Date.now() + 2000;
    while (server.stats().duplicatesInFlight < 2) {
      assert.ok(Date.now() < deadline, 'the copies reached the server');
      await new Promise((r) => setImmediate(r));
    }
    handler.gate = null;
    open();
    const answers = [await v4.answerBytes(cookie), await v4.answerBytes(cookie), await v4.answerBytes(cookie)];
    assert.deepEqual(answers[1], answers[0]);
    assert.deepEqual(answers[2], answers[0]);
    assert.equal(handler.seen.filter((r) => r.command === 'offer' && r.callId === 'slow').length, 1);
  });

  test('a handler that throws or hangs is answered for with an error; the server goes on', async () => {
    assert.deepEqual(result(await v4.ask(sdpRequestDict('offer', { callId: 'throws', fromTag: 'f', sdp: SDP }))), ['error', 'Internal error']);
    assert.deepEqual(result(await v4.ask(sdpRequestDict('offer', { callId: 'hangs', fromTag: 'f', sdp: SDP }))), ['error', 'Timed out handling the command']);
    assert.deepEqual(result(await v4.ask({ command: 'statistics', broken: 1 })), ['error', 'Internal error: result could not be encoded']);
    assert.deepEqual(result(await v4.ask({ command: 'ping' })), ['pong', undefined]);
    const s = server.stats();
    assert.ok(s.refused.handlerFailed >= 1 && s.refused.handlerTimeout >= 1 && s.refused.unencodable >= 1);
  });

  test('a handler\'s load-limit refusal is `load limit` for a sender that supports it, else an error', async () => {
    handler.offerReply = { ok: false, reason: 'session limit reached', loadLimit: true };
    try {
      const supported = await v4.ask(sdpRequestDict('offer', { callId: 'll', fromTag: 'f', sdp: SDP }));
      assert.deepEqual([text(supported.get('result')), text(supported.get('message'))], ['load limit', 'session limit reached']);
      const plain = await v4.ask({ command: 'offer', 'call-id': 'll2', 'from-tag': 'f', sdp: SDP });
      assert.deepEqual(result(plain), ['error', 'session limit reached']);
    } finally {
      handler.offerReply = null;
    }
  });

  test('over its in-flight bound the server answers at once: load limit (or an error)', async () => {
    const small = await startServer({ cache: { maxInFlight: 1 } });
    const p = await peerFor(small);
    let open!: () => void;
    handler.gate = new Promise((resolve) => { open = resolve; });
    const first = p.cookie();
    await p.send(first, sdpRequestDict('offer', { callId: 'b1', fromTag: 'f', sdp: SDP }));
    const busy = await p.ask(sdpRequestDict('offer', { callId: 'b2', fromTag: 'f', sdp: SDP }));
    assert.deepEqual([text(busy.get('result')), text(busy.get('message'))], ['load limit', 'Too many commands in progress']);
    assert.deepEqual(result(await p.ask({ command: 'ping' })), ['error', 'Too many commands in progress']);
    handler.gate = null;
    open();
    assert.equal(text((await p.answer(first)).get('result')), 'ok');
    assert.deepEqual(result(await p.ask({ command: 'ping' })), ['pong', undefined]);
  });

  test('a flood of random and mutated bencode is answered with errors (or nothing) while pings still get pong', async () => {
    const flood = await startServer({ maxRequestBytes: 4096 });
    const p = await peerFor(flood);
    const valid = encodeBencode(sdpRequestDict('offer', { callId: 'fuzz', fromTag: 'f', sdp: SDP, flags: ['trust-address'], replace: ['origin'] }));
    assert.ok(valid.ok);
    const mutated = fc.tuple(fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 }), fc.constantFrom('set', 'insert', 'delete')), { minLength: 1, maxLength: 6 })).map(([edits]) => {
      const b = [...valid.bytes];
      for (const [at, byte, kind] of edits) {
        const i = at % Math.max(1, b.length);
        if (kind === 'set') b[i] = byte;
        else if (kind === 'insert') b.splice(i, 0, byte);
        else b.splice(i, 1);
      }
      return Buffer.from(b);
    });
    const bodies = [
      ...fc.sample(mutated, { numRuns: 1500, seed: 42 }),
      ...fc.sample(fc.uint8Array({ maxLength: 600 }).map((a) => Buffer.from(a)), { numRuns: 1000, seed: 43 }),
      ...fc.sample(fc.uint8Array({ minLength: 4097, maxLength: 5000 }).map((a) => Buffer.from(a)), { numRuns: 20, seed: 44 }),
    ];
    const start = Date.now();
    const WINDOW = 32;
    let sent = 0;
    let unanswered = 0;
    let errors = 0;
    let pongs = 0;
    for (let i = 0; i < bodies.length; i += WINDOW) {
      assert.ok(Date.now() - start < 30_000, 'the flood stays within its time budget');
      const cookies: string[] = [];
      for (const body of bodies.slice(i, i + WINDOW)) {
        // Half with a cookie (answered), half as they are (answered only if they happen to hold a cookie).
        if (sent % 2 === 0) {
          const cookie = p.cookie();
          cookies.push(cookie);
          await p.send(cookie, body);
        } else {
          await p.sendRaw(body);
          unanswered++;
        }
        sent++;
      }
      for (const cookie of cookies) {
        const d = decodeBencode(await p.answerBytes(cookie));
        assert.ok(d.ok && d.value instanceof Map, 'every answer is an NG dictionary');
        const r = text(d.value.get('result'));
        assert.ok(r === 'error' || r === 'ok', `result ${r}`);
        if (r === 'error') errors++;
      }
      if ((i / WINDOW) % 10 === 0) {
        assert.deepEqual(result(await p.ask({ command: 'ping' })), ['pong', undefined]);
        pongs++;
      }
    }
    assert.deepEqual(result(await p.ask({ command: 'ping' })), ['pong', undefined]);
    const s = flood.stats();
    assert.equal(s.received, sent + pongs + 1);
    assert.ok(errors > sent / 4, `${errors} errors`);
    assert.ok(s.refused.badBencode + s.refused.invalid + s.refused.oversize + s.refused.unknownCommand >= errors);
    assert.ok(s.dropped.noCookie + s.dropped.cookieTooLong > 0 && unanswered > 0);
    assert.ok(flood.cacheSize().answered <= 8192 && flood.cacheSize().inFlight === 0);
  });
});
