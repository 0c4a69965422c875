import { defineModule, fn, LogThrottle, optional, required, z } from '../../core/module.ts';
import { FileSink } from './file-sink.ts';
import type { CallEvents, RelaySessionEnd, RelaySessionEnds } from './module-apis.ts';
import { answerRecord, endRecord, startRecord, type CallRecord } from './record.ts';
import { Webhook } from './webhook.ts';

export type { CallRecord, CallResult, MediaLeg } from './record.ts';

const EVENTS = ['start', 'answer', 'end'] as const;

const schema = z.object({
  /** JSON lines, one record per line, appended; a relative path is taken from the working directory. */
  file: z.string().min(1).optional(),
  /** Each record is also POSTed here as JSON. */
  webhook: z.object({
    url: z.url({ protocol: /^https?$/ }),
    timeoutMs: z.number().int().positive().default(3000),
    /** Requests in flight at once. */
    concurrency: z.number().int().min(1).max(64).default(4),
    /** Records waiting beyond those are dropped and counted. */
    maxQueued: z.number().int().min(1).default(10_000),
    /** Extra request headers, e.g. an Authorization. */
    headers: z.record(z.string(), z.string()).default({}),
  }).strict().optional(),
  /** Which events are recorded (reloadable). */
  events: z.array(z.enum(EVENTS)).min(1).default([...EVENTS]),
  /** Bytes that may wait for the disk before new records are dropped. */
  maxBufferedBytes: z.number().int().positive().default(16 << 20),
}).refine((o) => o.file !== undefined || o.webhook !== undefined, { message: 'give a file, a webhook or both', path: ['file'] });

interface RecordsState {
  readonly file: FileSink | null;
  readonly webhook: Webhook | null;
  /** Media counters of the sessions that ended so far, by the Call-ID of a call in progress. */
  readonly media: Map<string, RelaySessionEnd[]>;
}

export const callRecords = defineModule({
  name: 'call-records',
  description: 'Writes a record per call start, answer and end (who, when, duration, end reason, media counters per leg)',
  schema,
  reloadable: ['events'],
  dependsOn: { dialog: required<CallEvents>('dialog'), mediaRelay: optional<RelaySessionEnds>('media-relay') },

  setup: ({ config, deps, log }): RecordsState => {
    const failures = new LogThrottle(10_000);
    const fail = (what: string) => (why: unknown): void => {
      const held = failures.pass();
      if (held !== null) log.warn({ err: why, held }, `call records: ${what} failed`);
    };
    const o = config();
    const state: RecordsState = {
      file: o.file !== undefined ? new FileSink(o.file, o.maxBufferedBytes, fail(`writing ${o.file}`)) : null,
      webhook: o.webhook !== undefined ? new Webhook(o.webhook.url, o.webhook, fail(`POST to ${o.webhook.url}`)) : null,
      media: new Map(),
    };
    const emit = (r: CallRecord): void => {
      if (!config().events.includes(r.event)) return;
      const line = JSON.stringify(r);
      state.file?.write(line);
      state.webhook?.post(line);
    };

    deps.dialog.onStarted(({ dialog }) => {
      state.media.set(dialog.callId, []);
      emit(startRecord(dialog));
    });
    deps.dialog.onConfirmed(({ dialog }) => emit(answerRecord(dialog)));
    // media-relay is set up first (a dependency), so it has ended a call's sessions before this sees the call end.
    deps.mediaRelay?.backend.onEnded((e) => { state.media.get(e.key.callId)?.push(e); });
    deps.dialog.onEnded((e) => {
      const media = state.media.get(e.dialog.callId) ?? [];
      state.media.delete(e.dialog.callId);
      emit(endRecord(e, media, Date.now()));
    });
    return state;
  },

  functions: ({ state }) => ({
    /** What was recorded and dropped so far. */
    callRecordCounts: fn(['request', 'reply', 'failure'], () => ({
      ok: true as const,
      written: state.file?.written ?? 0,
      droppedFile: state.file?.dropped ?? 0,
      posted: state.webhook?.sent ?? 0,
      postFailures: state.webhook?.failed ?? 0,
      droppedWebhook: state.webhook?.dropped ?? 0,
    })),
  }),

  operations: ({ state }) => ({
    metrics: [{
      name: 'switchyard_call_records_total', type: 'counter', labelNames: ['sink', 'result'],
      help: 'Call records by where they went (file, webhook) and how (written or posted; failed: the webhook answered an error or nothing; dropped: over the bound while the sink was behind)',
      read: () => [
        ...(state.file == null ? [] : [
          { labels: { sink: 'file', result: 'written' }, value: state.file.written }, { labels: { sink: 'file', result: 'dropped' }, value: state.file.dropped },
        ]),
        ...(state.webhook == null ? [] : [
          { labels: { sink: 'webhook', result: 'posted' }, value: state.webhook.sent }, { labels: { sink: 'webhook', result: 'failed' }, value: state.webhook.failed },
          { labels: { sink: 'webhook', result: 'dropped' }, value: state.webhook.dropped },
        ]),
      ],
    }],
  }),

  onClose: async ({ state }) => {
    state.webhook?.close();
    await state.file?.close();
  },
});
