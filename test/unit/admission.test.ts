/**
 * Admission control (core/kernel/admission.ts) and how the dispatcher applies it: once the
 * event loop has stayed saturated while senders retransmit to it, new calls are refused with
 * 503 before the script runs; everything else still goes through.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { AdmissionControl } from '../../core/kernel/admission.ts';
import { Dispatcher } from '../../core/kernel/dispatcher.ts';
import type { ReplyExtras } from '../../core/model/verdict.ts';
import type { Request } from '../../core/model/message.ts';
import type { ModuleRegistry } from '../../core/kernel/module-registry.ts';
import type { ProxyEngine } from '../../core/kernel/engine.ts';
import { plainRequest, silentLog, snapshot } from './_unit-fixtures.ts';

function admittedOf(a: AdmissionControl, n: number): number {
  let admitted = 0;
  for (let i = 0; i < n; i++) if (a.admit()) admitted++;
  return admitted;
}

describe('AdmissionControl', () => {
  test('an idle or busy but unsaturated loop admits every call', () => {
    const a = new AdmissionControl({ high: 0.97, low: 0.85, patience: 3 });
    for (const u of [0.1, 0.5, 0.9, 0.96, 0.2]) a.observe(u, 50);
    assert.equal(a.share, 1);
    assert.equal(admittedOf(a, 100), 100);
  });

  test('a saturated loop nobody retransmits to (a cold start, answers within T1) admits every call', () => {
    const a = new AdmissionControl({ high: 0.97, low: 0.85, patience: 3, retransmissions: 10 });
    for (let i = 0; i < 20; i++) a.observe(1, i % 2 === 0 ? 0 : 9);
    assert.equal(a.share, 1);
  });

  test('saturated samples below the patience change nothing; a slack sample resets the count', () => {
    const a = new AdmissionControl({ high: 0.97, low: 0.85, patience: 3 });
    a.observe(1, 50);
    a.observe(1, 50);
    a.observe(0.5, 50);
    a.observe(1, 50);
    a.observe(0.99, 50);
    assert.equal(a.share, 1);
  });

  test('sustained saturation cuts the share at every further saturated sample; the admitted calls follow it', () => {
    const a = new AdmissionControl({ high: 0.97, low: 0.85, patience: 3 });
    for (let i = 0; i < 3; i++) a.observe(1, 50);
    assert.ok(Math.abs(a.share - 0.7) < 1e-9);
    assert.ok(Math.abs(admittedOf(a, 100) - 70) <= 1);
    a.observe(0.98, 50);
    assert.ok(Math.abs(a.share - 0.49) < 1e-9);
    assert.ok(Math.abs(admittedOf(a, 100) - 49) <= 1);
  });

  test('slack brings the share back as fast as it was cut; busy without retransmissions, step by step; in between it holds', () => {
    const a = new AdmissionControl({ high: 0.97, low: 0.85, patience: 1 });
    a.observe(1, 50);
    a.observe(1, 50); // 0.49
    a.observe(0.9, 50); // between low and high while still retransmitted to: hold
    assert.ok(Math.abs(a.share - 0.49) < 1e-9);
    a.observe(0.99, 0); // busy but nobody retransmits: the backlog is gone, grow
    assert.ok(Math.abs(a.share - 0.54) < 1e-9);
    a.observe(0.3, 50); // slack: undo a cut (and a step)
    assert.ok(Math.abs(a.share - (0.54 / 0.7 + 0.05)) < 1e-9);
    a.observe(0.3, 50);
    assert.equal(a.share, 1);
    assert.equal(admittedOf(a, 50), 50);
  });

  test('start and stop leave no timer behind', () => {
    const a = new AdmissionControl();
    a.start();
    a.start();
    a.stop();
    a.stop();
  });
});

interface Responded { method: string; status: number; reason: string | undefined; headers: ReplyExtras | undefined; refused: boolean }

function harness(admit: () => boolean): { dispatcher: Dispatcher; engine: ProxyEngine; responded: Responded[]; routed: string[] } {
  const responded: Responded[] = [];
  const routed: string[] = [];
  const engine: ProxyEngine = {
    intercept: () => false,
    respond: (req, status, reason, headers) => { responded.push({ method: req.method, status, reason, headers, refused: false }); },
    refuse: (req, status, reason, headers) => { responded.push({ method: req.method, status, reason, headers, refused: true }); },
    forward: () => undefined,
    receiveReply: async () => undefined,
    size: 0,
    close: () => undefined,
  };
  const snap = snapshot(1, {
    request: (ctx: object) => {
      const c = ctx as { msg: Request; drop(): unknown };
      routed.push(c.msg.method);
      c.drop();
    },
  });
  const registry = { functionTable: () => new Map() } as unknown as ModuleRegistry;
  const dispatcher = new Dispatcher({ log: silentLog, registry: () => registry, current: () => snap, send: () => undefined, admission: { admit } });
  return { dispatcher, engine, responded, routed };
}

describe('Dispatcher with admission control', () => {
  test('a refused new call gets 503 with Retry-After and never reaches the script', async () => {
    const h = harness(() => false);
    await h.dispatcher.dispatch(plainRequest('CALL FROM:alice TO:bob\n'), h.engine);
    assert.deepEqual(h.routed, []);
    assert.equal(h.responded.length, 1);
    assert.equal(h.responded[0]!.status, 503);
    assert.equal(h.responded[0]!.refused, true, 'a refusal, not retransmitted until an ACK');
    assert.deepEqual(h.responded[0]!.headers, { retryAfterSec: 5 });
    assert.equal(h.dispatcher.stats.shed, 1);
  });

  test('requests other than new calls go through the script even while calls are refused', async () => {
    const h = harness(() => false);
    await h.dispatcher.dispatch(plainRequest('BYE FROM:alice TO:bob\n'), h.engine);
    await h.dispatcher.dispatch(plainRequest('REGISTER alice\n'), h.engine);
    assert.deepEqual(h.routed, ['BYE', 'REGISTER']);
    assert.deepEqual(h.responded, []);
    assert.equal(h.dispatcher.stats.shed, 0);
  });

  test('an admitted call runs the script as usual', async () => {
    const h = harness(() => true);
    await h.dispatcher.dispatch(plainRequest('CALL FROM:alice TO:bob\n'), h.engine);
    assert.deepEqual(h.routed, ['INVITE']);
    assert.deepEqual(h.responded, []);
  });
});
