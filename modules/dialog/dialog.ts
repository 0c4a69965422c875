import type { DialectName, Endpoint, Request } from '../../core/module.ts';

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
  /** Where the caller's INVITE came from. */
  readonly callerAddress: Endpoint;
  /** Where the INVITE was forwarded. */
  calleeAddress: Endpoint;
  state: DialogState;
  readonly createdAt: number;
  confirmedAt: number | null;
  lifetimeTimer: NodeJS.Timeout | null;
}
