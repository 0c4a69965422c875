import type { Endpoint } from '../lib/address.ts';
import type { Dialect } from './dialect.ts';
import type { Logger } from '../lib/log.ts';
import type { Message, Reply, Request } from '../model/message.ts';
import type { ModuleRegistry } from './module-registry.ts';
import type { RouteSnapshot } from './snapshot.ts';
import type { TransactionView } from './contracts.ts';
import type { ProxyEngine } from './engine.ts';
import type { OverloadControl, WorkClass } from './overload.ts';
import type { DatagramTriage, NewWorkLook } from './triage.ts';
import { buildContext } from './context.ts';
import { MessageCounts } from './message-counts.ts';
import { MessageContext } from './message-context.ts';
import { describeVerdict, respondVerdict, type Verdict } from '../model/verdict.ts';

const INTERNAL_ERROR = respondVerdict(500, 'internal error');

/** A dialect as the batch path sees it: its codec, its engine, and its first look at datagrams. */
export interface DatagramPort {
  readonly dialect: Dialect;
  readonly engine: ProxyEngine;
  readonly triage?: DatagramTriage;
}

/**
 * How a request meets overload control on its way: `ask` it (a message not taken by the batch
 * path, e.g. over TCP), already `admitted` by it, or to `refuse` after the parse (a new request
 * whose refusal the first look could not build).
 */
type Admission = 'ask' | 'admitted' | 'refuse';

/** A new request held until the end of its read. */
interface Deferred {
  readonly port: DatagramPort & { readonly triage: DatagramTriage };
  readonly listener: string;
  readonly buf: Buffer;
  readonly source: Endpoint;
  readonly look: NewWorkLook;
}

/**
 * A new request's bytes in memory of their own: its transaction may keep its message for the
 * call's whole ringing time, and a view into the read's buffer would keep the whole batch (64
 * datagrams) alive with it. Not from Buffer's pool either, whose 8 KiB slab a kept slice pins.
 */
function ownCopy(buf: Buffer): Buffer {
  const own = Buffer.allocUnsafeSlow(buf.length);
  buf.copy(own);
  return own;
}

/** A request that starts new work: what overload control may refuse. */
function workOf(msg: Request): WorkClass | null {
  if (msg.inDialog || msg.method === 'ACK' || msg.method === 'CANCEL') return null;
  return msg.method === 'INVITE' ? 'call' : msg.method === 'REGISTER' ? 'register' : 'other';
}

export interface DispatcherDeps {
  readonly log: Logger;
  readonly registry: () => ModuleRegistry;
  /** The snapshot new messages run against; read once per message. */
  readonly current: () => RouteSnapshot;
  send(listener: string, to: Endpoint, data: Buffer): void;
  /** Which new requests are let in when the proxy is past its capacity (overload.ts); without it, all are. */
  readonly overload?: Pick<OverloadControl, 'admit' | 'repeated' | 'retryAfterSec'>;
  /** Runs the handling of one message, its failures (thrown or rejected) contained and logged. */
  guard(listener: string, run: () => void | Promise<void>): void;
}

export interface DispatchStats {
  requests: number;
  replies: number;
  parseErrors: number;
  routeErrors: number;
  /** New requests refused under overload (503 with Retry-After; plain CALL_FAILED … overloaded). */
  refused: number;
  /** Repeats of refused requests (retransmissions that crossed the refusal), refused again and not counted as new. */
  refusedAgain: number;
  /** ACKs of those refusals, absorbed at a glance (and other requests naming them, answered 481). */
  absorbed: number;
}

/** socket → dialect → message → route block → exactly one verdict → dialect → socket. */
export class Dispatcher {
  readonly stats: DispatchStats = { requests: 0, replies: 0, parseErrors: 0, routeErrors: 0, refused: 0, refusedAgain: 0, absorbed: 0 };
  /** Requests by method and replies by class, of every message dispatched. */
  readonly counts = new MessageCounts();
  private deferred: Deferred[] = [];

  constructor(private readonly deps: DispatcherDeps) {}

  /**
   * One datagram of a socket read, before the read is over (`readEnd`). What belongs to work
   * already admitted (responses, ACK, CANCEL, BYE, in-dialog requests) is handled at once; a
   * request that starts new work waits for the end of the read, so that in every batch the
   * calls already let in are served first and new ones take what is left.
   */
  receive(port: DatagramPort, listener: string, buf: Buffer, source: Endpoint): void | Promise<void> {
    const { triage } = port;
    if (triage === undefined || this.deps.overload === undefined) return this.onDatagram(port.dialect, port.engine, listener, buf, source);
    const look = triage.look(buf, source);
    if (look.kind === 'priority') return this.onDatagram(port.dialect, port.engine, listener, buf, source);
    if (look.kind === 'absorb') {
      this.stats.absorbed++;
      if (look.answer !== undefined) this.deps.send(listener, source, look.answer);
      return;
    }
    this.deferred.push({ port: port as Deferred['port'], listener, buf, source, look });
  }

  /** The end of a socket read: each new request it brought is let in or refused. */
  readEnd(): void {
    const batch = this.deferred;
    if (batch.length === 0) return;
    this.deferred = [];
    for (const d of batch) this.deps.guard(d.listener, () => this.takeNew(d));
  }

  /**
   * A new request: a repeat of one just refused is refused again; a repeat of one in progress
   * goes to its transaction; one let in takes the full path; one refused is answered from its
   * bytes, statelessly (no parse, no transaction).
   */
  private takeNew(d: Deferred): void | Promise<void> {
    const overload = this.deps.overload!;
    const { port, listener, buf, source, look } = d;
    if (port.triage.wasRefused?.(look, buf) === true) {
      const again = port.triage.refusal(look, buf, source, overload.retryAfterSec());
      if (again !== null) {
        this.stats.refusedAgain++;
        if (again.length > 0) this.deps.send(listener, source, again);
        return;
      }
    }
    if (overload.admit(look.work)) return this.onDatagram(port.dialect, port.engine, listener, ownCopy(buf), source, 'admitted');
    if (port.triage.isRepeat(look, buf)) {
      overload.repeated(look.work);
      return this.onDatagram(port.dialect, port.engine, listener, buf, source, 'admitted');
    }
    const bytes = port.triage.refusal(look, buf, source, overload.retryAfterSec());
    if (bytes === null) return this.onDatagram(port.dialect, port.engine, listener, buf, source, 'refuse');
    this.stats.refused++;
    if (bytes.length > 0) this.deps.send(listener, source, bytes);
  }

  /** Synchronous when the message needs no route run (a reply, a retransmission, an unparsable datagram). It may throw. */
  onDatagram(dialect: Dialect, engine: ProxyEngine, listener: string, buf: Buffer, source: Endpoint, admission: Admission = 'ask'): void | Promise<void> {
    const parsed = dialect.parse(buf, { listener, source });
    if (!parsed.ok) {
      this.stats.parseErrors++;
      this.deps.log.debug({ listener, src: `${source.address}:${source.port}`, bytes: buf.length, reason: parsed.reason }, 'unparsable datagram');
      if (parsed.answer !== null) this.deps.send(listener, source, parsed.answer);
      return;
    }
    return this.dispatch(parsed.msg, engine, admission);
  }

  /** Routes one parsed message: requests through the script (unless the engine deals with them), replies to their transaction. */
  dispatch(msg: Message, engine: ProxyEngine, admission: Admission = 'ask'): void | Promise<void> {
    if (msg.type === 'request') {
      this.stats.requests++;
      this.counts.request(msg.dialect, msg.method);
      return engine.intercept(msg) ? undefined : this.handleRequest(msg, engine, admission);
    }
    this.stats.replies++;
    this.counts.response(msg.dialect, msg.status);
    return engine.receiveReply(msg);
  }

  private async handleRequest(msg: Request, engine: ProxyEngine, admission: Admission): Promise<void> {
    const overload = this.deps.overload;
    if (admission !== 'admitted' && overload !== undefined) {
      const work = workOf(msg);
      if (work !== null && (admission === 'refuse' || !overload.admit(work))) {
        this.stats.refused++;
        engine.refuse(msg, 503, 'Service Unavailable', { retryAfterSec: overload.retryAfterSec() });
        return;
      }
    }
    const snapshot = this.deps.current();
    const mc = new MessageContext('request', msg, snapshot, this.deps.log);
    await this.run(mc, snapshot.routes.request);
    let v = mc.verdict;
    if (v?.kind === 'pending') {
      mc.log.error({ pending: v.detail }, 'a function claimed the verdict but never decided it');
      v = mc.verdict = INTERNAL_ERROR;
    }
    if (v === null) {
      const d = snapshot.defaultReply;
      mc.log.debug({ status: d.status }, 'request route gave no verdict: default reply');
      v = mc.claim(respondVerdict(d.status, d.reason));
    }
    if (this.deps.log.isLevelEnabled('debug')) mc.log.debug(decision(v), 'request route');
    if (v.kind === 'respond') engine.respond(msg, v.status, v.reason, v.extras);
    else if (v.kind === 'forward') await engine.forward(mc, v.plan);
    else engine.dropped(msg);
  }

  /** Runs a reply or failure route of the transaction's pinned snapshot. */
  async runTransactionRoute(kind: 'reply' | 'failure', name: string, txn: TransactionView, reply: Reply): Promise<MessageContext> {
    const mc = new MessageContext(kind, txn.request, txn.snapshot, this.deps.log, reply, txn);
    const route = txn.snapshot.routes[kind][name];
    if (route === undefined) {
      mc.log.error({ name }, `${kind} route '${name}' does not exist in script generation ${txn.snapshot.generation}`);
      return mc;
    }
    await this.run(mc, route);
    if (mc.verdict?.kind === 'pending') {
      mc.log.error({ pending: mc.verdict.detail }, 'a function claimed the verdict but never decided it');
      mc.verdict = null;
    }
    if (this.deps.log.isLevelEnabled('debug')) mc.log.debug({ name, ...(mc.verdict !== null ? decision(mc.verdict) : { verdict: 'none' }) }, `${kind} route`);
    return mc;
  }

  /** Runs one route block; a throw is logged with the message's identity and turned into 500 where it can be. */
  private async run(mc: MessageContext, route: (ctx: object) => unknown): Promise<void> {
    try {
      const ctx = buildContext(mc, this.deps.registry());
      const r = route(ctx);
      if (r !== null && typeof r === 'object' && typeof (r as Promise<unknown>).then === 'function') await r;
      const tracked = mc.settle();
      if (tracked !== undefined) await tracked;
    } catch (err) {
      this.stats.routeErrors++;
      mc.log.error({ err }, `${mc.kind} route threw`);
      if (mc.kind === 'request' && mc.verdict === null) mc.claim(INTERNAL_ERROR);
      await mc.settle()?.catch(() => undefined);
    }
  }
}

/** What a route decided, for the debug log: the verdict and, for a forward, where to. */
function decision(v: Verdict): Record<string, unknown> {
  if (v.kind !== 'forward') return { verdict: describeVerdict(v) };
  const { targets, onFailure, recordRoute } = v.plan;
  return {
    verdict: describeVerdict(v),
    targets: targets === null ? 'by the request' : targets.map((t) => t.uri ?? (t.address !== undefined ? `${t.address.address}:${t.address.port}` : '?')),
    ...(onFailure !== undefined ? { onFailure } : {}),
    ...(recordRoute ? { recordRoute } : {}),
  };
}
