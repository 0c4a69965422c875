import type { Endpoint } from '../lib/address.ts';
import type { Reply } from '../model/message.ts';
import type { ForwardTarget } from '../model/verdict.ts';
import type { HookBus } from './hooks.ts';

/** A SIP request the proxy originates as a user agent client (a keepalive OPTIONS, a BYE to end a call, a NOTIFY). */
export interface SipOriginateRequest {
  /** The dialect it is sent in; the proxy originates SIP requests. */
  readonly dialect: 'sip';
  /** Any method but INVITE, ACK and CANCEL (those belong to a dialog the proxy would have to set up). */
  readonly method: string;
  /** The Request-URI. */
  readonly uri: string;
  /** Where to send it; default: its first Route, else where the Request-URI resolves to. */
  readonly target?: ForwardTarget;
  /** The listener it leaves from (its address goes in Via); default: the first SIP listener. */
  readonly listener?: string;
  /** From and To as name-addr without tags; defaults: the proxy itself, and the Request-URI. */
  readonly from?: string;
  readonly to?: string;
  /** Tags, Call-ID and CSeq of a dialog the request belongs to; defaults make a new one. */
  readonly fromTag?: string;
  readonly toTag?: string;
  readonly callId?: string;
  readonly cseq?: number;
  /** A route set, as Route header values in order. */
  readonly routeSet?: readonly string[];
  /** Further header fields, verbatim. */
  readonly headers?: readonly (readonly [name: string, value: string])[];
  readonly body?: { readonly contentType: string; readonly content: string | Buffer };
  /** Gives up with a local 408 after this long (default and at most 64·T1, 32 s: Timer F); a health probe wants less. */
  readonly timeoutMs?: number;
}

/**
 * A plain-protocol message of the proxy's own: `BYE FROM:<from> TO:<to>`, which tells the parties
 * of a call the proxy ended (media idle, lifetime) that it is over. Sent to each target in
 * order, each once the one before is with the kernel.
 */
export interface PlainOriginateRequest {
  readonly dialect: 'plain';
  readonly method: 'BYE';
  /** The users the BYE names (the call's caller and callee). */
  readonly from: string;
  readonly to: string;
  readonly targets: readonly Endpoint[];
  /** The plain listener it leaves from (the one the call came in on). */
  readonly listener: string;
}

export type OriginateRequest = SipOriginateRequest | PlainOriginateRequest;

/** The final response of an originated request (plain messages have none: `{ status: 200, reason: 'sent', reply: null }` once sent); `reply` is null when the proxy made the status up (408: no answer in time, 478: no route). */
export interface OriginateResult {
  readonly status: number;
  readonly reason: string;
  readonly reply: Reply | null;
}

/** What the core offers modules. Modules never hold signaling sockets or wire formats: they take part through hooks and verdicts, and originate requests here. */
export interface CoreServices {
  readonly hooks: HookBus;
  /** SIP: whether a URI names this proxy (one of its addresses and SIP ports). */
  isOwnUri(uri: string): boolean;
  /** Sends a request of the proxy's own and resolves with its final response (plain: once sent). */
  originate(req: OriginateRequest): Promise<OriginateResult>;
}
