/**
 * The dispatcher's batch path (Dispatcher.receive / readEnd) with overload control: in each
 * read, what belongs to admitted work is handled before any new request; a new request is let
 * in, recognised as a repeat, or refused from its bytes without reaching the script; the ACK of
 * a refusal is absorbed; and a request taken the full way (over TCP) meets the same control.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Endpoint } from '../../core/lib/address.ts';
import type { Request } from '../../core/model/message.ts';
import type { ReplyExtras } from '../../core/model/verdict.ts';
import type { ModuleRegistry } from '../../core/kernel/module-registry.ts';
import type { ProxyEngine } from '../../core/kernel/engine.ts';
import type { WorkClass } from '../../core/kernel/overload.ts';
import { Dispatcher, type DatagramPort } from '../../core/kernel/dispatcher.ts';
import { PRIORITY, ABSORB, type DatagramTriage, type FirstLook, type NewWorkLook } from '../../core/kernel/triage.ts';
import { createPlainDialect } from '../../core/dialects/plain/dialect.ts';
import { ALICE_ADDR, plainRequest, silentLog, snapshot } from './_unit-fixtures.ts';

interface Harness {
  dispatcher: Dispatcher;
  /** The bytes of each request the script saw. */
  raws: Buffer[];
  port: DatagramPort;
  routed: string[];
  refusedByEngine: { method: string; status: number; extras: ReplyExtras | undefined }[];
  dropped: string[];
  sent: { to: Endpoint; text: string }[];
  repeated: WorkClass[];
  /** Feeds one read: each datagram, then its end. */
  read(...texts: string[]): Promise<void>;
}

/**
 * The plain dialect's codec with a triage of the test's own: CALL and REGISTER are new work,
 * `ACK_REFUSAL` stands for the ACK of a refusal, a callee named `repeat` marks a CALL as one
 * in progress, and a user named `odd` one whose refusal the glance cannot build.
 */
function harness(o: { admit?: (work: WorkClass) => boolean; overload?: boolean; verdict?: 'drop' | 'respond' } = {}): Harness {
  const routed: string[] = [];
  const raws: Buffer[] = [];
  const refusedByEngine: Harness['refusedByEngine'] = [];
  const dropped: string[] = [];
  const sent: Harness['sent'] = [];
  const repeated: WorkClass[] = [];
  const refusedBefore = new Set<string>();
  const engine: ProxyEngine = {
    intercept: () => false,
    respond: () => undefined,
    refuse: (req: Request, status: number, _reason: string | undefined, extras?: ReplyExtras) => { refusedByEngine.push({ method: req.method, status, extras }); },
    forward: () => undefined,
    receiveReply: async () => undefined,
    dropped: (req: Request) => { dropped.push(req.method); },
    size: 0,
    pending: 0,
    completed: { call: 0, register: 0, other: 0 },
    close: () => undefined,
  };
  const triage: DatagramTriage = {
    look(buf: Buffer): FirstLook {
      const text = buf.toString('latin1');
      if (text.startsWith('ACK_REFUSAL')) return ABSORB;
      if (text.startsWith('CALL ')) return { kind: 'new', work: 'call', glance: text };
      if (text.startsWith('REGISTER ')) return { kind: 'new', work: 'register', glance: text };
      return PRIORITY;
    },
    isRepeat: (look: NewWorkLook) => (look.glance as string).includes('repeat'),
    wasRefused: (look: NewWorkLook) => refusedBefore.has(look.glance as string),
    refusal: (look: NewWorkLook) => {
      if ((look.glance as string).includes('odd')) return null;
      refusedBefore.add(look.glance as string);
      return Buffer.from(`REFUSED ${look.glance as string}`);
    },
  };
  const snap = snapshot(1, {
    request: (ctx: object) => {
      const c = ctx as { msg: Request; drop(): unknown; respond(s: number, r: string): unknown };
      routed.push(c.msg.raw.toString('latin1').trim());
      raws.push(c.msg.raw);
      if (o.verdict === 'respond') c.respond(200, 'ok');
      else c.drop();
    },
  });
  const registry = { functionTable: () => new Map() } as unknown as ModuleRegistry;
  const pending: Promise<void>[] = [];
  const dispatcher = new Dispatcher({
    log: silentLog, registry: () => registry, current: () => snap,
    send: (_l, to, data) => { sent.push({ to, text: data.toString('latin1') }); },
    ...(o.overload === false ? {} : {
      overload: { admit: o.admit ?? (() => false), repeated: (w: WorkClass) => { repeated.push(w); }, retryAfterSec: () => 6 },
    }),
    guard: (_l, run) => { const r = run(); if (r !== undefined) pending.push(r); },
  });
  const port: DatagramPort = { dialect: createPlainDialect(), engine, triage };
  return {
    dispatcher, port, raws, routed, refusedByEngine, dropped, sent, repeated,
    async read(...texts: string[]) {
      for (const t of texts) {
        const r = dispatcher.receive(port, 'plain', Buffer.from(`${t}\n`), ALICE_ADDR);
        if (r !== undefined) pending.push(r);
      }
      dispatcher.readEnd();
      await Promise.all(pending.splice(0));
    },
  };
}

describe('Dispatcher batch path', () => {
  test('in one read, what belongs to admitted work runs before the new requests, whatever the order they came in', async () => {
    const h = harness({ admit: () => true });
    await h.read('CALL FROM:alice TO:bob', 'BYE FROM:carol TO:dave', 'REGISTER erin', 'BYE FROM:dave TO:carol');
    assert.deepEqual(h.routed, ['BYE FROM:carol TO:dave', 'BYE FROM:dave TO:carol', 'CALL FROM:alice TO:bob', 'REGISTER erin']);
  });

  test('an admitted new request keeps bytes of its own, not a view of the read\'s buffer', async () => {
    const h = harness({ admit: () => true });
    const batch = Buffer.from('CALL FROM:alice TO:bob\nBYE FROM:carol TO:dave\n');
    const raws: Buffer[] = [];
    h.dispatcher.receive(h.port, 'plain', batch.subarray(0, 23), ALICE_ADDR);
    h.dispatcher.receive(h.port, 'plain', batch.subarray(23), ALICE_ADDR);
    h.dispatcher.readEnd();
    await new Promise<void>((resolve) => setImmediate(resolve));
    for (const r of h.raws) raws.push(r);
    assert.equal(raws.length, 2);
    const bye = raws.find((r) => r.toString('latin1').startsWith('BYE'))!;
    const call = raws.find((r) => r.toString('latin1').startsWith('CALL'))!;
    assert.equal(bye.buffer, batch.buffer, 'what belongs to admitted work is not copied');
    assert.notEqual(call.buffer, batch.buffer);
    assert.equal(call.toString('latin1'), 'CALL FROM:alice TO:bob\n');
  });

  test('a refused new request is answered from its bytes and never reaches the script', async () => {
    const h = harness({ admit: () => false });
    await h.read('CALL FROM:alice TO:bob', 'BYE FROM:carol TO:dave');
    assert.deepEqual(h.routed, ['BYE FROM:carol TO:dave'], 'the BYE still goes through');
    assert.deepEqual(h.sent.map((s) => s.text), ['REFUSED CALL FROM:alice TO:bob\n']);
    assert.deepEqual(h.sent[0]!.to, ALICE_ADDR);
    assert.equal(h.dispatcher.stats.refused, 1);
    assert.equal(h.dispatcher.stats.requests, 1, 'the refused request was never parsed');
  });

  test('a refused request that repeats one in progress goes to its transaction instead', async () => {
    const h = harness({ admit: () => false });
    await h.read('CALL FROM:alice TO:repeat');
    assert.deepEqual(h.sent, []);
    assert.deepEqual(h.routed, ['CALL FROM:alice TO:repeat'], 'the engine (here: the script behind it) gets it');
    assert.deepEqual(h.repeated, ['call']);
    assert.equal(h.dispatcher.stats.refused, 0);
  });

  test('a repeat of a refused request is refused again even when the limit would let it in, and is not offered to the limit', async () => {
    let admitting = false;
    const asked: WorkClass[] = [];
    const h = harness({ admit: (w) => { asked.push(w); return admitting; } });
    await h.read('CALL FROM:alice TO:bob');
    admitting = true;
    await h.read('CALL FROM:alice TO:bob', 'CALL FROM:carol TO:dave');
    assert.deepEqual(h.routed, ['CALL FROM:carol TO:dave'], 'only the other call is let in');
    assert.deepEqual(h.sent.map((s) => s.text), ['REFUSED CALL FROM:alice TO:bob\n', 'REFUSED CALL FROM:alice TO:bob\n']);
    assert.deepEqual(asked, ['call', 'call'], 'the repeat never reached the limit');
    assert.equal(h.dispatcher.stats.refused, 1);
    assert.equal(h.dispatcher.stats.refusedAgain, 1);
  });

  test('one whose refusal the glance cannot build is refused after the parse, by its engine', async () => {
    const h = harness({ admit: () => false });
    await h.read('REGISTER odd');
    assert.deepEqual(h.routed, []);
    assert.deepEqual(h.refusedByEngine, [{ method: 'REGISTER', status: 503, extras: { retryAfterSec: 6 } }]);
    assert.equal(h.dispatcher.stats.refused, 1);
  });

  test('the ACK of a refusal is absorbed at a glance', async () => {
    const h = harness();
    await h.read('ACK_REFUSAL');
    assert.deepEqual(h.routed, []);
    assert.deepEqual(h.sent, []);
    assert.equal(h.dispatcher.stats.absorbed, 1);
    assert.equal(h.dispatcher.stats.parseErrors, 0);
  });

  test('without overload control every datagram goes straight through', async () => {
    const h = harness({ overload: false });
    await h.read('CALL FROM:alice TO:bob', 'BYE FROM:carol TO:dave');
    assert.deepEqual(h.routed, ['CALL FROM:alice TO:bob', 'BYE FROM:carol TO:dave']);
  });

  test('a request taken the full way (not from a read) meets the same control: new work refused, the rest routed', async () => {
    const h = harness({ admit: () => false });
    await h.dispatcher.dispatch(plainRequest('CALL FROM:alice TO:bob\n'), h.port.engine);
    await h.dispatcher.dispatch(plainRequest('BYE FROM:alice TO:bob\n'), h.port.engine);
    assert.deepEqual(h.refusedByEngine, [{ method: 'INVITE', status: 503, extras: { retryAfterSec: 6 } }]);
    assert.deepEqual(h.routed, ['BYE FROM:alice TO:bob']);
  });

  test('a request the route drops is let go by its engine', async () => {
    const h = harness({ admit: () => true });
    await h.read('BYE FROM:carol TO:dave');
    assert.deepEqual(h.dropped, ['BYE']);
    const answered = harness({ admit: () => true, verdict: 'respond' });
    await answered.read('BYE FROM:carol TO:dave');
    assert.deepEqual(answered.dropped, []);
  });
});
