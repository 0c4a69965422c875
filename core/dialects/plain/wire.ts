import type { Terminator } from './grammar.ts';

export type PlainKeyword = 'REGISTER' | 'CALL' | 'ACK_CALL' | 'CALL_FAILED' | 'BYE';

/** What the plain parser keeps beside the model: enough to answer in kind. */
export interface PlainWire {
  readonly keyword: PlainKeyword;
  /** The line ending the datagram carried; replies the proxy composes reuse it. */
  readonly terminator: Terminator;
  /** The user who sent the datagram (for ACK_CALL/CALL_FAILED this is the callee). */
  readonly sender: string;
  /** The user named after TO: (for REGISTER, the user itself). */
  readonly addressee: string;
}
