/**
 * Call records against real callers: SIPp calls that are answered, rejected and cancelled, and
 * plain calls that are answered with media and that go unanswered, each give the records a
 * billing system needs, in the JSON-lines file and at the webhook alike.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { proxyMetrics } from '../../core/admin/metrics.ts';
import { Switchyard } from '../../core/boot/switchyard.ts';
import { createLogger } from '../../core/lib/log.ts';
import { loadScript } from '../../core/script/load.ts';
import type { CallRecord } from '../../modules/call-records/index.ts';
import { establishCall, PlainUser } from '../helpers/plain-client.ts';
import { freePort, freeRange } from '../helpers/ports.ts';
import { TMP, writeScript } from '../helpers/proxy-process.ts';
import { runSipp, sippVersion, startSipp } from '../helpers/sipp.ts';

const LOOP = '127.0.0.1';

/** The webhook's receiver: every record POSTed, and a wait for one. */
class Receiver {
  readonly records: CallRecord[] = [];
  private waiters: { match: (r: CallRecord) => boolean; resolve: (r: CallRecord) => void }[] = [];
  private constructor(readonly server: http.Server) {}

  static async start(): Promise<Receiver> {
    const server = http.createServer();
    const r = new Receiver(server);
    server.on('request', (req, res) => {
      let body = '';
      req.setEncoding('utf8').on('data', (c: string) => { body += c; }).on('end', () => {
        res.end();
        const rec = JSON.parse(body) as CallRecord;
        r.records.push(rec);
        for (const w of r.waiters.filter((x) => x.match(rec))) {
          r.waiters.splice(r.waiters.indexOf(w), 1);
          w.resolve(rec);
        }
      });
    });
    await new Promise<void>((resolve) => server.listen(0, LOOP, () => resolve()));
    return r;
  }

  get url(): string {
    return `http://${LOOP}:${(this.server.address() as { port: number }).port}/records`;
  }

  /** The first record (already received or coming) that matches. */
  next(match: (r: CallRecord) => boolean, what: string, timeoutMs = 10_000): Promise<CallRecord> {
    const got = this.records.find(match);
    if (got !== undefined) return Promise.resolve(got);
    return new Promise((resolve, reject) => {
      const w = { match, resolve: (rec: CallRecord) => { clearTimeout(t); resolve(rec); } };
      const t = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(w), 1);
        reject(new Error(`no call record for ${what} within ${timeoutMs} ms; got ${JSON.stringify(this.records.map((x) => [x.event, x.callee]))}`));
      }, timeoutMs);
      this.waiters.push(w);
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

const endOf = (callee: string) => (r: CallRecord): boolean => r.event === 'end' && r.callee === callee;

let proxy: Switchyard;
let receiver: Receiver;
let file: string;
let sipRemote: string;
let plainPort: number;

before(async () => {
  sippVersion();
  receiver = await Receiver.start();
  const script = writeScript('call-records', `import { defineProxy } from 'switchyard';
import { callRecords, callRouting, dialog, mediaRelay, registrar } from 'switchyard/modules';

export default defineProxy({
  listen: [{ dialect: 'sip', host: '${LOOP}', port: 0, transports: ['udp'] }, { dialect: 'plain', host: '${LOOP}', port: 0 }],
  modules: [
    registrar(), dialog(), callRouting({ answerTimeoutSec: 1 }),
    mediaRelay({ ports: '${await freeRange(40)}', advertise: '${LOOP}' }),
    callRecords({ file: 'calls.jsonl', webhook: { url: '${receiver.url}' } }),
  ],
  routes: {
    async request(ctx) {
      const { msg } = ctx;
      if (msg.method === 'REGISTER') return ctx.register();
      if (msg.inDialog) {
        if (msg.method === 'BYE') ctx.endMediaSession();
        return ctx.forwardCall();
      }
      if (msg.method === 'INVITE') {
        ctx.engageMediaProxy();
        ctx.recordRoute();
        return ctx.forwardCall();
      }
      return ctx.forwardCall();
    },
  },
});
`);
  // The file's relative path is taken from the working directory: the test's own folder.
  file = path.join(path.dirname(script), 'calls.jsonl');
  process.chdir(path.dirname(script));
  proxy = await Switchyard.boot(await loadScript(script), createLogger({ level: 'silent' }), { watch: false });
  sipRemote = `${LOOP}:${proxy.sipPort!}`;
  plainPort = proxy.portOf('plain')!;
});

after(async () => {
  await proxy.stop();
  await receiver.close();
  process.chdir(TMP);
});

/** Registers `user` over SIP at a fresh port and starts a SIPp callee there with `scenario`. */
async function sipCallee(user: string, scenario: string): Promise<{ done: Promise<{ code: number | null; output: string }> }> {
  const port = await freePort();
  const reg = await runSipp('register.xml', [sipRemote, '-s', user, '-i', LOOP, '-p', String(port), '-m', '1', '-key', 'expires', '3600']);
  assert.equal(reg.code, 0, reg.output);
  return startSipp(scenario, ['-i', LOOP, '-p', String(port), '-m', '1', '-key', 'mport', String(await freePort())]);
}

async function sipCaller(callee: string, scenario: string, extra: string[] = []): Promise<void> {
  const r = await runSipp(scenario, [sipRemote, '-s', callee, '-i', LOOP, '-p', String(await freePort()), '-m', '1', '-key', 'mport', String(await freePort()), ...extra]);
  assert.equal(r.code, 0, r.output);
}

describe('call records', () => {
  test('a SIP call answered and hung up by the caller: start, answer, end with its duration and media legs', async () => {
    const callee = await sipCallee('bob', 'uas.xml');
    await sipCaller('bob', 'uac.xml', ['-d', '600']);
    assert.equal((await callee.done).code, 0);
    const end = await receiver.next(endOf('bob'), 'bob');
    const start = receiver.records.find((r) => r.event === 'start' && r.callId === end.callId);
    const answer = receiver.records.find((r) => r.event === 'answer' && r.callId === end.callId);
    assert.ok(start !== undefined && answer !== undefined, 'start and answer came before the end');
    assert.equal(end.event, 'end');
    if (end.event !== 'end' || answer.event !== 'answer') return;
    assert.deepEqual({ dialect: end.dialect, caller: end.caller, callee: end.callee, result: end.result, endReason: end.endReason, endedBy: end.endedBy },
      { dialect: 'sip', caller: 'caller', callee: 'bob', result: 'answered', endReason: 'bye', endedBy: 'caller' });
    assert.equal(end.startedAt, start.startedAt);
    assert.equal(end.answeredAt, answer.answeredAt);
    assert.ok(end.durationSec >= 0.5 && end.durationSec < 5, `duration ${end.durationSec} s for a call held 0.6 s`);
    assert.ok(answer.setupMs >= 0 && answer.setupMs < 5000);
    assert.equal(end.status, undefined, 'an answered call has no failure status');
    // One audio stream with its own RTCP: an RTP and an RTCP session, each counted per party.
    assert.deepEqual(end.media.map((m) => `${m.stream}/${m.component}`).sort(), ['0/rtcp', '0/rtcp', '0/rtp', '0/rtp']);
  });

  test('a SIP call the callee rejects: one end record, rejected with 486, no answer', async () => {
    const callee = await sipCallee('busy', 'uas_busy.xml');
    await sipCaller('busy', 'uac_rejected.xml');
    assert.equal((await callee.done).code, 0);
    const end = await receiver.next(endOf('busy'), 'busy');
    assert.ok(end.event === 'end');
    assert.deepEqual({ result: end.result, status: end.status, endReason: end.endReason, answeredAt: end.answeredAt, durationSec: end.durationSec },
      { result: 'rejected', status: 486, endReason: 'failed', answeredAt: null, durationSec: 0 });
    assert.equal(receiver.records.filter((r) => r.callId === end.callId && r.event === 'answer').length, 0);
  });

  test('a SIP call the caller cancels while it rings: cancelled with 487', async () => {
    const callee = await sipCallee('ringing', 'uas_cancelled.xml');
    await sipCaller('ringing', 'uac_cancel.xml');
    assert.equal((await callee.done).code, 0);
    const end = await receiver.next(endOf('ringing'), 'ringing');
    assert.ok(end.event === 'end');
    assert.deepEqual({ result: end.result, status: end.status }, { result: 'cancelled', status: 487 });
  });

  test('a plain call with media both ways, hung up by the callee: answered, per-party counters', async () => {
    const alice = await PlainUser.register('alice', plainPort);
    const bob = await PlainUser.register('bobby', plainPort);
    try {
      const port = await establishCall(alice, bob);
      for (let i = 0; i < 5; i++) await alice.media(port, Buffer.alloc(160, i));
      for (let i = 0; i < 3; i++) await bob.media(port, Buffer.alloc(100, i));
      for (let i = 0; i < 5; i++) await bob.next();
      for (let i = 0; i < 3; i++) await alice.next();
      await bob.send('BYE FROM:bobby TO:alice\n');
      assert.equal(await alice.next(), 'BYE FROM:bobby TO:alice\n');
      const end = await receiver.next(endOf('bobby'), 'bobby');
      assert.ok(end.event === 'end');
      assert.deepEqual({ dialect: end.dialect, result: end.result, endReason: end.endReason, endedBy: end.endedBy }, { dialect: 'plain', result: 'answered', endReason: 'bye', endedBy: 'callee' });
      const sent = Object.fromEntries(end.media.map((m) => [m.party, [m.packets, m.bytes]]));
      assert.deepEqual(sent, { alice: [5, 800], bobby: [3, 300] });
    } finally {
      await alice.close();
      await bob.close();
    }
  });

  test('a plain call nobody answers: unanswered after the answer timeout', async () => {
    const alice = await PlainUser.register('carol', plainPort);
    const dave = await PlainUser.register('dave', plainPort);
    try {
      await alice.send('CALL FROM:carol TO:dave\n');
      assert.equal(await dave.next(), 'CALL FROM:carol TO:dave\n');
      assert.match(await alice.next(3000), /^CALL_FAILED FROM:dave TO:carol no answer\n$/);
      const end = await receiver.next(endOf('dave'), 'dave');
      assert.ok(end.event === 'end');
      assert.deepEqual({ result: end.result, endReason: end.endReason, status: end.status }, { result: 'unanswered', endReason: 'timeout', status: 408 });
    } finally {
      await alice.close();
      await dave.close();
    }
  });

  test('the file holds the same records as the webhook got, one JSON object per line; /metrics counts them', async () => {
    const registry = proxyMetrics(proxy, 'test');
    const counts = async (): Promise<Map<string, number>> => new Map((await registry.getMetricsAsJSON()).find((m) => m.name === 'switchyard_call_records_total')!.values
      .map((v) => [`${v.labels.sink}/${v.labels.result}`, v.value]));
    // The receiver may have the last record before the proxy has its answer: the post counts when answered.
    let metrics = await counts();
    for (const end = Date.now() + 10_000; metrics.get('webhook/posted')! + metrics.get('webhook/failed')! < 12 && Date.now() < end; metrics = await counts()) {
      await new Promise((r) => setTimeout(r, 20));
    }
    await proxy.stop();
    const lines = readFileSync(file, 'utf8').split('\n');
    assert.equal(lines.pop(), '', 'the file ends with a newline');
    // Posts run a few at a time, so the webhook may get them in another order.
    const canonical = (rs: readonly CallRecord[]): string[] => rs.map((r) => JSON.stringify(r)).sort();
    assert.deepEqual(canonical(lines.map((l) => JSON.parse(l) as CallRecord)), canonical(receiver.records));
    assert.equal(receiver.records.length, 3 + 2 + 2 + 3 + 2, 'answered calls: start, answer, end; the others: start, end');
    assert.deepEqual(Object.fromEntries(metrics), { 'file/written': 12, 'file/dropped': 0, 'webhook/posted': 12, 'webhook/failed': 0, 'webhook/dropped': 0 });
  });
});
