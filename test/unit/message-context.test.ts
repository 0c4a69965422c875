import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { MessageContext } from '../../core/kernel/message-context.ts';
import { DROP, describeVerdict, forwardVerdict, isVerdict, pendingVerdict, respondVerdict, type ForwardPlan } from '../../core/model/verdict.ts';

const PLAN: ForwardPlan = { targets: null, answerTimeoutMs: 1000, onFailure: undefined, onReply: undefined, recordRoute: false };
import { createLogger } from '../../core/lib/log.ts';
import { plainReply, plainRequest, silentLog, sleep, snapshot, throwsWithCode } from './_unit-fixtures.ts';

function mc(kind: 'request' | 'reply' | 'failure' = 'request'): MessageContext {
  return new MessageContext(kind, plainRequest('CALL FROM:alice TO:bob\n'), snapshot(3), silentLog, kind === 'request' ? null : plainReply('CALL_FAILED FROM:bob TO:alice busy'));
}

describe('MessageContext: one verdict per request', () => {
  test('the first verdict is recorded and returned', () => {
    const c = mc();
    assert.equal(c.verdict, null);
    const v = respondVerdict(404, 'unknown peer');
    assert.equal(c.claim(v), v);
    assert.equal(c.verdict, v);
  });

  test('a second verdict throws SY_VERDICT_TWICE describing both, and the first stays', () => {
    const c = mc();
    const first = forwardVerdict(PLAN, 'bob at [::1]:5000');
    c.claim(first);
    const e = throwsWithCode(() => c.claim(respondVerdict(486, 'busy')), 'SY_VERDICT_TWICE');
    assert.match(e.message, /forward bob at \[::1\]:5000/);
    assert.match(e.message, /respond 486 busy/);
    assert.equal(c.verdict, first);
    throwsWithCode(() => c.claim(DROP), 'SY_VERDICT_TWICE');
    throwsWithCode(() => c.claim(first), 'SY_VERDICT_TWICE');
  });

  test('drop counts as a verdict too', () => {
    const c = mc();
    c.claim(DROP);
    throwsWithCode(() => c.claim(respondVerdict(200, 'OK')), 'SY_VERDICT_TWICE');
  });

  test('reserve claims a pending verdict at once; fulfil sets the real one later', async () => {
    const c = mc();
    const fulfil = c.reserve('forwardCall');
    assert.equal(c.verdict?.kind, 'pending');
    assert.equal(describeVerdict(c.verdict!), 'forwardCall');
    const e = throwsWithCode(() => c.claim(respondVerdict(403, 'no')), 'SY_VERDICT_TWICE');
    assert.match(e.message, /forwardCall/);
    throwsWithCode(() => c.reserve('register'), 'SY_VERDICT_TWICE');

    await sleep(1);
    const real = respondVerdict(404, 'unknown peer');
    assert.equal(fulfil(real), real);
    assert.equal(c.verdict, real);
    throwsWithCode(() => c.claim(DROP), 'SY_VERDICT_TWICE');
  });

  test('a released reservation leaves the verdict to the route; a release after fulfil changes nothing', () => {
    const c = mc();
    const held = c.reserve('authentication');
    throwsWithCode(() => c.claim(DROP), 'SY_VERDICT_TWICE');
    held.release();
    assert.equal(c.verdict, null);
    const own = respondVerdict(200, 'OK');
    assert.equal(c.claim(own), own);

    const d = mc();
    const fulfil = d.reserve('authentication');
    const refused = respondVerdict(403, 'Forbidden');
    fulfil(refused);
    fulfil.release();
    assert.equal(d.verdict, refused);
  });

  test('reserve after a verdict throws and leaves the verdict alone', () => {
    const c = mc();
    c.claim(DROP);
    throwsWithCode(() => c.reserve('late'), 'SY_VERDICT_TWICE');
    assert.equal(c.verdict, DROP);
  });
});

describe('MessageContext: tracked work', () => {
  test('settle with nothing tracked has nothing to wait for', () => {
    assert.equal(mc().settle(), undefined);
  });

  test('settle waits for every tracked promise', async () => {
    const c = mc();
    const done: number[] = [];
    const p1 = c.track(sleep(30).then(() => { done.push(1); return 'a'; }));
    c.track(sleep(5).then(() => { done.push(2); }));
    assert.equal(await p1, 'a', 'track returns the promise it was given');
    await c.settle();
    assert.deepEqual(done.sort(), [1, 2]);
  });

  test('work tracked while settling is waited for as well', async () => {
    const c = mc();
    let inner = false;
    c.track((async () => {
      await sleep(5);
      c.track(sleep(20).then(() => { inner = true; }));
    })());
    await c.settle();
    assert.equal(inner, true);
  });

  test('settle rethrows the first rejection after everything has settled', async () => {
    const c = mc();
    const first = new Error('first');
    const second = new Error('second');
    let slowDone = false;
    c.track(Promise.reject(first)).catch(() => undefined);
    c.track(sleep(20).then(() => { throw second; })).catch(() => undefined);
    c.track(sleep(40).then(() => { slowDone = true; }));
    await assert.rejects(async () => c.settle(), (err) => err === first);
    assert.equal(slowDone, true, 'settle waited for the slow promise before rethrowing');
    // Everything was consumed: a second settle has nothing left.
    await c.settle();
  });

  test('a rejection with undefined still makes settle fail', async () => {
    const c = mc();
    c.track(Promise.reject(undefined)).catch(() => undefined);
    await assert.rejects(async () => c.settle(), Error);
  });

  test('a rejection in work tracked during settle is reported', async () => {
    const c = mc();
    const late = new Error('late');
    c.track((async () => {
      await sleep(1);
      c.track(Promise.reject(late)).catch(() => undefined);
    })());
    await assert.rejects(async () => c.settle(), (err) => err === late);
  });
});

describe('MessageContext: identity', () => {
  test('kind, message, snapshot and reply are what it was made with', () => {
    const c = mc('failure');
    assert.equal(c.kind, 'failure');
    assert.equal(c.msg.method, 'INVITE');
    assert.equal(c.snapshot.generation, 3);
    assert.equal(c.reply?.status, 486);
    assert.equal(c.txn, null);
  });

  test('the logger is made once and carries the message identity', () => {
    const lines: string[] = [];
    const sink = new Writable({ write(chunk, _enc, cb) { lines.push(String(chunk)); cb(); } });
    const log = createLogger({ level: 'info', pretty: false, destination: sink });
    const c = new MessageContext('failure', plainRequest('CALL FROM:alice TO:bob\n'), snapshot(4), log, plainReply('CALL_FAILED FROM:bob TO:alice busy'));
    assert.equal(c.log, c.log);
    c.log.info('hello');
    assert.equal(lines.length, 1);
    const entry = JSON.parse(lines[0]!) as Record<string, unknown>;
    assert.equal(entry.msg, 'hello');
    assert.equal(entry.route, 'failure');
    assert.equal(entry.gen, 4);
    assert.equal(entry.dialect, 'plain');
    assert.equal(entry.method, 'INVITE');
    assert.equal(entry.status, 486);
    assert.equal(entry.callId, c.msg.callId);
    assert.equal(entry.src, `${c.msg.source.address}:${c.msg.source.port}`);
  });
});

describe('verdicts', () => {
  test('constructors make tagged verdicts; plain look-alikes are not verdicts', () => {
    for (const v of [respondVerdict(200, 'OK'), forwardVerdict(PLAN, 'x'), DROP, pendingVerdict('p')]) assert.ok(isVerdict(v));
    assert.equal(isVerdict({ ok: true, kind: 'drop' }), false);
    assert.equal(isVerdict(null), false);
    assert.equal(isVerdict('drop'), false);
    assert.ok(Object.isFrozen(DROP));
  });

  test('describeVerdict', () => {
    assert.equal(describeVerdict(respondVerdict(486, 'busy')), 'respond 486 busy');
    assert.equal(describeVerdict(forwardVerdict(PLAN, 'bob at 1.2.3.4:5')), 'forward bob at 1.2.3.4:5');
    assert.equal(describeVerdict(DROP), 'drop');
    assert.equal(describeVerdict(pendingVerdict('register')), 'register');
  });
});
