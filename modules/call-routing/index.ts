import { z } from 'zod';
import {
  carriesRoute, defineModule, fn, formatEndpoint, forwardVerdict, optional, required, respondVerdict,
  type Endpoint, type FailureRouteName, type ForwardPlan, type ForwardTarget, type MessageContext, type ReplyRouteName, type Request, type Verdict,
} from '../../core/module.ts';
import type { DialogApi } from '../dialog/index.ts';
import type { LookupResult, RegistrarApi } from '../registrar/index.ts';

export interface ForwardCallOptions {
  /** Forward to this user's registration instead of the request's (SIP: Request-URI user; plain: callee). */
  to?: string;
  /** SIP: forward to this URI (it becomes the Request-URI), for a peer proxy or gateway, without a registrar lookup. */
  toUri?: string;
  /** The failure route to run if the call fails or is not answered (a key of `routes.failure`). */
  onFailure?: FailureRouteName;
  /** The reply route to run for each reply of the call (a key of `routes.reply`). */
  onReply?: ReplyRouteName;
  /** Overrides the module's answer timeout for this call. */
  answerTimeoutSec?: number;
}

const schema = z.object({
  /** How long a call may ring before it fails: plain CALL_FAILED ... no answer, SIP 408 (Timer C). */
  answerTimeoutSec: z.number().positive().default(30),
});

interface RoutingState {
  /** Requests whose route asked for Record-Route. */
  readonly recordRouted: WeakSet<Request>;
}

export const callRouting = defineModule({
  name: 'call-routing',
  description: 'Forwards calls to where the callee is registered (forking to every contact), and in-dialog requests along their route',
  schema,
  reloadable: ['answerTimeoutSec'],
  dependsOn: { registrar: required<RegistrarApi>('registrar'), dialog: optional<DialogApi>('dialog') },

  setup: (): RoutingState => ({ recordRouted: new WeakSet() }),

  functions: ({ config, core, deps, state }) => {

    type Targets = readonly ForwardTarget[] | 'by-request' | 'unavailable' | null;

    /** What a registrar lookup gives routing: its bindings, or why there are none. */
    const byLookup = (found: LookupResult, mc: MessageContext, opts: ForwardCallOptions): Targets => {
      if (found.ok) {
        return found.bindings.map((b): ForwardTarget => ({ address: b.address, uri: b.contact, transport: b.transport, connection: b.connection ?? null }));
      }
      if (found.reason === 'unavailable') return 'unavailable';
      if (opts.to === undefined && mc.msg.ruri.uri !== undefined && !core.isOwnUri(mc.msg.ruri.uri)) return 'by-request';
      return null;
    };

    /**
     * Where a request goes: a request that carries its own route (SIP: in a dialog, or with a
     * Route set) along it; a request in a dialog that does not (plain BYE) to the other party of
     * the dialog; anything else to every binding of the user (SIP rings them all in parallel; the
     * plain protocol has one). A user nobody registered, in a domain that is not this proxy's,
     * goes by its Request-URI; here, it is not found. At once unless the location store is
     * networked.
     */
    const targetsOf = (mc: MessageContext, opts: ForwardCallOptions): Targets | Promise<Targets> => {
      const msg = mc.msg;
      if (opts.toUri !== undefined) return [{ uri: opts.toUri }];
      if (opts.to === undefined && carriesRoute(msg)) return 'by-request';
      const user = opts.to ?? msg.ruri.user;
      if (msg.inDialog && user === msg.ruri.user) {
        const peer: Endpoint | undefined = deps.dialog?.peerOf(msg.callId, { user: msg.from.user, address: msg.source }, msg.dialect);
        if (peer !== undefined) return [{ address: peer }];
      }
      const found = deps.registrar.lookupNow(user, msg.dialect);
      return found instanceof Promise ? found.then((f) => byLookup(f, mc, opts)) : byLookup(found, mc, opts);
    };

    return {
      /**
       * Forwards the request. A call goes to the callee's registration with a transaction and
       * answer timeout (SIP: to every contact in parallel); an in-dialog request to the other
       * party (SIP: along its Route set). An unknown callee is answered 404 (plain: CALL_FAILED unknown peer),
       * and 503 while a shared location store does not answer.
       */
      forwardCall: fn(['request', 'failure'], (mc, opts: ForwardCallOptions = {}): Promise<Verdict> => {
        const fulfil = mc.reserve('forwardCall');
        const msg = mc.msg;
        const answerTimeoutMs = (opts.answerTimeoutSec ?? config().answerTimeoutSec) * 1000;
        const recordRoute = state.recordRouted.has(msg);
        // One shape for every call (optional fields present, possibly undefined): the engine reads it monomorphically.
        const plan = (targets: readonly ForwardTarget[] | null): ForwardPlan => ({
          targets, answerTimeoutMs, onFailure: opts.onFailure, onReply: opts.onReply, recordRoute,
        });
        const decide = (targets: Targets): Verdict => {
          if (targets === null) return fulfil(respondVerdict(404));
          // The location store did not answer (a shared store that is down): try again later.
          if (targets === 'unavailable') return fulfil(respondVerdict(503, undefined, { retryAfterSec: 5 }));
          if (targets === 'by-request') return fulfil(forwardVerdict(plan(null), 'along its own route'));
          const first = targets[0]!;
          const where = first.address !== undefined ? formatEndpoint(first.address) : first.uri ?? '';
          return fulfil(forwardVerdict(plan(targets), targets.length === 1 ? `${opts.to ?? msg.ruri.user} at ${where}` : `${targets.length} contacts`));
        };
        const targets = targetsOf(mc, opts);
        // Decided at once, nothing is left for the dispatcher to wait for.
        return targets instanceof Promise ? mc.track(targets.then(decide)) : Promise.resolve(decide(targets));
      }),

      /** SIP: put this proxy in the Record-Route of the call so in-dialog requests come through it (plain: no effect). */
      recordRoute: fn(['request'], (mc): { readonly ok: true } => {
        state.recordRouted.add(mc.msg);
        return { ok: true };
      }),
    };
  },
});
