/**
 * Call records against a running proxy with plain users: an answered call, a rejected one, one
 * the caller gave up on and one nobody answered each leave their start and end lines (and the
 * answered one its answer line), with durations, reasons, statuses and media counters.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import type { CallRecord } from '../../modules/call-records/index.ts';
import { establishCall, PlainUser } from '../helpers/plain-client.ts';
import { ProxyProcess, writeScript } from '../helpers/proxy-process.ts';

const script = (file: string): string => `import { defineProxy } from 'switchyard';
import { callRecords, callRouting, dialog, mediaRelay, registrar } from 'switchyard/modules';

export default defineProxy({
  listen: [{ dialect: 'plain', port: 0, host: '127.0.0.1' }],
  modules: [registrar(), dialog(), callRouting({ answerTimeoutSec: 1 }), mediaRelay({ ports: '42600-42699' }), callRecords({ file: ${JSON.stringify(file)} })],
  routes: {
    request(ctx) {
      const { msg } = ctx;
      if (msg.method === 'REGISTER') return ctx.register();
      if (msg.method === 'INVITE') ctx.engageMediaProxy();
      return ctx.forwardCall();
    },
  },
});
`;

describe('call records', () => {
  let proxy: ProxyProcess;
  let file: string;
  let alice: PlainUser;
  let bob: PlainUser;

  before(async () => {
    const dir = path.dirname(writeScript('call-records-dir', ''));
    file = path.join(dir, 'calls.jsonl');
    proxy = await ProxyProcess.start({ configFile: writeScript('call-records', script(file)), args: ['--no-warm-up'] });
    const port = (await proxy.waitForLog((l) => l.msg === 'listening')).port as number;
    alice = await PlainUser.register('alice', port);
    bob = await PlainUser.register('bob', port);
  });
  after(async () => {
    await alice.close();
    await bob.close();
    await proxy.stop();
  });

  /** The records written so far, once `count` of them are there (the file is appended as calls go). */
  async function records(count: number): Promise<CallRecord[]> {
    for (let i = 0; i < 100; i++) {
      let text = '';
      try { text = readFileSync(file, 'utf8'); } catch { /* not created yet */ }
      const lines = text.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as CallRecord);
      if (lines.length >= count) return lines;
      await delay(20); // the file is appended asynchronously: bounded, 100 × 20 ms
    }
    throw new Error(`fewer than ${count} call records in ${file}`);
  }

  test('answered, rejected, cancelled and unanswered calls', async () => {
    // Answered, with media both ways, then hung up by the callee.
    const port = await establishCall(alice, bob);
    await alice.media(port, Buffer.alloc(100));
    await bob.peer.next();
    await bob.media(port, Buffer.alloc(60));
    await bob.media(port, Buffer.alloc(60));
    await alice.peer.next();
    await alice.peer.next();
    await bob.send('BYE FROM:bob TO:alice\n');
    assert.equal(await alice.next(), 'BYE FROM:bob TO:alice\n');
    // Rejected: the callee is busy.
    await alice.send('CALL FROM:alice TO:bob\n');
    assert.equal(await bob.next(), 'CALL FROM:alice TO:bob\n');
    await bob.send('CALL_FAILED FROM:bob TO:alice busy\n');
    assert.match(await alice.next(), /^CALL_FAILED FROM:bob TO:alice busy/);
    // Unanswered: nobody picks up within answerTimeoutSec (1 s).
    await alice.send('CALL FROM:alice TO:bob\n');
    assert.equal(await bob.next(), 'CALL FROM:alice TO:bob\n');
    assert.match(await alice.next(3000), /^CALL_FAILED FROM:bob TO:alice no answer/);

    // Cancelled: the caller hangs up while it rings (last: the plain protocol's transaction then runs to its timeout).
    await alice.send('CALL FROM:alice TO:bob\n');
    assert.equal(await bob.next(), 'CALL FROM:alice TO:bob\n');
    await alice.send('BYE FROM:alice TO:bob\n');
    assert.equal(await bob.next(), 'BYE FROM:alice TO:bob\n');
    const all = await records(9);
    const ends = all.filter((r) => r.event === 'end');
    assert.deepEqual(all.map((r) => r.event), ['start', 'answer', 'end', 'start', 'end', 'start', 'end', 'start', 'end']);
    assert.deepEqual(ends.map((r) => [r.reason, r.status ?? null]), [['completed', null], ['rejected', 486], ['timeout', 408], ['cancelled', null]]);
    for (const r of all) assert.deepEqual([r.caller, r.callee, r.dialect], ['alice', 'bob', 'plain']);
    const answered = ends[0]!;
    assert.ok(answered.answeredAt !== null && answered.durationSec! >= 0);
    assert.deepEqual(answered.media!.map((m) => m.legs.map((l) => [l.party, l.packets, l.bytes])), [[['alice', 1, 100], ['bob', 2, 120]]]);
    assert.equal(answered.media![0]!.port, port);
    for (const r of ends.slice(1)) {
      assert.equal(r.answeredAt, null);
      assert.equal(r.durationSec, 0);
      assert.deepEqual(r.media, []);
    }
  });
});
