import { z } from 'zod';
import { defineModule, fn, OpenMap, type Endpoint } from '../../core/module.ts';
import type { Dialog, DialogEndReason } from './dialog.ts';

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

interface DialogState {
  readonly dialogs: OpenMap<Dialog>;
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
    const confirmed = new Set<Listener<DialogEvent>>();
    const ended = new Set<Listener<DialogEndEvent>>();
    const end = (d: Dialog, reason: DialogEndReason): void => {
      if (d.state === 'ended') return;
      d.state = 'ended';
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
          invite: request, callerAddress: request.source, calleeAddress: target, state: 'early', createdAt: Date.now(), confirmedAt: null, lifetimeTimer: null,
        };
        d.lifetimeTimer = setTimeout(() => end(d, 'lifetime'), config().maxDurationSec * 1000);
        d.lifetimeTimer.unref();
        dialogs.set(d.callId, d);
      } else if (request.method === 'BYE') {
        const d = dialogs.get(request.callId);
        if (d !== undefined) end(d, 'bye');
      }
    });

    core.hooks.onAnswer(({ request }) => {
      const d = dialogs.get(request.callId);
      if (d !== undefined && d.invite === request && d.state === 'early') {
        d.state = 'confirmed';
        d.confirmedAt = Date.now();
        for (const l of confirmed) l({ dialog: d });
      }
      return 'pass';
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

    return { dialogs, confirmed, ended, end };
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

  onClose: ({ state }) => {
    for (const d of [...state.dialogs.values()]) state.end(d, 'shutdown');
  },
});
