import type { Endpoint } from '../lib/address.ts';
import type { Dialect } from './dialect.ts';
import type { Logger } from '../lib/log.ts';
import type { Message, Reply, Request } from '../model/message.ts';
import type { ModuleRegistry } from './module-registry.ts';
import type { RouteSnapshot } from './snapshot.ts';
import type { TransactionView } from './contracts.ts';
import type { ProxyEngine } from './engine.ts';
import type { AdmissionControl } from './admission.ts';
import { buildContext } from './context.ts';
import { MessageContext } from './message-context.ts';
import { describeVerdict, respondVerdict, type Verdict } from '../model/verdict.ts';

const INTERNAL_ERROR = respondVerdict(500, 'internal error');
/** The answer to a call refused by admission control; Retry-After spreads the callers' retries. */
const SHED_EXTRAS = { retryAfterSec: 5 } as const;

export interface DispatcherDeps {
  readonly log: Logger;
  readonly registry: () => ModuleRegistry;
  /** The snapshot new messages run against; read once per message. */
  readonly current: () => RouteSnapshot;
  send(listener: string, to: Endpoint, data: Buffer): void;
  /** Decides whether a new call goes through the script or is refused (503) because the proxy is saturated. */
  readonly admission?: Pick<AdmissionControl, 'admit'>;
}

export interface DispatchStats {
  requests: number;
  replies: number;
  parseErrors: number;
  routeErrors: number;
  /** New calls refused with 503 by admission control. */
  shed: number;
}

/** socket → dialect → message → route block → exactly one verdict → dialect → socket. */
export class Dispatcher {
  readonly stats: DispatchStats = { requests: 0, replies: 0, parseErrors: 0, routeErrors: 0, shed: 0 };

  constructor(private readonly deps: DispatcherDeps) {}

  /** Synchronous when the message needs no route run (a reply, a retransmission, an unparsable datagram). It may throw. */
  onDatagram(dialect: Dialect, engine: ProxyEngine, listener: string, buf: Buffer, source: Endpoint): void | Promise<void> {
    const parsed = dialect.parse(buf, { listener, source });
    if (!parsed.ok) {
      this.stats.parseErrors++;
      this.deps.log.debug({ listener, src: `${source.address}:${source.port}`, bytes: buf.length, reason: parsed.reason }, 'unparsable datagram');
      if (parsed.answer !== null) this.deps.send(listener, source, parsed.answer);
      return;
    }
    return this.dispatch(parsed.msg, engine);
  }

  /** Routes one parsed message: requests through the script (unless the engine deals with them), replies to their transaction. */
  dispatch(msg: Message, engine: ProxyEngine): void | Promise<void> {
    if (msg.type === 'request') {
      this.stats.requests++;
      return engine.intercept(msg) ? undefined : this.handleRequest(msg, engine);
    }
    this.stats.replies++;
    return engine.receiveReply(msg);
  }

  private async handleRequest(msg: Request, engine: ProxyEngine): Promise<void> {
    if (msg.method === 'INVITE' && !msg.inDialog && this.deps.admission !== undefined && !this.deps.admission.admit()) {
      this.stats.shed++;
      engine.refuse(msg, 503, 'Service Unavailable', SHED_EXTRAS);
      return;
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
