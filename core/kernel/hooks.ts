import type { Endpoint } from '../lib/address.ts';
import type { Reply, Request, SignalingTransport } from '../model/message.ts';
import type { TransactionView } from './contracts.ts';
import type { MediaOffer } from '../model/media.ts';

export type { TransactionView };

export interface RequestForwardEvent {
  readonly request: Request;
  readonly target: Endpoint;
  /** Null for requests forwarded without a transaction (no reply expected). */
  readonly txn: TransactionView | null;
}

export interface ReplyForwardEvent {
  readonly txn: TransactionView;
  readonly request: Request;
  readonly reply: Reply;
}

export interface AnswerEvent {
  readonly txn: TransactionView;
  readonly request: Request;
  readonly reply: Reply;
}

/** `withheld`: the answer came but was not passed on (its media could not be relayed). */
export type TransactionOutcome = 'answered' | 'failed' | 'timeout' | 'withheld';

export interface TransactionEndEvent {
  readonly txn: TransactionView;
  readonly outcome: TransactionOutcome;
  readonly status: number;
}

type Unsubscribe = () => void;

/** A stream connection (TCP, TLS, WebSocket) closed: whatever named it cannot be reached over it again. */
export interface ConnectionClosedEvent {
  readonly dialect: 'sip';
  readonly transport: SignalingTransport;
  readonly connection: number;
}

/**
 * A party's media description passing the proxy: SDP in a SIP request or reply, or at a plain
 * call's answer the implicit media of each party. A hook may change it (point its streams at a
 * relay); the dialect renders the result. Emitted only while some module listens.
 */
export interface MediaEvent {
  /** The request of the transaction the description travels in (INVITE, re-INVITE, UPDATE, PRACK, ACK...). */
  readonly request: Request;
  /** The reply that carries it, or null when the request does. */
  readonly reply: Reply | null;
  readonly txn: TransactionView | null;
  /**
   * The description, read on first use. Throws MediaRefused(400) when it cannot be read: a
   * request is then answered so, a reply passes unchanged.
   */
  offer(): MediaOffer;
}

/**
 * Thrown by a media hook that cannot let a description through (no relay port, unreadable
 * SDP): a request gets this status; a plain call's answer is withheld and both parties get
 * CALL_FAILED with the reason; a SIP reply passes unchanged and the refusal is logged.
 */
export class MediaRefused extends Error {
  constructor(readonly status: number, readonly reason: string) {
    super(`${status} ${reason}`);
    this.name = 'MediaRefused';
  }
}

export function isMediaRefused(e: unknown): e is MediaRefused {
  return e instanceof Error && e.name === 'MediaRefused' && typeof (e as MediaRefused).status === 'number';
}

/**
 * Thrown by a request-forward hook that will not let a request go on (SIP: an in-dialog request
 * that is not from a party of its dialog): the request is answered with this status and sent
 * nowhere; an ACK, which nothing answers, is dropped.
 */
export class RequestRefused extends Error {
  constructor(readonly status: number, readonly reason: string) {
    super(`${status} ${reason}`);
    this.name = 'RequestRefused';
  }
}

export function isRequestRefused(e: unknown): e is RequestRefused {
  return e instanceof Error && e.name === 'RequestRefused' && typeof (e as RequestRefused).status === 'number';
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

/**
 * Points in a call's life where modules (dialog, media relay) take part: what a module
 * subscribes to. Handlers run in subscription order, which is module setup order.
 */
export interface HookBus {
  /** A request forwarded (to one branch); a handler may hold the request while it works (async). */
  onRequestForward(h: (e: RequestForwardEvent) => void | Promise<void>): Unsubscribe;
  /** Every reply passed upstream (provisional, answer or failure), just before it is sent. */
  onReplyForward(h: (e: ReplyForwardEvent) => void | Promise<void>): Unsubscribe;
  /** A call's first 2xx, before it goes upstream. */
  onAnswer(h: (e: AnswerEvent) => void): Unsubscribe;
  /** A forwarded request's transaction ended (answered, failed, timed out). */
  onTransactionEnd(h: (e: TransactionEndEvent) => void): Unsubscribe;
  /** A party's media description passes (see MediaEvent). */
  onMedia(h: (e: MediaEvent) => void | Promise<void>): Unsubscribe;
  /** A stream connection closed (see ConnectionClosedEvent). */
  onConnectionClosed(h: (e: ConnectionClosedEvent) => void): Unsubscribe;
  /**
   * Every message as it arrives from `source` (a UDP datagram, a message read over TCP), before
   * it is parsed: a handler that returns false drops it, unanswered. It runs per packet, so it
   * must be synchronous and cheap (a per-source rate limit).
   */
  onArrival(h: (source: Endpoint) => boolean): Unsubscribe;
}

/** The subscriptions of one module: its handlers do not run while `enabled()` is false. */
export function gatedHooks(bus: HookBus, enabled: () => boolean): HookBus {
  return {
    onRequestForward: (h) => bus.onRequestForward((e) => (enabled() ? h(e) : undefined)),
    onReplyForward: (h) => bus.onReplyForward((e) => (enabled() ? h(e) : undefined)),
    onAnswer: (h) => bus.onAnswer((e) => { if (enabled()) h(e); }),
    onTransactionEnd: (h) => bus.onTransactionEnd((e) => { if (enabled()) h(e); }),
    onMedia: (h) => bus.onMedia((e) => (enabled() ? h(e) : undefined)),
    onConnectionClosed: (h) => bus.onConnectionClosed((e) => { if (enabled()) h(e); }),
    onArrival: (h) => bus.onArrival((source) => !enabled() || h(source)),
  };
}

/** The hook bus as the engines drive it. */
export class ProxyHooks implements HookBus {
  private readonly requestForward = new Handlers<(e: RequestForwardEvent) => void | Promise<void>>();
  private readonly replyForward = new Handlers<(e: ReplyForwardEvent) => void | Promise<void>>();
  private readonly answer = new Handlers<(e: AnswerEvent) => void>();
  private readonly transactionEnd = new Handlers<(e: TransactionEndEvent) => void>();
  private readonly media = new Handlers<(e: MediaEvent) => void | Promise<void>>();
  private readonly connectionClosed = new Handlers<(e: ConnectionClosedEvent) => void>();

  onConnectionClosed(h: (e: ConnectionClosedEvent) => void): Unsubscribe {
    return this.connectionClosed.add(h);
  }

  emitConnectionClosed(e: ConnectionClosedEvent): void {
    for (const h of this.connectionClosed.list) h(e);
  }

  private readonly arrival = new Handlers<(source: Endpoint) => boolean>();

  onArrival(h: (source: Endpoint) => boolean): Unsubscribe {
    return this.arrival.add(h);
  }

  /** Whether a message from `source` is let in: false when an arrival handler drops it. */
  admits(source: Endpoint): boolean {
    const list = this.arrival.list;
    for (let i = 0; i < list.length; i++) if (!list[i]!(source)) return false;
    return true;
  }

  /** A media description passes (see MediaEvent); handlers run in order, an async one holds the message until it settles. */
  onMedia(h: (e: MediaEvent) => void | Promise<void>): Unsubscribe {
    return this.media.add(h);
  }

  /** True while some module listens for media: a dialect reads no description otherwise. */
  get wantsMedia(): boolean {
    return this.media.list.length > 0;
  }

  emitMedia(e: MediaEvent): void | Promise<void> {
    return runInOrder(this.media.list, e);
  }

  onRequestForward(h: (e: RequestForwardEvent) => void | Promise<void>): Unsubscribe {
    return this.requestForward.add(h);
  }

  /** Every reply passed upstream (provisional, answer or failure), just before it is sent. */
  onReplyForward(h: (e: ReplyForwardEvent) => void | Promise<void>): Unsubscribe {
    return this.replyForward.add(h);
  }

  onAnswer(h: (e: AnswerEvent) => void): Unsubscribe {
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

  /** A call's first 2xx, before it is passed on. */
  emitAnswer(e: AnswerEvent): void {
    for (const h of this.answer.list) h(e);
  }

  emitTransactionEnd(e: TransactionEndEvent): void {
    for (const h of this.transactionEnd.list) h(e);
  }
}
