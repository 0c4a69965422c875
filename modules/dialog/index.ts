import { z } from 'zod';
import { defineModule, flowOf, fn, LogThrottle, OpenMap, RequestRefused, sameEndpoint, type CallInfo, type DialectName, type Endpoint, type Request } from '../../core/module.ts';
import type { Dialog, DialogEndReason } from './dialog.ts';
import { hangup, noteCSeq, sipDialogEnds } from './hangup.ts';
import { checkParty } from './party.ts';

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
  /**
   * The other party's address as seen from the sender of an in-dialog request, when it is a
   * dialog of `dialect`: the party other than the one whose address the request came from, else
   * the party other than the one named `user`.
   */
  peerOf(callId: string, sender: { readonly user: string; readonly address: Endpoint }, dialect: DialectName): Endpoint | undefined;
  /** A new call: its INVITE was forwarded. */
  onStarted(l: Listener<DialogEvent>): void;
  onConfirmed(l: Listener<DialogEvent>): void;
  onEnded(l: Listener<DialogEndEvent>): void;
  terminate(callId: string, reason: DialogEndReason): boolean;
  count(): number;
  /**
   * Who sent an in-dialog request: a party of the SIP dialog the proxy follows, a stranger
   * (wrong tags, or the right tags from another address than that party's), or 'unknown' when
   * the proxy follows no such dialog (or the request is not SIP).
   */
  senderOf(request: Request): 'caller' | 'callee' | 'stranger' | 'unknown';
}

const schema = z.object({
  /** A dialog that lasts longer than this (no BYE seen) is ended, as Kamailio's dialog timeout. */
  maxDurationSec: z.number().int().positive().default(43_200),
  /**
   * SIP: an in-dialog request of a dialog the proxy follows must carry the dialog's tags (else
   * 481) and, with this on, come from the IP of the party it names as sender (else 403); an ACK
   * is dropped. Off: the tags alone decide (parties whose signaling moves between addresses).
   */
  checkPartySource: z.boolean().default(true),
});

/** Calls counted as they start, are answered and end (one step per call, read by the admin listener). */
interface CallCounts {
  readonly started: Record<string, number>;
  readonly answered: Record<string, number>;
  readonly ended: Record<string, number>;
}

interface DialogState {
  readonly dialogs: OpenMap<Dialog>;
  readonly started: Set<Listener<DialogEvent>>;
  readonly counts: CallCounts;
  readonly confirmed: Set<Listener<DialogEvent>>;
  readonly ended: Set<Listener<DialogEndEvent>>;
  end(d: Dialog, reason: DialogEndReason, detail?: EndDetail): void;
  dialogOf(callId: string, dialect: DialectName): Dialog | undefined;
  senderOf(request: Request): 'caller' | 'callee' | 'stranger' | 'unknown';
  /** In-dialog requests refused: not from a party of their dialog. */
  readonly refused: { tags: number; source: number };
}

type EndDetail = Pick<DialogEndEvent, 'by' | 'status'>;

export const dialog = defineModule({
  name: 'dialog',
  description: 'Tracks calls from INVITE to BYE, failure or timeout, so other modules can follow a whole call',
  schema,
  reloadable: ['maxDurationSec', 'checkPartySource'], // maxDurationSec applies to dialogs created after the reload

  setup: ({ core, config, log }): DialogState => {
    const dialogs = new OpenMap<Dialog>();
    const started = new Set<Listener<DialogEvent>>();
    const counts: CallCounts = { started: { plain: 0, sip: 0 }, answered: { plain: 0, sip: 0 }, ended: {} };
    const confirmed = new Set<Listener<DialogEvent>>();
    const ended = new Set<Listener<DialogEndEvent>>();
    const end = (d: Dialog, reason: DialogEndReason, detail?: EndDetail): void => {
      if (d.state === 'ended') return;
      const wasConfirmed = d.state === 'confirmed';
      d.state = 'ended';
      counts.ended[reason] = (counts.ended[reason] ?? 0) + 1;
      if (d.lifetimeTimer !== null) clearTimeout(d.lifetimeTimer);
      if (dialogs.get(d.callId) === d) dialogs.delete(d.callId);
      log.debug({ callId: d.callId, reason, ...detail }, 'dialog ended');
      for (const l of ended) l({ dialog: d, reason, ...detail });
      if (wasConfirmed && d.dialect === 'plain' && (reason === 'timeout' || reason === 'lifetime')) hangUp(d);
    };
    // A plain call the proxy ends (its media went idle, it outlived maxDurationSec) is over for
    // both parties too: each gets BYE FROM:<caller> TO:<callee>, the caller first.
    const hangUp = (d: Dialog): void => {
      core.originate({ dialect: 'plain', method: 'BYE', from: d.caller, to: d.callee, targets: [d.callerAddress, d.calleeAddress], listener: d.listener })
        .catch((err: unknown) => { log.error({ err, callId: d.callId }, 'BYE to the parties of an ended call failed'); });
    };
    /** The dialog of this call id in this dialect: a message of one dialect never reads or ends a dialog of the other. */
    const dialogOf = (callId: string, dialect: DialectName): Dialog | undefined => {
      const d = dialogs.get(callId);
      return d !== undefined && d.dialect === dialect ? d : undefined;
    };

    const refused = { tags: 0, source: 0 };
    const refusalLog = new LogThrottle(1000);
    /** The sender of an in-dialog SIP request, checked against the dialog it names. */
    const check = (request: Request) => {
      if (request.dialect !== 'sip' || !request.inDialog) return null;
      const d = dialogOf(request.callId, 'sip');
      if (d === undefined || d.callerTag === undefined || d.state === 'ended') return null;
      return checkParty(d, request, config().checkPartySource);
    };
    const senderOf = (request: Request): 'caller' | 'callee' | 'stranger' | 'unknown' => {
      const c = check(request);
      return c === null ? 'unknown' : c.kind === 'party' ? c.party : 'stranger';
    };

    core.hooks.onRequestForward(({ request, target, txn }) => {
      const c = check(request);
      if (c !== null && c.kind !== 'party') {
        // Someone who knows the Call-ID (or the tags too) but is not the party it claims: the call goes on.
        const tags = c.kind === 'wrong-tags';
        if (tags) refused.tags++;
        else refused.source++;
        const unlogged = refusalLog.pass();
        if (unlogged !== null) {
          log.info({ callId: request.callId, method: request.method, src: `${request.source.address}:${request.source.port}`, why: tags ? 'tags' : `not the ${c.party}'s address`, alsoSinceLastLine: unlogged }, 'in-dialog request refused: not from a party of the dialog');
        }
        throw tags ? new RequestRefused(481, 'Call/Transaction Does Not Exist') : new RequestRefused(403, 'Not A Party Of This Call');
      }
      if (request.method === 'INVITE' && txn !== null && !request.inDialog) {
        const existing = dialogs.get(request.callId);
        if (existing !== undefined && existing.dialect !== request.dialect) return; // another dialect's call keeps its dialog
        if (existing !== undefined && existing.invite === request) {
          existing.calleeAddress = target; // a failure route forwarded the call elsewhere
          return;
        }
        if (existing !== undefined) end(existing, 'replaced');
        const d: Dialog = {
          callId: request.callId, dialect: request.dialect, caller: request.from.user, callee: request.to.user, listener: request.listener, callerTag: request.from.tag,
          invite: request, ends: null, callerAddress: request.source, callerFlow: flowOf(request), calleeFlow: null, calleeAddress: target, state: 'early', createdAt: Date.now(), confirmedAt: null, lifetimeTimer: null,
        };
        d.lifetimeTimer = setTimeout(() => end(d, 'lifetime'), config().maxDurationSec * 1000);
        d.lifetimeTimer.unref();
        dialogs.set(d.callId, d);
        counts.started[d.dialect]!++;
        for (const l of started) l({ dialog: d });
      } else if (request.method === 'BYE') {
        const d = dialogOf(request.callId, request.dialect);
        if (d !== undefined) end(d, 'bye', { by: sentByCaller(d, request) ? 'caller' : 'callee' });
      } else if (request.inDialog && request.method !== 'ACK') {
        const ends = dialogOf(request.callId, request.dialect)?.ends;
        if (ends != null) noteCSeq(ends, request); // re-INVITE, UPDATE, INFO: the proxy's own BYE must go above
      }
    });

    core.hooks.onAnswer(({ request, reply }) => {
      const d = dialogOf(request.callId, request.dialect);
      if (d !== undefined && d.invite === request && d.state === 'early') {
        d.state = 'confirmed';
        d.confirmedAt = Date.now();
        counts.answered[d.dialect]!++;
        d.calleeFlow = flowOf(reply);
        if (d.dialect === 'sip') {
          d.ends = sipDialogEnds(request, reply);
          d.calleeAddress = reply.source; // of the branch that answered
        }
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

    return { dialogs, started, counts, confirmed, ended, end, dialogOf, senderOf, refused };
  },

  functions: ({ state }) => ({
    /** The state of the current call's dialog, or null when there is none (or the request is not from one of its parties). */
    dialogState: fn(['request', 'reply', 'failure'], (mc) => {
      if (mc.kind === 'request' && state.senderOf(mc.msg) === 'stranger') return null;
      return state.dialogOf(mc.msg.callId, mc.msg.dialect)?.state ?? null;
    }, () => null),
  }),

  api: ({ state }): DialogApi => ({
    get: (callId) => state.dialogs.get(callId),
    peerOf(callId, sender, dialect) {
      const d = state.dialogOf(callId, dialect);
      if (d === undefined) return undefined;
      if (sameEndpoint(sender.address, d.callerAddress) && !sameEndpoint(sender.address, d.calleeAddress)) return d.calleeAddress;
      if (sameEndpoint(sender.address, d.calleeAddress) && !sameEndpoint(sender.address, d.callerAddress)) return d.callerAddress;
      if (sender.user === d.caller) return d.calleeAddress;
      if (sender.user === d.callee) return d.callerAddress;
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
    senderOf: (request) => state.senderOf(request),
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
      inDialogRefusedTags: state.refused.tags,
      inDialogRefusedSource: state.refused.source,
      calls: state.dialogs.size,
      callsStarted: state.counts.started.plain! + state.counts.started.sip!,
      callsAnswered: state.counts.answered.plain! + state.counts.answered.sip!,
    }),
  }),

  onClose: ({ state }) => {
    for (const d of [...state.dialogs.values()]) state.end(d, 'shutdown');
  },
});

/** Whether the caller sent `bye`: by its From tag where the dialect has tags, else by its user. */
function sentByCaller(d: Dialog, bye: { readonly from: { readonly user: string; readonly tag?: string } }): boolean {
  return d.callerTag !== undefined && bye.from.tag !== undefined ? bye.from.tag === d.callerTag : bye.from.user === d.caller;
}
