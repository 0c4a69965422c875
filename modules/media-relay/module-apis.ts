import type { MediaOffer, RelayedStream } from '../../core/module.ts';
import type { CallSide } from './backend.ts';

/** What media-relay uses of the dialog module's api (DialogApi): the end of a call, and ending one. */
export interface DialogFollow {
  onEnded(listener: (e: { readonly dialog: { readonly callId: string }; readonly reason: string }) => void): void;
  terminate(callId: string, reason: 'timeout' | 'terminated'): boolean;
}

/**
 * What media-relay asks of a hints module (ice-hints' api): more changes to a description the
 * relay has just taken over, given its relayed streams; `toward` is the party that will read it.
 */
export interface MediaHints {
  apply(offer: MediaOffer, streams: readonly RelayedStream[], callId: string, toward: CallSide): boolean;
}
