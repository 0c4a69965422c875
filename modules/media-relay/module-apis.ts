import type { MediaOffer, RelayedStream, Request } from '../../core/module.ts';
import type { CallSide } from './backend.ts';

/** What media-relay uses of the dialog module's api (DialogApi): the end of a call, and ending one. */
export interface DialogFollow {
  onEnded(listener: (e: { readonly dialog: { readonly callId: string }; readonly reason: string }) => void): void;
  terminate(callId: string, reason: 'timeout' | 'terminated'): boolean;
  /** Who sent an in-dialog request: a party, a stranger to its dialog, or unknown (no dialog followed). */
  senderOf(request: Request): 'caller' | 'callee' | 'stranger' | 'unknown';
}

/**
 * What media-relay asks of a hints module (ice-hints' api): more changes to a description the
 * relay has just taken over, given its relayed streams; `toward` is the party that will read it.
 */
export interface MediaHints {
  apply(offer: MediaOffer, streams: readonly RelayedStream[], callId: string, toward: CallSide): boolean;
}
