/**
 * What call-records uses of other modules' apis, declared here as the shapes it needs: the
 * dialog module's call events (DialogApi) and the media relay's session ends (MediaRelayApi).
 */
import type { DialectName, Endpoint } from '../../core/module.ts';

export interface FollowedCall {
  readonly callId: string;
  readonly dialect: DialectName;
  readonly caller: string;
  readonly callee: string;
  readonly callerAddress: Endpoint;
  readonly calleeAddress: Endpoint;
  readonly createdAt: number;
  readonly confirmedAt: number | null;
}

export interface CallEnd {
  readonly dialog: FollowedCall;
  readonly reason: string;
  readonly by?: 'caller' | 'callee';
  readonly status?: number;
}

export interface CallEvents {
  onStarted(listener: (e: { readonly dialog: FollowedCall }) => void): void;
  onConfirmed(listener: (e: { readonly dialog: FollowedCall }) => void): void;
  onEnded(listener: (e: CallEnd) => void): void;
}

export interface RelaySessionEnd {
  readonly key: { readonly callId: string; readonly stream: number; readonly component: string };
  readonly stats: { readonly parties: readonly { readonly name: string; readonly packets: number; readonly bytes: number }[] };
}

export interface RelaySessionEnds {
  readonly backend: { onEnded(listener: (e: RelaySessionEnd) => void): void };
}
