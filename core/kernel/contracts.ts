import type { Endpoint } from '../lib/address.ts';
import type { Request, SignalingTransport } from '../model/message.ts';
import type { RouteSnapshot } from './snapshot.ts';

/** The kinds of route block a function can be called from (Kamailio's REQUEST_ROUTE, FAILURE_ROUTE...). */
export type RouteKind = 'request' | 'reply' | 'failure';

/** What every dialect's transaction shows of itself: the request it forwarded and the script generation pinned for its routes. */
export interface TransactionView {
  readonly request: Request;
  /** Where the current branch went. */
  readonly target: Endpoint;
  /** How the current branch went (SIP: its transport); absent where the dialect has one way only (plain). */
  readonly targetTransport?: SignalingTransport;
  readonly snapshot: RouteSnapshot;
}
