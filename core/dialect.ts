import type { Endpoint } from './address.ts';
import type { DialectName, Inbound, Message, Reply, Request } from './message.ts';

export type ParseOutcome =
  | { readonly ok: true; readonly msg: Message }
  /** `answer` is what to send back to the source, if anything (already rate-limited by the dialect). */
  | { readonly ok: false; readonly reason: string; readonly answer: Buffer | null };

/**
 * A wire dialect: turns datagrams into the one message model and composes what the
 * proxy sends. Everything dialect-specific about replies and forwarding lives here.
 */
export interface Dialect {
  readonly name: DialectName;
  parse(buf: Buffer, inbound: Inbound): ParseOutcome;
  /** The proxy's own reply to a request; null where the dialect has nothing to send. */
  composeReply(req: Request, status: number, reason: string): Buffer | null;
  /** Requests that get a reply are forwarded with a transaction; the others statelessly. */
  expectsReply(req: Request): boolean;
  /** The key that pairs a reply with the transaction of its request. */
  transactionKey(msg: Message): string;
  /** Whether a reply that carries a transaction's key really belongs to it. */
  acceptsReply(reply: Reply, req: Request, target: Endpoint): boolean;
  /** What goes to the next hop when a request is forwarded to `target`. */
  forwardRequestBytes(req: Request, target: Endpoint): Buffer;
  /** What goes upstream when a reply to `req` is passed on. */
  forwardReplyBytes(reply: Reply, req: Request): Buffer;
  /** The answer to a reply that matches no transaction, or null to drop it. */
  strayReply(reply: Reply): Buffer | null;
  /** Counters the dialect keeps (parse errors, suppressed error replies...). */
  stats(): Record<string, number>;
}
