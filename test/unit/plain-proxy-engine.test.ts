import { afterEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Endpoint } from '../../core/lib/address.ts';
import { MessageContext } from '../../core/kernel/message-context.ts';
import { forwardVerdict, respondVerdict, DROP } from '../../core/model/verdict.ts';
import type { Reply } from '../../core/model/message.ts';
import { createPlainDialect } from '../../core/dialects/plain/dialect.ts';
import type { RouteFn } from '../../core/kernel/snapshot.ts';
import { PlainProxyEngine } from '../../core/dialects/plain/engine.ts';
import type { ProxyEngine } from '../../core/kernel/engine.ts';
import { ProxyHooks, type AnswerDecision, type TransactionEndEvent, type TransactionView } from '../../core/kernel/hooks.ts';
import { ALICE_ADDR, BOB_ADDR, plainReply, plainRequest, silentLog, snapshot, waitFor } from './_unit-fixtures.ts';

const CAROL_ADDR: Endpoint = { address: '::ffff:127.0.0.1', port: 40003 };
const LONG = 60_000;

type RouteImpl = (mc: MessageContext) => void | Promise<void>;

interface Harness {
  engine: PlainProxyEngine;
  hooks: ProxyHooks;
  sent: { to: Endpoint; text: string }[];
  ended: TransactionEndEvent[];
  routesRun: { kind: string; name: string; reply: Reply }[];
  dialect: ReturnType<typeof createPlainDialect>;
  /** Makes a request context and forwards it, as forwardCall does. */
  forward(text: string, target: Endpoint, opts?: { answerTimeoutMs?: number; onFailure?: string; onReply?: string; source?: Endpoint }): MessageContext;
  reply(text: string, source: Endpoint): Promise<void>;
}

const engines: PlainProxyEngine[] = [];
afterEach(() => {
  for (const e of engines.splice(0)) e.close();
});

function harness(routes: { failure?: Record<string, RouteImpl>; reply?: Record<string, RouteImpl> } = {}): Harness {
  const hooks = new ProxyHooks();
  const dialect = createPlainDialect({ ratePerSecond: 1e9, burst: 1e9, maxSources: 100 });
  const sent: Harness['sent'] = [];
  const ended: TransactionEndEvent[] = [];
  const routesRun: Harness['routesRun'] = [];
  hooks.onTransactionEnd((e) => ended.push(e));
  // The snapshot's route tables only need the names; the harness runs the implementations.
  const names = (r?: Record<string, RouteImpl>): Record<string, RouteFn> => Object.fromEntries(Object.keys(r ?? {}).map((k) => [k, () => undefined]));
  const snap = snapshot(1, { failure: names(routes.failure), reply: names(routes.reply) });
  const engine: PlainProxyEngine = new PlainProxyEngine(dialect, {
    hooks,
    log: silentLog,
    send: (_listener, to, data) => { sent.push({ to, text: data.toString('latin1') }); },
    runRoute: async (kind, name, txn: TransactionView, reply) => {
      routesRun.push({ kind, name, reply });
      const mc = new MessageContext(kind, txn.request, txn.snapshot, silentLog, reply, txn);
      await routes[kind]?.[name]?.(mc);
      await mc.settle();
      return mc;
    },
  });
  engines.push(engine);
  const h: Harness = {
    engine, hooks, sent, ended, routesRun, dialect,
    forward(text, target, opts = {}) {
      const req = plainRequest(text, opts.source ?? ALICE_ADDR);
      const mc = new MessageContext('request', req, snap, silentLog);
      const plan = { targets: [{ address: target }], answerTimeoutMs: opts.answerTimeoutMs ?? LONG, onFailure: opts.onFailure, onReply: opts.onReply, recordRoute: false };
      engine.forward(mc, plan);
      mc.claim(forwardVerdict(plan, `to ${target.port}`));
      return mc;
    },
    reply: (text, source) => engine.receiveReply(plainReply(text, source)),
  };
  return h;
}

describe('PlainProxyEngine: forwarding', () => {
  test('a BYE is forwarded statelessly, byte for byte', () => {
    const h = harness();
    const events: (TransactionView | null)[] = [];
    h.hooks.onRequestForward((e) => { events.push(e.txn); });
    h.forward('BYE FROM:alice TO:bob\r\n', BOB_ADDR);
    assert.deepEqual(h.sent, [{ to: BOB_ADDR, text: 'BYE FROM:alice TO:bob\r\n' }]);
    assert.deepEqual(events, [null]);
    assert.equal(h.engine.size, 0);
  });

  test('a CALL is forwarded with a transaction; the callee’s ACK_CALL goes to the caller as-is', async () => {
    const h = harness();
    const order: string[] = [];
    h.hooks.onRequestForward((e) => { order.push(`forward ${e.txn === null ? 'stateless' : 'txn'}`); });
    h.hooks.onAnswer((e) => {
      order.push(`answer ${e.reply.status}`);
      e.after(() => order.push('after'));
      return 'pass';
    });
    h.forward('CALL FROM:alice TO:bob\n', BOB_ADDR);
    assert.deepEqual(h.sent, [{ to: BOB_ADDR, text: 'CALL FROM:alice TO:bob\n' }]);
    assert.equal(h.engine.size, 1);
    assert.deepEqual([...h.engine.pinnedGenerations()], [1]);

    await h.reply('ACK_CALL FROM:bob TO:alice\r\n', BOB_ADDR);
    assert.deepEqual(h.sent[1], { to: ALICE_ADDR, text: 'ACK_CALL FROM:bob TO:alice\r\n' });
    assert.deepEqual(order, ['forward txn', 'answer 200', 'after']);
    assert.equal(h.engine.size, 0);
    assert.deepEqual(h.ended.map((e) => [e.outcome, e.status]), [['answered', 200]]);

    // A second answer for the finished call is stray.
    await h.reply('ACK_CALL FROM:bob TO:alice\n', BOB_ADDR);
    assert.deepEqual(h.sent[2], { to: BOB_ADDR, text: 'ERROR no matching call\n' });
    assert.equal(h.ended.length, 1);
  });

  test("the callee's CALL_FAILED is passed to the caller as-is and ends the call", async () => {
    const h = harness();
    h.forward('CALL FROM:alice TO:bob\n', BOB_ADDR);
    await h.reply('CALL_FAILED FROM:bob TO:alice  busy  right now\n', BOB_ADDR);
    assert.deepEqual(h.sent[1], { to: ALICE_ADDR, text: 'CALL_FAILED FROM:bob TO:alice  busy  right now\n' });
    assert.deepEqual(h.ended.map((e) => [e.outcome, e.status]), [['failed', 480]]);
    assert.equal(h.engine.size, 0);
  });

  test('a reply with no pending call is stray: answered with ERROR, nothing else changes', async () => {
    const h = harness();
    await h.reply('ACK_CALL FROM:bob TO:alice\n', BOB_ADDR);
    assert.deepEqual(h.sent, [{ to: BOB_ADDR, text: 'ERROR no matching call\n' }]);
    assert.equal(h.ended.length, 0);
  });

  test('a reply from another address than the callee’s is stray and the call stays pending', async () => {
    const h = harness();
    h.forward('CALL FROM:alice TO:bob\n', BOB_ADDR);
    await h.reply('ACK_CALL FROM:bob TO:alice\n', CAROL_ADDR);
    assert.deepEqual(h.sent[1], { to: CAROL_ADDR, text: 'ERROR no matching call\n' });
    assert.equal(h.engine.size, 1);
    await h.reply('ACK_CALL FROM:bob TO:alice\n', BOB_ADDR);
    assert.deepEqual(h.sent[2], { to: ALICE_ADDR, text: 'ACK_CALL FROM:bob TO:alice\n' });
  });

  test('the caller repeating its CALL keeps the one transaction', async () => {
    const h = harness();
    h.forward('CALL FROM:alice TO:bob\n', BOB_ADDR);
    h.forward('CALL FROM:alice TO:bob\n', BOB_ADDR);
    assert.equal(h.sent.length, 2);
    assert.equal(h.engine.size, 1);
    await h.reply('ACK_CALL FROM:bob TO:alice\n', BOB_ADDR);
    assert.equal(h.ended.length, 1);
  });

  test('a call the other way round replaces the pending one (487)', () => {
    const h = harness();
    h.forward('CALL FROM:alice TO:bob\n', BOB_ADDR);
    h.forward('CALL FROM:bob TO:alice\n', ALICE_ADDR, { source: BOB_ADDR });
    assert.deepEqual(h.ended.map((e) => [e.outcome, e.status, e.txn.request.from.user]), [['failed', 487, 'alice']]);
    assert.equal(h.engine.size, 1);
  });
});

describe('PlainProxyEngine: answer timeout and failure routes', () => {
  test('an unanswered call fails with CALL_FAILED … no answer to the caller', async () => {
    const h = harness();
    h.forward('CALL FROM:alice TO:bob\r\n', BOB_ADDR, { answerTimeoutMs: 50 });
    await waitFor(() => h.ended.length > 0, 'the answer timeout');
    assert.deepEqual(h.sent[1], { to: ALICE_ADDR, text: 'CALL_FAILED FROM:bob TO:alice no answer\r\n' });
    assert.deepEqual(h.ended.map((e) => [e.outcome, e.status]), [['timeout', 408]]);
    assert.equal(h.engine.size, 0);
    // A late answer is stray.
    await h.reply('ACK_CALL FROM:bob TO:alice\n', BOB_ADDR);
    assert.equal(h.sent[2]?.text, 'ERROR no matching call\n');
  });

  test('an answer in time cancels the timeout', async () => {
    const h = harness();
    h.forward('CALL FROM:alice TO:bob\n', BOB_ADDR, { answerTimeoutMs: 100 });
    await h.reply('ACK_CALL FROM:bob TO:alice\n', BOB_ADDR);
    await new Promise((r) => setTimeout(r, 300));
    assert.deepEqual(h.ended.map((e) => e.outcome), ['answered']);
    assert.equal(h.sent.length, 2);
  });

  test('the failure route sees a local 408 on timeout; when it gives no verdict the default answer goes out', async () => {
    const seen: { status: number; local: boolean | undefined }[] = [];
    const h = harness({ failure: { failed: (mc) => { seen.push({ status: mc.reply!.status, local: mc.reply!.local }); } } });
    h.forward('CALL FROM:alice TO:bob\n', BOB_ADDR, { answerTimeoutMs: 30, onFailure: 'failed' });
    await waitFor(() => h.ended.length > 0, 'the answer timeout');
    assert.deepEqual(seen, [{ status: 408, local: true }]);
    assert.equal(h.sent[1]?.text, 'CALL_FAILED FROM:bob TO:alice no answer\n');
  });

  test('a failure route can respond differently', async () => {
    const h = harness({ failure: { f: (mc) => { mc.claim(respondVerdict(603, 'declined by policy')); } } });
    h.forward('CALL FROM:alice TO:bob\n', BOB_ADDR, { onFailure: 'f' });
    await h.reply('CALL_FAILED FROM:bob TO:alice busy\n', BOB_ADDR);
    assert.deepEqual(h.sent.slice(1), [{ to: ALICE_ADDR, text: 'CALL_FAILED FROM:bob TO:alice declined by policy\n' }]);
    assert.deepEqual(h.ended.map((e) => [e.outcome, e.status]), [['failed', 603]]);
  });

  test('a failure route can drop the failure', async () => {
    const h = harness({ failure: { f: (mc) => { mc.claim(DROP); } } });
    h.forward('CALL FROM:alice TO:bob\n', BOB_ADDR, { onFailure: 'f' });
    await h.reply('CALL_FAILED FROM:bob TO:alice busy\n', BOB_ADDR);
    assert.equal(h.sent.length, 1, 'nothing went to the caller');
    assert.deepEqual(h.ended.map((e) => [e.outcome, e.status]), [['failed', 486]]);
  });

  test('a failure route can forward the call to a new target (a new branch), which then answers', async () => {
    let h!: Harness;
    h = harness({
      failure: {
        retry: (mc) => {
          mc.claim(forwardVerdict({ targets: [{ address: CAROL_ADDR }], answerTimeoutMs: LONG, onFailure: undefined, onReply: undefined, recordRoute: false }, 'carol'));
        },
      },
    });
    h.forward('CALL FROM:alice TO:bob\n', BOB_ADDR, { onFailure: 'retry' });
    await h.reply('CALL_FAILED FROM:bob TO:alice busy\n', BOB_ADDR);
    assert.deepEqual(h.sent.map((s) => [s.to.port, s.text]), [[BOB_ADDR.port, 'CALL FROM:alice TO:bob\n'], [CAROL_ADDR.port, 'CALL FROM:alice TO:bob\n']]);
    assert.equal(h.ended.length, 0, 'the call goes on');
    assert.equal(h.engine.size, 1);
    // The old target can no longer answer; the new one can.
    await h.reply('ACK_CALL FROM:bob TO:alice\n', BOB_ADDR);
    assert.equal(h.sent[2]?.text, 'ERROR no matching call\n');
    await h.reply('ACK_CALL FROM:bob TO:alice\n', CAROL_ADDR);
    assert.deepEqual(h.sent[3], { to: ALICE_ADDR, text: 'ACK_CALL FROM:bob TO:alice\n' });
    assert.deepEqual(h.ended.map((e) => e.outcome), ['answered']);
    // The failure route is one-shot: it was not re-armed by the re-forward without onFailure.
    assert.equal(h.routesRun.length, 1);
  });

  test('a reply route that drops the answer keeps it from the caller, the call is still answered', async () => {
    const h = harness({ reply: { watch: (mc) => { mc.claim(DROP); } } });
    h.forward('CALL FROM:alice TO:bob\n', BOB_ADDR, { onReply: 'watch' });
    await h.reply('ACK_CALL FROM:bob TO:alice\n', BOB_ADDR);
    assert.equal(h.sent.length, 1);
    assert.deepEqual(h.routesRun.map((r) => [r.kind, r.name, r.reply.status]), [['reply', 'watch', 200]]);
    assert.deepEqual(h.ended.map((e) => e.outcome), ['answered']);
  });

  test('an answer hook that withholds: the answer is not passed on, outcome "withheld"', async () => {
    const h = harness();
    const later: string[] = [];
    h.hooks.onAnswer(async (e): Promise<AnswerDecision> => {
      e.after(() => later.push('should not run'));
      return 'withhold';
    });
    h.hooks.onAnswer(() => { later.push('second hook'); return 'pass'; });
    h.forward('CALL FROM:alice TO:bob\n', BOB_ADDR);
    await h.reply('ACK_CALL FROM:bob TO:alice\n', BOB_ADDR);
    assert.equal(h.sent.length, 1);
    assert.deepEqual(later, []);
    assert.deepEqual(h.ended.map((e) => e.outcome), ['withheld']);
  });

  test('close clears pending calls and their timers', async () => {
    const h = harness();
    h.forward('CALL FROM:alice TO:bob\n', BOB_ADDR, { answerTimeoutMs: 30 });
    h.engine.close();
    assert.equal(h.engine.size, 0);
    await new Promise((r) => setTimeout(r, 150));
    assert.equal(h.sent.length, 1, 'no timeout answer after close');
  });
});

describe('PlainProxyEngine: the proxy’s own answers', () => {
  test('respond() composes the plain answer and sends it to the request’s source', () => {
    const h = harness();
    h.engine.respond(plainRequest('REGISTER alice\r\n', ALICE_ADDR), 200, 'OK');
    h.engine.respond(plainRequest('CALL FROM:alice TO:carol\n', ALICE_ADDR), 404, 'unknown peer');
    h.engine.respond(plainRequest('BYE FROM:alice TO:bob\n', ALICE_ADDR), 200, 'OK');
    assert.deepEqual(h.sent, [
      { to: ALICE_ADDR, text: 'ACK_REGISTER alice\r\n' },
      { to: ALICE_ADDR, text: 'CALL_FAILED unknown peer\n' },
    ]);
  });

  test('the plain engine intercepts nothing', () => {
    const engine: ProxyEngine = harness().engine;
    assert.equal(engine.intercept(plainRequest('CALL FROM:alice TO:bob\n')), false);
    assert.equal(engine.intercept(plainRequest('BYE FROM:alice TO:bob\n')), false);
  });

  test('forwarding without a target is a programming error', () => {
    const h = harness();
    const mc = new MessageContext('request', plainRequest('CALL FROM:alice TO:bob\n'), snapshot(), silentLog);
    assert.throws(() => h.engine.forward(mc, { targets: null, answerTimeoutMs: LONG, onFailure: undefined, onReply: undefined, recordRoute: false }), /target/);
    assert.equal(h.sent.length, 0);
    assert.equal(h.engine.size, 0);
  });
});
