import type { Endpoint } from '../lib/address.ts';
import type { SignalingTransport } from './message.ts';

const VERDICT = Symbol.for('switchyard.verdict');

/**
 * What a route decided for a request: exactly one per request, carried out by the dialect's
 * engine once the route has returned. Module functions produce them; the script returns them.
 */
export type Verdict =
  | {
      readonly [VERDICT]: true; readonly ok: true; readonly kind: 'respond'; readonly status: number;
      /** Absent: the dialect's own wording for the status. */
      readonly reason: string | undefined;
      readonly extras: ReplyExtras | undefined;
    }
  | { readonly [VERDICT]: true; readonly ok: true; readonly kind: 'forward'; readonly plan: ForwardPlan; readonly detail: string }
  | { readonly [VERDICT]: true; readonly ok: true; readonly kind: 'drop' }
  /** Claimed by a function still deciding (see MessageContext.reserve). */
  | { readonly [VERDICT]: true; readonly ok: true; readonly kind: 'pending'; readonly detail: string };

/**
 * What a reply the proxy composes carries besides its status, in the model's terms; each
 * dialect renders what it can (SIP: Contact, Min-Expires, Retry-After and the extra header
 * fields; the plain protocol has none of them).
 */
export interface ReplyExtras {
  /** The bindings a registrar lists in its answer, each with the seconds it has left. */
  readonly contacts?: readonly { readonly uri: string; readonly expiresSec: number }[];
  /** The shortest registration the registrar accepts (with 423). */
  readonly minExpiresSec?: number;
  /** When the sender may try again (with 503, 480...). */
  readonly retryAfterSec?: number;
  /** Further header fields, verbatim (SIP: WWW-Authenticate, Allow...). */
  readonly headers?: readonly (readonly [name: string, value: string])[];
}

/** One place to send a forwarded request: a registered contact, a peer, a gateway. */
export interface ForwardTarget {
  /** Where to send; when absent, the dialect resolves `uri`. */
  readonly address?: Endpoint;
  /** SIP: the Request-URI to put on the request (a registered Contact, a peer's URI). */
  readonly uri?: string;
  /** The transport to reach it over (a contact registered over TCP is reached on its connection). */
  readonly transport?: SignalingTransport;
  readonly connection?: number | null;
}

/** How a request is forwarded: the engine carries it out after the route, as it sends a respond. */
export interface ForwardPlan {
  /** Branches to try in parallel; null: where the request itself says (SIP Route set, Request-URI). */
  readonly targets: readonly ForwardTarget[] | null;
  /** How long a call may ring before it fails with 408 "no answer". */
  readonly answerTimeoutMs: number;
  /** The failure route to run when every branch fails (a key of the script's `routes.failure`). */
  readonly onFailure: string | undefined;
  /** The reply route to run for each reply (a key of `routes.reply`). */
  readonly onReply: string | undefined;
  /** SIP: add Record-Route so in-dialog requests come through this proxy. */
  readonly recordRoute: boolean;
  /**
   * SIP: the request comes from a sender trusted to steer its own routing (a trusted source, an
   * authenticated user): its `maddr` is honoured, and its Route or Request-URI may lead to any
   * host outside a dialog this proxy record-routed. Absent: not trusted.
   */
  readonly trusted?: boolean;
}

export function pendingVerdict(detail: string): Verdict {
  return { [VERDICT]: true, ok: true, kind: 'pending', detail };
}

export function respondVerdict(status: number, reason?: string, extras?: ReplyExtras): Verdict {
  return { [VERDICT]: true, ok: true, kind: 'respond', status, reason, extras };
}

export function forwardVerdict(plan: ForwardPlan, detail: string): Verdict {
  return { [VERDICT]: true, ok: true, kind: 'forward', plan, detail };
}

export const DROP: Verdict = Object.freeze({ [VERDICT]: true, ok: true, kind: 'drop' } as const);

export function isVerdict(v: unknown): v is Verdict {
  return typeof v === 'object' && v !== null && (v as Record<symbol, unknown>)[VERDICT] === true;
}

export function describeVerdict(v: Verdict): string {
  switch (v.kind) {
    case 'respond': return `respond ${v.status}${v.reason !== undefined ? ` ${v.reason}` : ''}`;
    case 'forward': return `forward ${v.detail}`;
    case 'drop': return 'drop';
    case 'pending': return v.detail;
  }
}
