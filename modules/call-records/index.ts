import { defineModule, OpenMap, optional, required, z, type Request } from '../../core/module.ts';
import type { DialogApi } from '../dialog/index.ts';
import type { MediaRelayApi } from '../media-relay/index.ts';
import { recordOf, type CallEndReason, type Followed } from './record.ts';
import { RecordSink } from './sink.ts';

export type { CallRecord, CallEndReason, RecordedMedia } from './record.ts';

const schema = z.object({
  /** Appends one JSON line per call start, answer and end to this file. */
  file: z.string().min(1).optional(),
  /** POSTs each record as JSON to this URL (best effort: a failure is logged, not retried). */
  webhook: z.string().url().optional(),
  /** Also write a record when a call starts and when it is answered (the end record always carries both times). */
  startAndAnswer: z.boolean().default(true),
});

interface Tracked extends Followed {
  readonly invite: Request;
}

/**
 * Call detail records, as Kamailio's acc: for every call one structured event at its start,
 * its answer and its end (who, when, how long, why it ended, the final status of an unanswered
 * call, and the media each party sent through the relay).
 */
export const callRecords = defineModule({
  name: 'call-records',
  description: 'Call detail records (start, answer, end) as JSON lines and to a webhook',
  schema,
  dependsOn: { dialog: required<DialogApi>('dialog'), media: optional<MediaRelayApi>('media-relay') },

  setup: ({ config, core, deps, log }) => {
    const c = config();
    const sink = new RecordSink(c.file, c.webhook, log);
    const calls = new OpenMap<Tracked>();
    const end = (t: Tracked, reason: CallEndReason, status?: number): void => {
      if (calls.get(t.callId) !== t) return;
      calls.delete(t.callId);
      sink.write(recordOf(t, 'end', Date.now(), { reason, ...(status !== undefined ? { status } : {}) }));
    };

    core.hooks.onRequestForward(({ request, target, txn }) => {
      if (request.method !== 'INVITE' || request.inDialog || txn === null) return;
      const known = calls.get(request.callId);
      if (known !== undefined && known.invite === request) {
        known.calleeAddress = target; // forwarded elsewhere by a failure route
        return;
      }
      const t: Tracked = {
        callId: request.callId, dialect: request.dialect, caller: request.from.user, callee: request.to.user,
        callerAddress: request.source, calleeAddress: target, startedAt: Date.now(), answeredAt: null, media: [], invite: request,
      };
      calls.set(t.callId, t);
      if (config().startAndAnswer) sink.write(recordOf(t, 'start', t.startedAt));
    });
    core.hooks.onAnswer(({ request }) => {
      const t = calls.get(request.callId);
      if (t === undefined || t.invite !== request || t.answeredAt !== null) return;
      t.answeredAt = Date.now();
      if (config().startAndAnswer) sink.write(recordOf(t, 'answer', t.answeredAt));
    });
    core.hooks.onTransactionEnd(({ txn, outcome, status }) => {
      const t = calls.get(txn.request.callId);
      if (t === undefined || t.invite !== txn.request || outcome === 'answered') return;
      if (outcome === 'timeout') end(t, 'timeout', status);
      else if (outcome === 'withheld') end(t, 'failed', status);
      else end(t, status === 487 ? 'cancelled' : 'rejected', status);
    });
    // The relay's final counters come as its sessions end, before the dialog's end reaches us.
    deps.media?.backend.onEnded(({ key, stats }) => {
      calls.get(key.callId)?.media.push({
        stream: key.stream, component: key.component, port: stats.port,
        legs: stats.parties.map((p) => ({ party: p.name, packets: p.packets, bytes: p.bytes })),
      });
    });
    deps.dialog.onEnded(({ dialog, reason }) => {
      const t = calls.get(dialog.callId);
      if (t === undefined) return;
      const answered = t.answeredAt !== null;
      // An unanswered call's failure or timeout is recorded from its transaction, which says the status.
      if (!answered && (reason === 'failed' || reason === 'timeout')) return;
      const why: CallEndReason = reason === 'bye' ? (answered ? 'completed' : 'cancelled')
        : reason === 'timeout' ? 'media-timeout'
        : reason === 'terminated' || reason === 'lifetime' || reason === 'shutdown' ? reason
        : 'failed';
      end(t, why);
    });
    return { sink, calls, end };
  },

  onClose: async ({ state }) => {
    for (const t of [...state.calls.values()]) state.end(t, 'shutdown');
    await state.sink.close();
  },
});
