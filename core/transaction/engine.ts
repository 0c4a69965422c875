import type { Endpoint } from '../address.ts';
import type { Dialect } from '../dialect.ts';
import type { MessageContext } from '../dispatch/message-context.ts';
import type { Logger } from '../log.ts';
import { isSuccess, type Reply, type Request } from '../message.ts';
import type { ForwardOptions } from '../modules/core-services.ts';
import type { ProxyHooks, TransactionOutcome } from './hooks.ts';
import { ProxyTransaction } from './proxy-transaction.ts';

export interface EngineDeps {
  readonly hooks: ProxyHooks;
  readonly log: Logger;
  send(listener: string, to: Endpoint, data: Buffer): void;
  /** Runs a named reply or failure route of the transaction's pinned snapshot. */
  runRoute(kind: 'reply' | 'failure', name: string, txn: ProxyTransaction, reply: Reply): Promise<MessageContext>;
}

/**
 * The stateful proxy core (Kamailio's tm, reduced to what the plain dialect needs and
 * shaped for SIP's): forwards requests, pairs replies with their transactions, runs
 * reply/failure routes, times out unanswered calls.
 */
export class TransactionEngine {
  private readonly table = new Map<string, ProxyTransaction>();

  constructor(private readonly deps: EngineDeps) {}

  get size(): number {
    return this.table.size;
  }

  forward(mc: MessageContext, dialect: Dialect, opts: ForwardOptions): void {
    const req = mc.msg;
    const bytes = dialect.forwardRequestBytes(req, opts.target);
    if (!dialect.expectsReply(req)) {
      this.deps.hooks.emitRequestForward({ mc, request: req, target: opts.target, txn: null });
      this.deps.send(req.listener, opts.target, bytes);
      return;
    }
    let txn = mc.txn;
    if (txn === null) {
      const key = dialect.transactionKey(req);
      const existing = this.table.get(key);
      if (existing !== undefined && !existing.done && existing.request.from.user === req.from.user) {
        // The caller sent the same call again before an answer: pass it on, keep the one transaction.
        this.deps.send(req.listener, existing.target, bytes);
        return;
      }
      if (existing !== undefined) this.finish(existing, 'failed', 487);
      txn = new ProxyTransaction(key, req, dialect, mc.snapshot, opts.target);
      this.table.set(key, txn);
    }
    txn.target = opts.target;
    txn.onFailure = opts.onFailure;
    txn.onReply = opts.onReply;
    txn.branches++;
    txn.clearTimer();
    const armed = txn;
    txn.timer = setTimeout(() => void this.timeout(armed), opts.answerTimeoutMs);
    txn.timer.unref?.();
    this.deps.hooks.emitRequestForward({ mc, request: req, target: opts.target, txn });
    this.deps.send(req.listener, opts.target, bytes);
  }

  /** A reply arrived: pass it to its transaction, or answer it as stray. */
  async receiveReply(reply: Reply, dialect: Dialect): Promise<void> {
    const txn = this.table.get(dialect.transactionKey(reply));
    if (txn === undefined || txn.done || !dialect.acceptsReply(reply, txn.request, txn.target)) {
      const answer = dialect.strayReply(reply);
      if (answer !== null) this.deps.send(reply.listener, reply.source, answer);
      return;
    }
    let dropped = false;
    if (txn.onReply !== undefined) {
      const mc = await this.deps.runRoute('reply', txn.onReply, txn, reply);
      dropped = mc.verdict?.kind === 'drop';
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

  private async answer(txn: ProxyTransaction, reply: Reply, dropped: boolean): Promise<void> {
    txn.done = true; // no second answer or timeout while hooks run
    const after: (() => void)[] = [];
    const decision = await this.deps.hooks.emitAnswer({ txn, request: txn.request, reply, after: (fn) => after.push(fn) });
    if (decision === 'withhold') {
      this.finish(txn, 'withheld', reply.status);
      return;
    }
    if (!dropped) this.upstream(txn, txn.dialect.forwardReplyBytes(reply, txn.request));
    for (const fn of after) fn();
    this.finish(txn, 'answered', reply.status);
  }

  private async fail(txn: ProxyTransaction, reply: Reply, dropped: boolean): Promise<void> {
    const outcome: TransactionOutcome = reply.local === true ? 'timeout' : 'failed';
    if (txn.onFailure !== undefined) {
      const name = txn.onFailure;
      txn.onFailure = undefined; // one shot: a failure route that forwards again re-arms it
      const branchesBefore = txn.branches;
      const mc = await this.deps.runRoute('failure', name, txn, reply);
      const v = mc.verdict;
      if (v?.kind === 'forward' && txn.branches > branchesBefore) return; // a new branch is ringing
      if (v?.kind === 'respond') {
        const bytes = txn.dialect.composeReply(txn.request, v.status, v.reason);
        if (bytes !== null) this.upstream(txn, bytes);
        this.finish(txn, outcome, v.status);
        return;
      }
      if (v?.kind === 'drop') {
        this.finish(txn, outcome, reply.status);
        return;
      }
    }
    if (!dropped) {
      const bytes = reply.local === true
        ? txn.dialect.composeReply(txn.request, reply.status, reply.reason)
        : txn.dialect.forwardReplyBytes(reply, txn.request);
      if (bytes !== null) this.upstream(txn, bytes);
    }
    this.finish(txn, outcome, reply.status);
  }

  private async timeout(txn: ProxyTransaction): Promise<void> {
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

  private upstream(txn: ProxyTransaction, bytes: Buffer): void {
    this.deps.send(txn.request.listener, txn.request.source, bytes);
  }

  private finish(txn: ProxyTransaction, outcome: TransactionOutcome, status: number): void {
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

