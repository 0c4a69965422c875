import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, renameSync, existsSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';
import { validateModules } from '../../core/kernel/validate-modules.ts';
import { callRecords, dialog } from '../../modules/index.ts';
import { FileSink } from '../../modules/call-records/file-sink.ts';
import type { CallEnd } from '../../modules/call-records/module-apis.ts';
import { endRecord } from '../../modules/call-records/record.ts';
import { Webhook } from '../../modules/call-records/webhook.ts';
import { throwsWithCode } from './_unit-fixtures.ts';

const T0 = Date.parse('2026-01-01T10:00:00Z');
const call = (confirmedAt: number | null): CallEnd['dialog'] => ({
  callId: 'c1', dialect: 'sip', caller: 'alice', callee: 'bob',
  callerAddress: { address: '192.0.2.1', port: 5060 }, calleeAddress: { address: '2001:db8::2', port: 5062 }, createdAt: T0, confirmedAt,
});

describe('call records: the end record', () => {
  test('an answered call: its duration from the answer, who hung up, media per party', () => {
    const r = endRecord({ dialog: call(T0 + 2000), reason: 'bye', by: 'callee' }, [
      { key: { callId: 'c1', stream: 0, component: 'rtp' }, stats: { parties: [{ name: 'alice', packets: 50, bytes: 8600 }, { name: 'bob', packets: 49, bytes: 8428 }] } },
    ], T0 + 2000 + 61_250);
    assert.deepEqual(r, {
      event: 'end', callId: 'c1', dialect: 'sip', caller: 'alice', callee: 'bob', callerAddress: '192.0.2.1:5060', calleeAddress: '[2001:db8::2]:5062',
      startedAt: '2026-01-01T10:00:00.000Z', answeredAt: '2026-01-01T10:00:02.000Z', endedAt: '2026-01-01T10:01:03.250Z', durationSec: 61.3,
      result: 'answered', endReason: 'bye', endedBy: 'callee',
      media: [{ stream: 0, component: 'rtp', party: 'alice', packets: 50, bytes: 8600 }, { stream: 0, component: 'rtp', party: 'bob', packets: 49, bytes: 8428 }],
    });
  });

  test('a call never answered: its result from the final status', () => {
    const result = (reason: string, status?: number): unknown => {
      const r = endRecord({ dialog: call(null), reason, ...(status !== undefined ? { status } : {}) }, [], T0 + 5000);
      assert.ok(r.event === 'end');
      assert.equal(r.durationSec, 0);
      assert.equal(r.answeredAt, null);
      return [r.result, r.status];
    };
    assert.deepEqual(result('failed', 486), ['rejected', 486]);
    assert.deepEqual(result('failed', 603), ['rejected', 603]);
    assert.deepEqual(result('failed', 404), ['rejected', 404]);
    assert.deepEqual(result('failed', 487), ['cancelled', 487]);
    assert.deepEqual(result('timeout', 408), ['unanswered', 408]);
    assert.deepEqual(result('failed', 480), ['unanswered', 480]);
    assert.deepEqual(result('failed', 503), ['failed', 503]);
    assert.deepEqual(result('shutdown'), ['failed', undefined]);
  });
});

describe('call records: options', () => {
  test('neither a file nor a webhook is refused, naming the field', () => {
    const e = throwsWithCode(() => validateModules([dialog(), callRecords({})]), 'SY_CONFIG_INVALID');
    assert.match(e.message, /call-records.*file.*give a file, a webhook or both/s);
  });

  test('a webhook URL that is not http(s) is refused', () => {
    const e = throwsWithCode(() => validateModules([dialog(), callRecords({ webhook: { url: 'ftp://billing.example/x' } })]), 'SY_CONFIG_INVALID');
    assert.match(e.message, /webhook\.url/);
  });
});

describe('call records: the file', () => {
  test('lines are appended; while the disk is behind by more than the bound, lines are dropped and counted', async () => {
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'cdr-')), 'calls.jsonl');
    const sink = new FileSink(file, 64, (err) => assert.fail(err));
    for (let i = 0; i < 10; i++) sink.write(JSON.stringify({ i, pad: 'x'.repeat(40) }));
    await sink.close();
    const lines = readFileSync(file, 'utf8').trimEnd().split('\n');
    assert.equal(sink.written + sink.dropped, 10);
    assert.ok(sink.dropped > 0, 'a burst beyond the bound drops');
    assert.deepEqual(lines.map((l) => (JSON.parse(l) as { i: number }).i), Array.from({ length: sink.written }, (_, i) => i), 'the first lines, whole and in order');
  });

  test('a file moved away (log rotation) is reopened at its path', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'cdr-'));
    const file = path.join(dir, 'calls.jsonl');
    const sink = new FileSink(file, 1 << 20, (err) => assert.fail(err));
    try {
      sink.write('one');
      await new Promise((r) => setTimeout(r, 50));
      renameSync(file, `${file}.1`);
      const end = Date.now() + 5000;
      while (!existsSync(file) && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
      assert.ok(existsSync(file), 'reopened within the check interval');
      sink.write('two');
    } finally {
      await sink.close();
    }
    assert.equal(readFileSync(`${file}.1`, 'utf8'), 'one\n');
    assert.equal(readFileSync(file, 'utf8'), 'two\n');
  });
});

describe('call records: the webhook', () => {
  /** A receiver that holds every request until the test answers it. */
  async function holdingServer(): Promise<{ url: string; held: http.ServerResponse[]; arrived(n: number): Promise<void>; close(): Promise<void> }> {
    const held: http.ServerResponse[] = [];
    let waiter: { n: number; resolve: () => void } | null = null;
    const server = http.createServer((req, res) => {
      req.resume();
      held.push(res);
      if (waiter !== null && held.length >= waiter.n) waiter.resolve();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    return {
      url: `http://127.0.0.1:${(server.address() as { port: number }).port}/`,
      held,
      arrived: (n) => (held.length >= n ? Promise.resolve() : new Promise((resolve) => { waiter = { n, resolve }; })),
      close: () => {
        server.closeAllConnections();
        return new Promise((r) => server.close(() => r()));
      },
    };
  }

  test('at most `concurrency` requests in flight, a bounded queue, failures counted', async () => {
    const server = await holdingServer();
    const failures: string[] = [];
    const hook = new Webhook(server.url, { timeoutMs: 5000, concurrency: 2, maxQueued: 3, headers: { authorization: 'Bearer t' } }, (why) => failures.push(why));
    try {
      for (let i = 0; i < 10; i++) hook.post(`{"i":${i}}`);
      assert.equal(hook.dropped, 10 - 2 - 3, 'two sent at once, three waiting, the rest dropped');
      // Answered two at a time: a new request arrives only once one in flight is answered.
      for (const [from, upTo, status] of [[0, 2, 200], [2, 4, 500], [4, 5, 200]] as const) {
        await server.arrived(upTo);
        assert.equal(server.held.length, upTo, 'no more requests than answered ones plus two');
        for (const res of server.held.slice(from, upTo)) res.writeHead(status).end();
      }
      const end = Date.now() + 5000;
      while (hook.sent + hook.failed < 5 && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
      assert.deepEqual({ sent: hook.sent, failed: hook.failed, failures }, { sent: 3, failed: 2, failures: ['HTTP 500', 'HTTP 500'] });
    } finally {
      hook.close();
      await server.close();
    }
  });

  test('a receiver that never answers: the request times out and counts as failed', async () => {
    const server = await holdingServer();
    const failures: string[] = [];
    const hook = new Webhook(server.url, { timeoutMs: 150, concurrency: 1, maxQueued: 10, headers: {} }, (why) => failures.push(why));
    try {
      hook.post('{}');
      await server.arrived(1);
      const end = Date.now() + 5000;
      while (hook.failed === 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
      assert.equal(hook.failed, 1);
      assert.match(failures[0]!, /abort|timeout/i);
    } finally {
      hook.close();
      await server.close();
    }
  });
});
