import type { MessageContext } from './message-context.ts';
import type { ForwardPlan, ReplyExtras } from '../model/verdict.ts';
import type { Reply, Request } from '../model/message.ts';
import type { WorkClass } from './overload.ts';


/**
 * The stateful part of a dialect (Kamailio's tm): what happens around the route script.
 * Each dialect has one; the dispatcher and the modules speak to it, never to sockets.
 */
export interface ProxyEngine {
  /** Before the script runs: true when the engine has dealt with the request itself (a retransmission, CANCEL, hop-by-hop ACK). */
  intercept(req: Request): boolean;
  /** Sends the proxy's own reply to a request. */
  respond(req: Request, status: number, reason: string | undefined, extras?: ReplyExtras): void;
  /**
   * Answers a request with a final refusal that is not retransmitted (a call refused under
   * overload, like Kamailio's stateless reply): a repeated request gets the same answer again.
   */
  refuse(req: Request, status: number, reason: string | undefined, extras?: ReplyExtras): void;
  /** Carries out a forward verdict: the context's request to the plan's targets (new branches, after a failure route). */
  forward(mc: MessageContext, plan: ForwardPlan): void | Promise<void>;
  /** Synchronous when nothing on the way waits (no route, no hook that binds ports): most replies. */
  receiveReply(reply: Reply): void | Promise<void>;
  /** The route dropped the request: nothing will answer it, and nothing is kept for it. */
  dropped(req: Request): void;
  /** Transactions in progress. */
  readonly size: number;
  /** New requests (out of dialog) received and not yet answered finally: what overload control caps. */
  readonly pending: number;
  /** New requests answered finally so far (the proxy's own answers and the ones it passed on), per class. */
  readonly completed: Readonly<Record<WorkClass, number>>;
  close(): void;
}
