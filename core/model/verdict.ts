const VERDICT = Symbol.for('switchyard.verdict');

/** What a route decided for a request. Exactly one per request; module functions produce them. */
export type Verdict =
  | { readonly [VERDICT]: true; readonly ok: true; readonly kind: 'respond'; readonly status: number; readonly reason: string; readonly headers?: ReplyHeaders }
  | { readonly [VERDICT]: true; readonly ok: true; readonly kind: 'forward'; readonly detail: string }
  | { readonly [VERDICT]: true; readonly ok: true; readonly kind: 'drop' }
  /** Claimed by a function still deciding (see MessageContext.reserve). */
  | { readonly [VERDICT]: true; readonly ok: true; readonly kind: 'pending'; readonly detail: string };

export function pendingVerdict(detail: string): Verdict {
  return { [VERDICT]: true, ok: true, kind: 'pending', detail };
}

/** Extra header fields for a reply the proxy composes (SIP: Contact, Min-Expires...); the plain dialect has none. */
export type ReplyHeaders = readonly (readonly [name: string, value: string])[];

export function respondVerdict(status: number, reason: string, headers?: ReplyHeaders): Verdict {
  return headers === undefined ? { [VERDICT]: true, ok: true, kind: 'respond', status, reason } : { [VERDICT]: true, ok: true, kind: 'respond', status, reason, headers };
}

export function forwardVerdict(detail: string): Verdict {
  return { [VERDICT]: true, ok: true, kind: 'forward', detail };
}

export const DROP: Verdict = Object.freeze({ [VERDICT]: true, ok: true, kind: 'drop' } as const);

export function isVerdict(v: unknown): v is Verdict {
  return typeof v === 'object' && v !== null && (v as Record<symbol, unknown>)[VERDICT] === true;
}

export function describeVerdict(v: Verdict): string {
  switch (v.kind) {
    case 'respond': return `respond ${v.status} ${v.reason}`;
    case 'forward': return `forward ${v.detail}`;
    case 'drop': return 'drop';
    case 'pending': return v.detail;
  }
}
