import { formatEndpoint } from '../../core/module.ts';
import type { CallEnd, FollowedCall, RelaySessionEnd } from './module-apis.ts';

/** How a call turned out, as a billing system reads it. */
export type CallResult = 'answered' | 'rejected' | 'cancelled' | 'unanswered' | 'failed';

/** What one relay session carried, per party (the party that sent it). */
export interface MediaLeg {
  readonly stream: number;
  readonly component: string;
  readonly party: string;
  readonly packets: number;
  readonly bytes: number;
}

interface CallFields {
  readonly callId: string;
  readonly dialect: string;
  readonly caller: string;
  readonly callee: string;
  readonly callerAddress: string;
  readonly calleeAddress: string;
  /** When the call's INVITE (plain: CALL) was forwarded, ISO 8601. */
  readonly startedAt: string;
}

/** One line of the call records: a call started, was answered, or ended. */
export type CallRecord =
  | ({ readonly event: 'start' } & CallFields)
  | ({ readonly event: 'answer'; readonly answeredAt: string; readonly setupMs: number } & CallFields)
  | ({
    readonly event: 'end';
    readonly answeredAt: string | null;
    readonly endedAt: string;
    /** Seconds from the answer to the end; 0 for a call never answered. */
    readonly durationSec: number;
    readonly result: CallResult;
    /** Why the dialog ended: bye, failed, timeout (no answer in time, or media idle), lifetime, terminated, shutdown, replaced. */
    readonly endReason: string;
    readonly endedBy?: 'caller' | 'callee';
    /** The INVITE's final status for a call that was not answered. */
    readonly status?: number;
    readonly media: readonly MediaLeg[];
  } & CallFields);

const iso = (ms: number): string => new Date(ms).toISOString();

function fieldsOf(d: FollowedCall): CallFields {
  return {
    callId: d.callId, dialect: d.dialect, caller: d.caller, callee: d.callee,
    callerAddress: formatEndpoint(d.callerAddress), calleeAddress: formatEndpoint(d.calleeAddress), startedAt: iso(d.createdAt),
  };
}

export function startRecord(d: FollowedCall): CallRecord {
  return { event: 'start', ...fieldsOf(d) };
}

export function answerRecord(d: FollowedCall): CallRecord {
  const answeredAt = d.confirmedAt ?? Date.now();
  return { event: 'answer', ...fieldsOf(d), answeredAt: iso(answeredAt), setupMs: answeredAt - d.createdAt };
}

/** The result of a call that was never answered, from its INVITE's final status. */
function unansweredResult(e: CallEnd): CallResult {
  if (e.status === 487) return 'cancelled';
  if (e.reason === 'timeout' || e.status === 408 || e.status === 480) return 'unanswered';
  if (e.status !== undefined && e.status >= 400 && e.status < 700 && e.status !== 500 && e.status !== 503) return 'rejected';
  return 'failed';
}

export function endRecord(e: CallEnd, media: readonly RelaySessionEnd[], now: number): CallRecord {
  const d = e.dialog;
  const answered = d.confirmedAt !== null;
  const legs: MediaLeg[] = [];
  for (const s of media) {
    for (const p of s.stats.parties) legs.push({ stream: s.key.stream, component: s.key.component, party: p.name, packets: p.packets, bytes: p.bytes });
  }
  return {
    event: 'end', ...fieldsOf(d),
    answeredAt: answered ? iso(d.confirmedAt) : null,
    endedAt: iso(now),
    durationSec: answered ? Math.max(0, Math.round((now - d.confirmedAt) / 100) / 10) : 0,
    result: answered ? 'answered' : unansweredResult(e),
    endReason: e.reason,
    ...(e.by !== undefined ? { endedBy: e.by } : {}),
    ...(!answered && e.status !== undefined ? { status: e.status } : {}),
    media: legs,
  };
}
