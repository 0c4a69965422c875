import type { ForwardPlan, ReplyExtras, Verdict } from '../model/verdict.ts';

/** What a failure route decided, for the engine that ran it to carry out. */
export type FailureOutcome =
  /** No verdict: the failure goes upstream as it came. */
  | { readonly kind: 'pass' }
  /** Another answer goes upstream instead of the failure. */
  | { readonly kind: 'respond'; readonly status: number; readonly reason: string | undefined; readonly extras: ReplyExtras | undefined }
  /** New branches for the same transaction. */
  | { readonly kind: 'forward'; readonly plan: ForwardPlan }
  /** Nothing goes upstream. */
  | { readonly kind: 'drop' };

const PASS: FailureOutcome = { kind: 'pass' };
const DROPPED: FailureOutcome = { kind: 'drop' };

/** A failure route's verdict as the engine carries it out; the same rules for every dialect. */
export function failureOutcome(v: Verdict | null): FailureOutcome {
  if (v === null) return PASS;
  switch (v.kind) {
    case 'respond': return { kind: 'respond', status: v.status, reason: v.reason, extras: v.extras };
    case 'forward': return { kind: 'forward', plan: v.plan };
    case 'drop': return DROPPED;
    case 'pending': return PASS; // the dispatcher has already reported a verdict that was never decided
  }
}

/** Whether a reply route kept the reply from going upstream. */
export function replyDropped(v: Verdict | null): boolean {
  return v?.kind === 'drop';
}
