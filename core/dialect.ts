import type { DialectName, Inbound, Message, Request } from './message.ts';

export type ParseOutcome =
  | { readonly ok: true; readonly msg: Message }
  /** `answer` is what to send back to the source, if anything (already rate-limited by the dialect). */
  | { readonly ok: false; readonly reason: string; readonly answer: Buffer | null };

/**
 * A wire dialect's codec: turns datagrams into the one message model and composes the
 * proxy's own replies. What happens around the route script is the dialect's ProxyEngine.
 */
export interface Dialect {
  readonly name: DialectName;
  parse(buf: Buffer, inbound: Inbound): ParseOutcome;
  /** The proxy's own reply to a request; null where the dialect has nothing to send. */
  composeReply(req: Request, status: number, reason: string): Buffer | null;
  /** Counters the dialect keeps (parse errors, suppressed error replies...). */
  stats(): Record<string, number>;
}
