import type { DialectName, Endpoint, Flow, Request } from '../../core/module.ts';

export type DialogState = 'early' | 'confirmed' | 'ended';

export type DialogEndReason = 'bye' | 'failed' | 'timeout' | 'lifetime' | 'replaced' | 'terminated' | 'shutdown';

/** One call from its first forwarded INVITE to BYE, failure or timeout. */
export interface Dialog {
  readonly callId: string;
  readonly dialect: DialectName;
  readonly caller: string;
  readonly callee: string;
  /** The caller's From tag where the dialect has tags: a BYE carrying it comes from the caller. */
  readonly callerTag: string | undefined;
  /**
   * The request that created the dialog, while its transaction runs; let go once the call is
   * answered, so a long call does not hold its INVITE (wire bytes, parsed headers) in memory.
   */
  invite: Request | null;
  /** The listener the call came in on (the proxy's own BYE leaves from it). */
  readonly listener: string;
  /** SIP: what the proxy needs to end the call itself, learnt at the answer. */
  ends: SipDialogEnds | null;
  /** Where the caller's INVITE came from. */
  readonly callerAddress: Endpoint;
  /** How: its transport and connection (the proxy's own BYE to a TCP caller goes on that connection). */
  readonly callerFlow: Flow;
  /** How the callee's answer came; null until the call is answered. */
  calleeFlow: Flow | null;
  /** Where the INVITE was forwarded. */
  calleeAddress: Endpoint;
  state: DialogState;
  readonly createdAt: number;
  confirmedAt: number | null;
  lifetimeTimer: NodeJS.Timeout | null;
}

/** What ending a SIP call from the proxy needs, learnt from its INVITE and the answer. */
export interface SipDialogEnds {
  readonly fromTag: string;
  readonly toTag: string;
  /** The caller's From and the callee's To, as name-addr without tags. */
  readonly callerUri: string;
  readonly calleeUri: string;
  /** Each party's Contact URI: the Request-URI of a request sent to it. */
  readonly callerContact: string;
  readonly calleeContact: string;
  /** Record-Route of the answer, top first, this proxy's own entries included. */
  readonly recordRoute: readonly string[];
  /** The highest CSeq each party has used in the dialog (caller, callee). */
  readonly cseq: [number, number];
}
