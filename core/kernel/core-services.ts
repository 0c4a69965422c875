import type { Reply } from '../model/message.ts';
import type { ForwardTarget } from '../model/verdict.ts';
import type { HookBus } from './hooks.ts';
import type { Endpoint } from '../lib/address.ts';

/** A request the proxy originates as a user agent client (a keepalive OPTIONS, a BYE to end a call, a NOTIFY). */
export interface OriginateRequest {
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
 * A plain-protocol message of the proxy's own: the protocol's BYE, which ends a call at the party
 * it is sent to (`BYE FROM:<from> TO:<to>`, as if the other party had hung up). It has no reply.
 */
export interface PlainOriginateRequest {
  readonly dialect: 'plain';
  readonly method: 'BYE';
  readonly from: string;
  readonly to: string;
  readonly target: Endpoint;
  /** The listener it leaves from; default: the first plain listener. */
  readonly listener?: string;
}

/** The final response of an originated request; `reply` is null when the proxy made the status up (408: no answer in time, 478: no route). */
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
  /**
   * Sends a request of the proxy's own and resolves with its final response. A plain BYE has no
   * response: it resolves with status 0 once sent.
   */
  originate(req: OriginateRequest | PlainOriginateRequest): Promise<OriginateResult>;
}
