import type { DialectName, Inbound, Message } from '../model/message.ts';

export type ParseOutcome =
  | { readonly ok: true; readonly msg: Message }
  /** `answer` is what to send back to the source, if anything (already rate-limited by the dialect). */
  | { readonly ok: false; readonly reason: string; readonly answer: Buffer | null };

/**
 * A wire dialect's codec: turns datagrams into the one message model. The proxy's own replies
 * and everything around the route script belong to the dialect's ProxyEngine.
 */
export interface Dialect {
  readonly name: DialectName;
  parse(buf: Buffer, inbound: Inbound): ParseOutcome;
  /** Counters the dialect keeps (parse errors, suppressed error replies...). */
  stats(): Record<string, number>;
}
