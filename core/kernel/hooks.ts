import type { Endpoint } from '../lib/address.ts';
import type { Reply, Request } from '../model/message.ts';
import type { MessageContext } from './message-context.ts';
import type { RouteSnapshot } from './snapshot.ts';
import type { SipRequest, SipResponse } from '../dialects/sip/codec/message.ts';

/** What every dialect's transaction shows of itself: the request it forwarded and the script generation pinned for its routes. */
export interface TransactionView {
  readonly request: Request;
  /** Where the current branch went. */
  readonly target: Endpoint;
  readonly snapshot: RouteSnapshot;
}

export interface RequestForwardEvent {
  readonly mc: MessageContext;
  readonly request: Request;
  readonly target: Endpoint;
  /** Null for requests forwarded without a transaction (no reply expected). */
  readonly txn: TransactionView | null;
  /** SIP: the outgoing copy of the request, before it is serialized: a hook may change its body (SDP). */
  readonly sip?: SipRequest;
}

export interface ReplyForwardEvent {
  readonly txn: TransactionView;
  readonly request: Request;
  readonly reply: Reply;
  /** SIP: the outgoing copy of the reply, before it is serialized: a hook may change its body (SDP). */
  readonly sip?: SipResponse;
}

export interface AnswerEvent {
  readonly txn: TransactionView;
  readonly request: Request;
  readonly reply: Reply;
  /** Queue work to run right after the answer has been passed upstream. */
  after(fn: () => void): void;
}

/** `withhold`: a hook has answered both parties itself; the 2xx is not passed on. */
export type AnswerDecision = 'pass' | 'withhold';

export type TransactionOutcome = 'answered' | 'failed' | 'timeout' | 'withheld';

export interface TransactionEndEvent {
  readonly txn: TransactionView;
  readonly outcome: TransactionOutcome;
  readonly status: number;
}

type Unsubscribe = () => void;

/** Thrown by a request-forward hook that cannot let the request through (the relay cannot read its SDP): the caller gets this status. */
export class RejectRequest extends Error {
  constructor(readonly status: number, readonly reason: string) {
    super(`${status} ${reason}`);
    this.name = 'RejectRequest';
  }
}

export function isRejectRequest(e: unknown): e is RejectRequest {
  return e instanceof Error && e.name === 'RejectRequest' && typeof (e as RejectRequest).status === 'number';
}

function runInOrder<E>(handlers: readonly ((e: E) => void | Promise<void>)[], e: E): void | Promise<void> {
  for (let i = 0; i < handlers.length; i++) {
    const r = handlers[i]!(e);
    if (r instanceof Promise) {
      return r.then(async () => {
        for (const h of handlers.slice(i + 1)) await h(e);
      });
    }
  }
}

/** Points in a call's life where modules (dialog, media relay) take part. Handlers run in subscription order. */
/**
 * Subscribers of one hook. Subscribing happens at setup and emitting on every message, so the
 * list is copied when it changes, never when it is walked.
 */
class Handlers<F> {
  list: readonly F[] = [];

  add(h: F): Unsubscribe {
    this.list = [...this.list, h];
    return () => { this.list = this.list.filter((x) => x !== h); };
  }
}

export class ProxyHooks {
  private readonly requestForward = new Handlers<(e: RequestForwardEvent) => void | Promise<void>>();
  private readonly replyForward = new Handlers<(e: ReplyForwardEvent) => void | Promise<void>>();
  private readonly answer = new Handlers<(e: AnswerEvent) => AnswerDecision | Promise<AnswerDecision>>();
  private readonly transactionEnd = new Handlers<(e: TransactionEndEvent) => void>();

  onRequestForward(h: (e: RequestForwardEvent) => void | Promise<void>): Unsubscribe {
    return this.requestForward.add(h);
  }

  /** Every reply passed upstream (provisional, answer or failure), just before it is sent. */
  onReplyForward(h: (e: ReplyForwardEvent) => void | Promise<void>): Unsubscribe {
    return this.replyForward.add(h);
  }

  onAnswer(h: (e: AnswerEvent) => AnswerDecision | Promise<AnswerDecision>): Unsubscribe {
    return this.answer.add(h);
  }

  onTransactionEnd(h: (e: TransactionEndEvent) => void): Unsubscribe {
    return this.transactionEnd.add(h);
  }

  /**
   * Runs the handlers in order. Synchronous handlers finish before it returns; once one
   * returns a promise (it may bind media ports before rewriting a body) the rest wait for it.
   */
  emitRequestForward(e: RequestForwardEvent): void | Promise<void> {
    return runInOrder(this.requestForward.list, e);
  }

  emitReplyForward(e: ReplyForwardEvent): void | Promise<void> {
    return runInOrder(this.replyForward.list, e);
  }

  /** Runs answer hooks in order; the first `withhold` stops the rest. Synchronous while the hooks are. */
  emitAnswer(e: AnswerEvent): AnswerDecision | Promise<AnswerDecision> {
    const list = this.answer.list;
    for (let i = 0; i < list.length; i++) {
      const d = list[i]!(e);
      if (d instanceof Promise) {
        return d.then(async (first) => {
          if (first === 'withhold') return 'withhold';
          for (const h of list.slice(i + 1)) if ((await h(e)) === 'withhold') return 'withhold';
          return 'pass';
        });
      }
      if (d === 'withhold') return 'withhold';
    }
    return 'pass';
  }

  emitTransactionEnd(e: TransactionEndEvent): void {
    for (const h of this.transactionEnd.list) h(e);
  }
}
