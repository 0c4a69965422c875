import type { Endpoint } from '../lib/address.ts';
import type { WorkClass } from './overload.ts';

/**
 * What a datagram asks of the proxy, told from its first line and a few header fields before
 * any parse: `priority` for what belongs to work already admitted (responses, ACK, CANCEL, BYE,
 * requests inside a dialog) and anything the glance cannot tell, `new` for a request that
 * starts new work (overload control may refuse it), `absorb` for what needs nothing
 * but perhaps a fixed answer (the ACK of a refusal sent without a transaction; any other request
 * naming the dialog such a refusal never made gets 481).
 */
export type FirstLook = PriorityLook | AbsorbLook | NewWorkLook;

export interface PriorityLook {
  readonly kind: 'priority';
}

export interface AbsorbLook {
  readonly kind: 'absorb';
  readonly answer?: Buffer;
}

/** A new request; `glance` is the dialect's own record of what it saw (field positions). */
export interface NewWorkLook {
  readonly kind: 'new';
  readonly work: WorkClass;
  readonly glance: unknown;
}

export const PRIORITY: PriorityLook = { kind: 'priority' };
export const ABSORB: AbsorbLook = { kind: 'absorb' };

/**
 * A dialect's first look at datagrams and its stateless refusals, for the dispatcher's batch
 * path (Dispatcher.receive): cheap enough to run on every datagram of an overload.
 */
export interface DatagramTriage {
  look(buf: Buffer, source: Endpoint): FirstLook;
  /**
   * Whether a new request repeats one the proxy already has a transaction for (a
   * retransmission): it takes the full path, where its transaction answers it.
   */
  isRepeat(look: NewWorkLook, buf: Buffer): boolean;
  /**
   * Whether a new request repeats one this triage refused a moment ago (a retransmission sent
   * before the refusal reached its sender): it is refused again, as a transaction would answer
   * it, and never let in, so a call is not refused and admitted both. Dialects whose senders do
   * not retransmit need not tell.
   */
  wasRefused?(look: NewWorkLook, buf: Buffer): boolean;
  /**
   * The refusal of a new request, built from its bytes without a transaction (the answer to
   * overload: SIP 503 with Retry-After, plain CALL_FAILED … overloaded), or null when only the
   * full parse can answer it. An empty buffer: nothing is sent (the dialect's own limits
   * withheld it).
   */
  refusal(look: NewWorkLook, buf: Buffer, source: Endpoint, retryAfterSec: number): Buffer | null;
}
