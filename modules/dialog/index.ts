import { z } from 'zod';
import { defineModule, fn, OpenMap, type CallInfo, type Endpoint } from '../../core/module.ts';
import type { Dialog, DialogEndReason } from './dialog.ts';
import { hangup, noteCSeq, sipDialogEnds } from './hangup.ts';

export type { Dialog, DialogEndReason };

type Listener<E> = (e: E) => void;

export interface DialogEvent { readonly dialog: Dialog }
export interface DialogEndEvent { readonly dialog: Dialog; readonly reason: DialogEndReason }

/** What other modules (media relay) use to follow calls. */
export interface DialogApi {
  get(callId: string): Dialog | undefined;
  /** The other party's address as seen from `user` in the dialog. */
  peerOf(callId: string, user: string): Endpoint | undefined;
  onConfirmed(l: Listener<DialogEvent>): void;
  onEnded(l: Listener<DialogEndEvent>): void;
  terminate(callId: string, reason: DialogEndReason): boolean;
  count(): number;
}

const schema = z.object({
  /** A dialog that lasts longer than this (no BYE seen) is ended, as Kamailio's dialog timeout. */
  maxDurationSec: z.number().int().positive().default(43_200),
});

/** Calls counted as they start, are answered and end (one step per call, read by the admin listener). */
interface CallCounts {
  readonly started: Record<string, number>;
  readonly answered: Record<string, number>;
  readonly ended: Record<string, number>;
}

interface DialogState {
  readonly dialogs: OpenMap<Dialog>;
  readonly counts: CallCounts;
  readonly confirmed: Set<Listener<DialogEvent>>;
  readonly ended: Set<Listener<DialogEndEvent>>;
  end(d: Dialog, reason: DialogEndReason): void;
}

export const dialog = defineModule({
  name: 'dialog',
  description: 'Tracks calls from INVITE to BYE, failure or timeout, so other modules can follow a whole call',
  schema,
  reloadable: ['maxDurationSec'], // applies to dialogs created after the reload

  setup: ({ core, config, log }): DialogState => {
    const dialogs = new OpenMap<Dialog>();
    const counts: CallCounts = { started: { plain: 0, sip: 0 }, answered: { plain: 0, sip: 0 }, ended: {} };
    const confirmed = new Set<Listener<DialogEvent>>();
    const ended = new Set<Listener<DialogEndEvent>>();
    const end = (d: Dialog, reason: DialogEndReason): void => {
      if (d.state === 'ended') return;
      d.state = 'ended';
      counts.ended[reason] = (counts.ended[reason] ?? 0) + 1;
      if (d.lifetimeTimer !== null) clearTimeout(d.lifetimeTimer);
      if (dialogs.get(d.callId) === d) dialogs.delete(d.callId);
      log.debug({ callId: d.callId, reason }, 'dialog ended');
      for (const l of ended) l({ dialog: d, reason });
    };

    core.hooks.onRequestForward(({ request, target, txn }) => {
      if (request.method === 'INVITE' && txn !== null && !request.inDialog) {
        const existing = dialogs.get(request.callId);
        if (existing !== undefined && existing.invite === request) {
          existing.calleeAddress = target; // a failure route forwarded the call elsewhere
          return;
        }
        if (existing !== undefined) end(existing, 'replaced');
        const d: Dialog = {
          callId: request.callId, dialect: request.dialect, caller: request.from.user, callee: request.to.user,
          invite: request, listener: request.listener, ends: null, callerAddress: request.source, calleeAddress: target, state: 'early', createdAt: Date.now(), confirmedAt: null, lifetimeTimer: null,
        };
        d.lifetimeTimer = setTimeout(() => end(d, 'lifetime'), config().maxDurationSec * 1000);
        d.lifetimeTimer.unref();
        dialogs.set(d.callId, d);
        counts.started[d.dialect]!++;
      } else if (request.method === 'BYE') {
        const d = dialogs.get(request.callId);
        if (d !== undefined) end(d, 'bye');
      } else if (request.inDialog && request.method !== 'ACK') {
        const ends = dialogs.get(request.callId)?.ends;
        if (ends != null) noteCSeq(ends, request); // re-INVITE, UPDATE, INFO: the proxy's own BYE must go above
      }
    });

    core.hooks.onAnswer(({ request, reply }) => {
      const d = dialogs.get(request.callId);
      if (d !== undefined && d.invite === request && d.state === 'early') {
        d.state = 'confirmed';
        d.confirmedAt = Date.now();
        counts.answered[d.dialect]!++;
        if (d.dialect === 'sip') d.ends = sipDialogEnds(request, reply);
        for (const l of confirmed) l({ dialog: d });
      }
    });

    core.hooks.onTransactionEnd(({ txn, outcome }) => {
      const d = dialogs.get(txn.request.callId);
      if (d === undefined || d.invite !== txn.request) return;
      if (outcome === 'answered') {
        d.invite = null;
        return;
      }
      // 'withheld': a module stopped the answer (no media port) after this dialog saw it confirmed.
      if (d.state === 'early' || outcome === 'withheld') end(d, outcome === 'timeout' ? 'timeout' : 'failed');
    });

    return { dialogs, counts, confirmed, ended, end };
  },

  functions: ({ state }) => ({
    /** The state of the current call's dialog, or null when there is none. */
    dialogState: fn(['request', 'reply', 'failure'], (mc) => state.dialogs.get(mc.msg.callId)?.state ?? null, () => null),
  }),

  api: ({ state }): DialogApi => ({
    get: (callId) => state.dialogs.get(callId),
    peerOf(callId, user) {
      const d = state.dialogs.get(callId);
      if (d === undefined) return undefined;
      if (user === d.caller) return d.calleeAddress;
      if (user === d.callee) return d.callerAddress;
      return undefined;
    },
    onConfirmed: (l) => { state.confirmed.add(l); },
    onEnded: (l) => { state.ended.add(l); },
    terminate(callId, reason) {
      const d = state.dialogs.get(callId);
      if (d === undefined) return false;
      state.end(d, reason);
      return true;
    },
    count: () => state.dialogs.size,
  }),

  operations: ({ state, core }) => ({
    metrics: [{
      name: 'switchyard_calls_started_total', help: 'Calls (dialogs) started, by dialect', type: 'counter', labelNames: ['dialect'],
      read: () => Object.entries(state.counts.started).map(([dialect, value]) => ({ labels: { dialect }, value })),
    }, {
      name: 'switchyard_calls_answered_total', help: 'Calls answered, by dialect', type: 'counter', labelNames: ['dialect'],
      read: () => Object.entries(state.counts.answered).map(([dialect, value]) => ({ labels: { dialect }, value })),
    }, {
      name: 'switchyard_calls_ended_total', help: 'Calls ended, by reason (bye, failed, timeout, lifetime, replaced, terminated, shutdown)', type: 'counter', labelNames: ['reason'],
      read: () => Object.entries(state.counts.ended).map(([reason, value]) => ({ labels: { reason }, value })),
    }, {
      name: 'switchyard_calls', help: 'Calls in progress (dialogs), by dialect and state', type: 'gauge', labelNames: ['dialect', 'state'],
      read: () => {
        const n = { 'plain/early': 0, 'plain/confirmed': 0, 'sip/early': 0, 'sip/confirmed': 0 } as Record<string, number>;
        for (const d of state.dialogs.values()) if (d.state !== 'ended') n[`${d.dialect}/${d.state}`] = (n[`${d.dialect}/${d.state}`] ?? 0) + 1;
        return Object.entries(n).map(([k, value]) => ({ labels: { dialect: k.split('/')[0]!, state: k.split('/')[1]! }, value }));
      },
    }],
    calls: () => [...state.dialogs.values()].filter((d) => d.state !== 'ended').map((d): CallInfo => ({
      callId: d.callId, dialect: d.dialect, caller: d.caller, callee: d.callee, state: d.state as 'early' | 'confirmed',
      callerAddress: d.callerAddress, calleeAddress: d.calleeAddress, startedAt: d.createdAt, answeredAt: d.confirmedAt,
    })),
    async hangup(callId) {
      const d = state.dialogs.get(callId);
      if (d === undefined || d.state === 'ended') return { ok: false, reason: 'no-such-call' };
      if (d.state !== 'confirmed') return { ok: false, reason: 'not-answered' };
      const sent = hangup(d, core);
      state.end(d, 'terminated'); // its media and timers end now; the BYEs' answers come later
      return sent;
    },
    stats: () => ({
      calls: state.dialogs.size,
      callsStarted: state.counts.started.plain! + state.counts.started.sip!,
      callsAnswered: state.counts.answered.plain! + state.counts.answered.sip!,
    }),
  }),

  onClose: ({ state }) => {
    for (const d of [...state.dialogs.values()]) state.end(d, 'shutdown');
  },
});
