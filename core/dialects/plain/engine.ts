import type { Endpoint } from '../../lib/address.ts';
import type { MessageContext } from '../../kernel/message-context.ts';
import type { ForwardPlan, ReplyExtras } from '../../model/verdict.ts';
import type { Logger } from '../../lib/log.ts';
import { isSuccess, type Reply, type Request } from '../../model/message.ts';
import type { TransactionView } from '../../kernel/contracts.ts';
import type { ProxyHooks, TransactionOutcome } from '../../kernel/hooks.ts';
import type { ProxyEngine } from '../../kernel/engine.ts';
import type { PlainDialect } from './dialect.ts';
import { PlainTransaction } from './transaction.ts';
import { OpenMap } from '../../lib/open-map.ts';
import { failureOutcome, replyDropped } from '../../kernel/outcome.ts';

export interface EngineDeps {
  readonly hooks: ProxyHooks;
  readonly log: Logger;
  send(listener: string, to: Endpoint, data: Buffer): void;
  /** Runs a named reply or failure route of the transaction's pinned snapshot. */
  runRoute(kind: 'reply' | 'failure', name: string, txn: TransactionView, reply: Reply): Promise<MessageContext>;
}

/**
 * The plain dialect's stateful proxy: forwards requests, pairs replies with their pending
 * calls, runs reply/failure routes, times out unanswered calls.
 */
export class PlainProxyEngine implements ProxyEngine {
  private readonly table = new OpenMap<PlainTransaction>();

  constructor(private readonly dialect: PlainDialect, private readonly deps: EngineDeps) {}

  intercept(): boolean {
    return false;
  }

  respond(req: Request, status: number, reason: string | undefined, _extras?: ReplyExtras): void {
    const bytes = this.dialect.composeReply(req, status, reason);
    if (bytes !== null) this.deps.send(req.listener, req.source, bytes);
  }

  /** The plain protocol has no retransmissions: a refusal is an ordinary reply. */
  refuse(req: Request, status: number, reason: string | undefined, extras?: ReplyExtras): void {
    this.respond(req, status, reason, extras);
  }

  get size(): number {
    return this.table.size;
  }

  forward(mc: MessageContext, opts: ForwardPlan): void | Promise<void> {
    const req = mc.msg;
    const dialect = this.dialect;
    const target = opts.targets?.[0]?.address;
    if (target === undefined) throw new Error('plain forwarding needs a target');
    const bytes = dialect.forwardRequestBytes(req, target);
    if (!dialect.expectsReply(req)) {
      return this.afterHooks(this.deps.hooks.emitRequestForward({ request: req, target, txn: null }), () => this.deps.send(req.listener, target, bytes));
    }
    let txn = mc.txn as PlainTransaction | null;
    if (txn === null) {
      const key = dialect.transactionKey(req);
      const existing = this.table.get(key);
      if (existing !== undefined && !existing.done && existing.request.from.user === req.from.user) {
        // The caller sent the same call again before an answer: pass it on, keep the one transaction.
        this.deps.send(req.listener, existing.target, bytes);
        return;
      }
      if (existing !== undefined) this.finish(existing, 'failed', 487);
      txn = new PlainTransaction(key, req, mc.snapshot, target);
      this.table.set(key, txn);
    }
    txn.target = target;
    txn.onFailure = opts.onFailure;
    txn.onReply = opts.onReply;
    txn.clearTimer();
    const armed = txn;
    txn.timer = setTimeout(() => void this.timeout(armed), opts.answerTimeoutMs);
    txn.timer.unref?.();
    return this.afterHooks(this.deps.hooks.emitRequestForward({ request: req, target, txn }), () => this.deps.send(req.listener, target, bytes));
  }

  /** Sends once the hooks are done: at once when they all were synchronous. */
  private afterHooks(pending: void | Promise<void>, send: () => void): void | Promise<void> {
    if (pending === undefined) return send();
    return pending.then(send);
  }

  /** A reply arrived: pass it to its transaction, or answer it as stray. */
  async receiveReply(reply: Reply): Promise<void> {
    const dialect = this.dialect;
    const txn = this.table.get(dialect.transactionKey(reply));
    if (txn === undefined || txn.done || !dialect.acceptsReply(reply, txn.request, txn.target)) {
      const answer = dialect.strayReply(reply);
      if (answer !== null) this.deps.send(reply.listener, reply.source, answer);
      return;
    }
    let dropped = false;
    if (txn.onReply !== undefined) {
      const mc = await this.deps.runRoute('reply', txn.onReply, txn, reply);
      dropped = replyDropped(mc.verdict);
      if (txn.done) return;
    }
    if (reply.status < 200) {
      if (!dropped) this.upstream(txn, dialect.forwardReplyBytes(reply, txn.request));
      return;
    }
    txn.clearTimer();
    if (isSuccess(reply.status)) await this.answer(txn, reply, dropped);
    else await this.fail(txn, reply, dropped);
  }

  private async answer(txn: PlainTransaction, reply: Reply, dropped: boolean): Promise<void> {
    txn.done = true; // no second answer or timeout while hooks run
    const after: (() => void)[] = [];
    const decision = await this.deps.hooks.emitAnswer({ txn, request: txn.request, reply, after: (fn) => after.push(fn) });
    if (decision === 'withhold') {
      this.finish(txn, 'withheld', reply.status);
      return;
    }
    if (!dropped) this.upstream(txn, this.dialect.forwardReplyBytes(reply, txn.request));
    for (const fn of after) fn();
    this.finish(txn, 'answered', reply.status);
  }

  private async fail(txn: PlainTransaction, reply: Reply, dropped: boolean): Promise<void> {
    const outcome: TransactionOutcome = reply.local === true ? 'timeout' : 'failed';
    if (txn.onFailure !== undefined) {
      const name = txn.onFailure;
      txn.onFailure = undefined; // one shot: a failure route that forwards again re-arms it
      const mc = await this.deps.runRoute('failure', name, txn, reply);
      const next = failureOutcome(mc.verdict);
      switch (next.kind) {
        case 'forward':
          return this.forward(mc, next.plan);
        case 'respond': {
          const bytes = this.dialect.composeReply(txn.request, next.status, next.reason);
          if (bytes !== null) this.upstream(txn, bytes);
          this.finish(txn, outcome, next.status);
          return;
        }
        case 'drop':
          this.finish(txn, outcome, reply.status);
          return;
        case 'pass':
          break;
      }
    }
    if (!dropped) {
      const bytes = reply.local === true
        ? this.dialect.composeReply(txn.request, reply.status, reply.reason)
        : this.dialect.forwardReplyBytes(reply, txn.request);
      if (bytes !== null) this.upstream(txn, bytes);
    }
    this.finish(txn, outcome, reply.status);
  }

  private async timeout(txn: PlainTransaction): Promise<void> {
    if (txn.done) return;
    txn.timer = null;
    const req = txn.request;
    const noAnswer: Reply = {
      type: 'reply', dialect: req.dialect, status: 408, reason: 'no answer', method: req.method, local: true,
      callId: req.callId, from: req.from, to: req.to, listener: req.listener, source: txn.target, raw: Buffer.alloc(0), wire: req.wire,
    };
    try {
      await this.fail(txn, noAnswer, false);
    } catch (err) {
      this.deps.log.error({ err, callId: req.callId }, 'answer timeout handling failed');
      this.finish(txn, 'timeout', 408);
    }
  }

  private upstream(txn: PlainTransaction, bytes: Buffer): void {
    this.deps.send(txn.request.listener, txn.request.source, bytes);
  }

  private finish(txn: PlainTransaction, outcome: TransactionOutcome, status: number): void {
    txn.done = true;
    txn.clearTimer();
    if (this.table.get(txn.key) === txn) this.table.delete(txn.key);
    this.deps.hooks.emitTransactionEnd({ txn, outcome, status });
  }

  /** Snapshots still pinned by live transactions (for diagnostics and the reload test). */
  pinnedGenerations(): Set<number> {
    const gens = new Set<number>();
    for (const t of this.table.values()) gens.add(t.snapshot.generation);
    return gens;
  }

  close(): void {
    for (const t of this.table.values()) t.clearTimer();
    this.table.clear();
  }
}

