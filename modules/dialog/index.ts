import { z } from 'zod';
import { defineModule, fn, OpenMap, type Endpoint } from '../../core/module.ts';
import type { Dialog, DialogEndReason } from './dialog.ts';

export type { Dialog, DialogEndReason };

type Listener<E> = (e: E) => void;

export interface DialogEvent { readonly dialog: Dialog }
export interface DialogEndEvent {
  readonly dialog: Dialog;
  readonly reason: DialogEndReason;
  /** For 'bye': the party whose BYE ended the call. */
  readonly by?: 'caller' | 'callee';
  /** For 'failed' and 'timeout': the final status of the call's INVITE. */
  readonly status?: number;
}

/** What other modules (media relay) use to follow calls. */
export interface DialogApi {
  get(callId: string): Dialog | undefined;
  /** The other party's address as seen from `user` in the dialog. */
  peerOf(callId: string, user: string): Endpoint | undefined;
  /** A new call: its INVITE was forwarded. */
  onStarted(l: Listener<DialogEvent>): void;
  onConfirmed(l: Listener<DialogEvent>): void;
  onEnded(l: Listener<DialogEndEvent>): void;
  terminate(callId: string, reason: DialogEndReason): boolean;
  count(): number;
}

const schema = z.object({
  /** A dialog that lasts longer than this (no BYE seen) is ended, as Kamailio's dialog timeout. */
  maxDurationSec: z.number().int().positive().default(43_200),
});

interface DialogState {
  readonly dialogs: OpenMap<Dialog>;
  readonly started: Set<Listener<DialogEvent>>;
  readonly confirmed: Set<Listener<DialogEvent>>;
  readonly ended: Set<Listener<DialogEndEvent>>;
  end(d: Dialog, reason: DialogEndReason, detail?: EndDetail): void;
}

type EndDetail = Pick<DialogEndEvent, 'by' | 'status'>;

export const dialog = defineModule({
  name: 'dialog',
  description: 'Tracks calls from INVITE to BYE, failure or timeout, so other modules can follow a whole call',
  schema,
  reloadable: ['maxDurationSec'], // applies to dialogs created after the reload

  setup: ({ core, config, log }): DialogState => {
    const dialogs = new OpenMap<Dialog>();
    const started = new Set<Listener<DialogEvent>>();
    const confirmed = new Set<Listener<DialogEvent>>();
    const ended = new Set<Listener<DialogEndEvent>>();
    const end = (d: Dialog, reason: DialogEndReason, detail?: EndDetail): void => {
      if (d.state === 'ended') return;
      d.state = 'ended';
      if (d.lifetimeTimer !== null) clearTimeout(d.lifetimeTimer);
      if (dialogs.get(d.callId) === d) dialogs.delete(d.callId);
      log.debug({ callId: d.callId, reason, ...detail }, 'dialog ended');
      for (const l of ended) l({ dialog: d, reason, ...detail });
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
          callId: request.callId, dialect: request.dialect, caller: request.from.user, callee: request.to.user, callerTag: request.from.tag,
          invite: request, callerAddress: request.source, calleeAddress: target, state: 'early', createdAt: Date.now(), confirmedAt: null, lifetimeTimer: null,
        };
        d.lifetimeTimer = setTimeout(() => end(d, 'lifetime'), config().maxDurationSec * 1000);
        d.lifetimeTimer.unref();
        dialogs.set(d.callId, d);
        for (const l of started) l({ dialog: d });
      } else if (request.method === 'BYE') {
        const d = dialogs.get(request.callId);
        if (d !== undefined) end(d, 'bye', { by: sentByCaller(d, request) ? 'caller' : 'callee' });
      }
    });

    core.hooks.onAnswer(({ request }) => {
      const d = dialogs.get(request.callId);
      if (d !== undefined && d.invite === request && d.state === 'early') {
        d.state = 'confirmed';
        d.confirmedAt = Date.now();
        for (const l of confirmed) l({ dialog: d });
      }
    });

    core.hooks.onTransactionEnd(({ txn, outcome, status }) => {
      const d = dialogs.get(txn.request.callId);
      if (d === undefined || d.invite !== txn.request) return;
      if (outcome === 'answered') {
        d.invite = null;
        return;
      }
      // 'withheld': a module stopped the answer (no media port) after this dialog saw it confirmed.
      if (d.state === 'early' || outcome === 'withheld') end(d, outcome === 'timeout' ? 'timeout' : 'failed', { status });
    });

    return { dialogs, started, confirmed, ended, end };
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
    onStarted: (l) => { state.started.add(l); },
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

  onClose: ({ state }) => {
    for (const d of [...state.dialogs.values()]) state.end(d, 'shutdown');
  },
});

/** Whether the caller sent `bye`: by its From tag where the dialect has tags, else by its user. */
function sentByCaller(d: Dialog, bye: { readonly from: { readonly user: string; readonly tag?: string } }): boolean {
  return d.callerTag !== undefined && bye.from.tag !== undefined ? bye.from.tag === d.callerTag : bye.from.user === d.caller;
}
