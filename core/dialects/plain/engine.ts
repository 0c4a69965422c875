import type { Endpoint } from '../../lib/address.ts';
import type { MessageContext } from '../../kernel/message-context.ts';
import type { ForwardPlan, ReplyExtras } from '../../model/verdict.ts';
import type { Logger } from '../../lib/log.ts';
import { isSuccess, type Reply, type Request } from '../../model/message.ts';
import type { TransactionView } from '../../kernel/contracts.ts';
import type { ProxyHooks, TransactionOutcome } from '../../kernel/hooks.ts';
import type { ProxyEngine } from '../../kernel/engine.ts';
import type { WorkClass } from '../../kernel/overload.ts';
import type { PlainDialect } from './dialect.ts';
import { PlainTransaction } from './transaction.ts';
import { OpenMap } from '../../lib/open-map.ts';
import { isMediaRefused } from '../../kernel/hooks.ts';
import type { OriginateResult, PlainOriginateRequest } from '../../kernel/core-services.ts';
import { composeBye, composeCallFailed, composeMediaPort, plainReasonText } from './compose.ts';
import { isValidUser } from './grammar.ts';
import { plainWire } from './dialect.ts';
import { PlainMediaOffer } from './media-offer.ts';
import { failureOutcome, replyDropped } from '../../kernel/outcome.ts';

export interface EngineDeps {
  readonly hooks: ProxyHooks;
  readonly log: Logger;
  /** Sends from a listener; `sent` runs once the datagram is with the kernel (to order sends to different peers). */
  send(listener: string, to: Endpoint, data: Buffer, sent?: () => void): void;
  /** Runs a named reply or failure route of the transaction's pinned snapshot. */
  runRoute(kind: 'reply' | 'failure', name: string, txn: TransactionView, reply: Reply): Promise<MessageContext>;
}

/**
 * The plain dialect's stateful proxy: forwards requests, pairs replies with their pending
 * calls, runs reply/failure routes, times out unanswered calls.
 */
export class PlainProxyEngine implements ProxyEngine {
  private readonly table = new OpenMap<PlainTransaction>();
  /** Calls and REGISTERs answered finally: the rate overload control measures. */
  readonly completed: Record<WorkClass, number> = { call: 0, register: 0, other: 0 };

  constructor(private readonly dialect: PlainDialect, private readonly deps: EngineDeps) {}

  intercept(): boolean {
    return false;
  }

  respond(req: Request, status: number, reason: string | undefined, _extras?: ReplyExtras): void {
    if (status >= 200 && req.method === 'INVITE') this.completed.call++;
    else if (status >= 200 && req.method === 'REGISTER') this.completed.register++;
    const bytes = this.dialect.composeReply(req, status, reason);
    if (bytes !== null) this.deps.send(req.listener, req.source, bytes);
  }

  /** The plain protocol has no retransmissions: a refusal is one reply (CALL_FAILED … overloaded to a call). */
  refuse(req: Request): void {
    const bytes = this.dialect.composeRefusal(req);
    if (bytes !== null) this.deps.send(req.listener, req.source, bytes);
  }

  get size(): number {
    return this.table.size;
  }

  /** Nothing is kept for a request the route drops. */
  dropped(): void {}

  /** Pending calls: each waits for its callee's answer. */
  get pending(): number {
    return this.table.size;
  }

  /** Whether `callId` is a call from `caller` still waiting for its answer (the caller sent it again). */
  isPending(callId: string, caller: string): boolean {
    const txn = this.table.get(callId);
    return txn !== undefined && !txn.done && txn.request.from.user === caller;
  }

  forward(mc: MessageContext, opts: ForwardPlan): void | Promise<void> {
    const req = mc.msg;
    const dialect = this.dialect;
    const target = opts.targets?.[0]?.address;
    if (target === undefined) throw new Error('plain forwarding needs a target');
    const bytes = dialect.forwardRequestBytes(req, target);
    if (!dialect.expectsReply(req)) {
      if (req.method === 'BYE') this.cancelPending(req);
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

  /**
   * A BYE the route passed on while its call still rings cancels the call: no answer is taken
   * for it any more (a later ACK_CALL finds no call), no MEDIA_PORT, no answer timeout, no failure route.
   */
  private cancelPending(bye: Request): void {
    const txn = this.table.get(this.dialect.transactionKey(bye));
    if (txn !== undefined && !txn.done) this.finish(txn, 'failed', 487);
  }

  /** A message of the proxy's own (the BYE of a call it ended): to each target in order, each once the one before is with the kernel. */
  originate(req: PlainOriginateRequest): Promise<OriginateResult> {
    if (req.method !== 'BYE') return Promise.reject(new TypeError(`originate(): the plain protocol originates BYE only, not ${String(req.method)}`));
    if (!isValidUser(req.from) || !isValidUser(req.to)) return Promise.reject(new TypeError(`originate(): '${req.from}' or '${req.to}' is not a plain user id`));
    const bytes = composeBye(req.from, req.to, '\n');
    return new Promise((resolve) => {
      const sendFrom = (i: number): void => {
        const to = req.targets[i];
        if (to === undefined) return resolve({ status: 200, reason: 'sent', reply: null });
        this.deps.send(req.listener, to, bytes, () => sendFrom(i + 1));
      };
      sendFrom(0);
    });
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
    const req = txn.request;
    this.deps.hooks.emitAnswer({ txn, request: req, reply });
    const media = await this.relayMedia(txn, reply);
    if (media === 'refused') return;
    if (!dropped) this.upstream(txn, this.dialect.forwardReplyBytes(reply, req));
    if (media !== null) {
      // Each party is told where the other's media now is; the caller first, the callee's copy
      // leaves once the caller's is with the kernel.
      const text = (port: number, to: Request | Reply): Buffer => composeMediaPort(req.from.user, req.to.user, port, plainWire(to).terminator);
      this.deps.send(req.listener, req.source, text(media.toCaller, req), () => this.deps.send(reply.listener, txn.target, text(media.toCallee, reply)));
    }
    this.finish(txn, 'answered', reply.status);
  }

  /**
   * The media of an answered call, through the media hooks: each party's implicit description
   * (its signaling address), the caller's first. Returns the ports each party is to send to when
   * a hook relayed them, null when none did; when a hook refused, the answer is withheld, both
   * parties get CALL_FAILED with the reason, and the call ends.
   */
  private async relayMedia(txn: PlainTransaction, reply: Reply): Promise<{ toCaller: number; toCallee: number } | null | 'refused'> {
    if (!this.deps.hooks.wantsMedia) return null;
    const req = txn.request;
    const caller = new PlainMediaOffer(req.source);
    const callee = new PlainMediaOffer(txn.target);
    try {
      await this.deps.hooks.emitMedia({ request: req, reply: null, txn, offer: () => caller });
      await this.deps.hooks.emitMedia({ request: req, reply, txn, offer: () => callee });
    } catch (err) {
      if (!isMediaRefused(err)) throw err;
      const failed = (to: Request | Reply): Buffer => composeCallFailed(req.to.user, req.from.user, plainReasonText(err.reason), plainWire(to).terminator);
      this.deps.send(req.listener, req.source, failed(req));
      this.deps.send(reply.listener, reply.source, failed(reply));
      this.finish(txn, 'withheld', reply.status);
      return 'refused';
    }
    return caller.mediaPort !== null && callee.mediaPort !== null ? { toCaller: callee.mediaPort, toCallee: caller.mediaPort } : null;
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
    if (!txn.done || this.table.get(txn.key) === txn) this.completed.call++;
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

