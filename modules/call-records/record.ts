import type { DialectName, Endpoint } from '../../core/module.ts';

/** How a call ended, for billing: completed (answered, then hung up) or why it never was. */
export type CallEndReason = 'completed' | 'rejected' | 'cancelled' | 'timeout' | 'terminated' | 'lifetime' | 'media-timeout' | 'failed' | 'shutdown';

/** What one relay session carried, per party. */
export interface RecordedMedia {
  readonly stream: number;
  readonly component: string;
  readonly port: number;
  readonly legs: readonly { readonly party: string; readonly packets: number; readonly bytes: number }[];
}

/** One line of the call record file: a call's start, its answer, or its end. */
export interface CallRecord {
  readonly event: 'start' | 'answer' | 'end';
  /** ISO 8601, when this event happened. */
  readonly at: string;
  readonly callId: string;
  readonly dialect: DialectName;
  readonly caller: string;
  readonly callee: string;
  readonly callerAddress: Endpoint;
  readonly calleeAddress: Endpoint;
  readonly startedAt: string;
  readonly answeredAt: string | null;
  /** end: why, the final status of an unanswered call, the seconds from answer to end (0 unanswered), the media. */
  readonly reason?: CallEndReason;
  readonly status?: number;
  readonly durationSec?: number;
  readonly media?: readonly RecordedMedia[];
}

/** A call followed from its first INVITE to its end. */
export interface Followed {
  readonly callId: string;
  readonly dialect: DialectName;
  readonly caller: string;
  readonly callee: string;
  readonly callerAddress: Endpoint;
  calleeAddress: Endpoint;
  readonly startedAt: number;
  answeredAt: number | null;
  readonly media: RecordedMedia[];
}

export function recordOf(c: Followed, event: CallRecord['event'], at: number, end?: { reason: CallEndReason; status?: number }): CallRecord {
  const base = {
    event, at: new Date(at).toISOString(), callId: c.callId, dialect: c.dialect, caller: c.caller, callee: c.callee,
    callerAddress: c.callerAddress, calleeAddress: c.calleeAddress,
    startedAt: new Date(c.startedAt).toISOString(), answeredAt: c.answeredAt === null ? null : new Date(c.answeredAt).toISOString(),
  };
  if (end === undefined) return base;
  return {
    ...base, reason: end.reason, ...(end.status !== undefined ? { status: end.status } : {}),
    durationSec: c.answeredAt === null ? 0 : Math.round((at - c.answeredAt) / 100) / 10,
    media: c.media,
  };
}
