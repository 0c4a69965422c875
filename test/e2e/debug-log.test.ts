/** At --log-level debug each route's decision is in the log: the verdict, and for a forward where it goes. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { establishCall, PlainUser } from '../helpers/plain-client.ts';
import { freePort, freeRange } from '../helpers/ports.ts';
import { defaultLikeScript, ProxyProcess, writeScript } from '../helpers/proxy-process.ts';

test('debug logging shows every routing decision with the message it was made for', async () => {
  const port = await freePort();
  const proxy = await ProxyProcess.start({ configFile: writeScript('debug-log', defaultLikeScript({ port, ports: await freeRange(4) })), args: ['--no-warm-up'] });
  try {
    const alice = await PlainUser.register('alice', port);
    const bob = await PlainUser.register('bob', port);
    await establishCall(alice, bob);
    await alice.send('CALL FROM:alice TO:nobody\n');
    assert.match(await alice.next(), /^CALL_FAILED/);
    await Promise.all([alice.close(), bob.close()]);
    // The answer can reach alice before the log line, written before it, has come through the log's pipe.
    await proxy.waitForLog((l) => l.msg === 'request route' && l.method === 'INVITE' && l.verdict === 'respond 404');

    const decisions = proxy.logs.filter((l) => l.msg === 'request route').map((l) => ({ method: l.method, verdict: l.verdict, targets: l.targets }));
    assert.deepEqual(decisions.filter((d) => d.method === 'REGISTER').map((d) => d.verdict), ['respond 200 OK', 'respond 200 OK'], 'the registrar answers');
    const call = decisions.find((d) => d.method === 'INVITE' && String(d.verdict).startsWith('forward'));
    assert.ok(call !== undefined, JSON.stringify(decisions));
    assert.equal((call.targets as string[]).length, 1, 'the forward names its one target');
    assert.match((call.targets as string[])[0]!, /:\d+$/);
    assert.ok(decisions.some((d) => d.method === 'INVITE' && d.verdict === 'respond 404'), 'the unknown callee: respond 404');
    const line = proxy.logs.find((l) => l.msg === 'request route' && l.method === 'INVITE')!;
    assert.equal(typeof line.callId, 'string', 'each decision carries the message identity');
    assert.equal(line.dialect, 'plain');
  } finally {
    await proxy.stop();
  }
});
