import { z } from 'zod';
import { formatEndpoint, type Endpoint } from '../../core/lib/address.ts';
import type { MessageContext } from '../../core/kernel/message-context.ts';
import { forwardVerdict, respondVerdict, type ForwardPlan, type ForwardTarget, type Verdict } from '../../core/model/verdict.ts';
import { defineModule, fn, optional, required, type FailureRouteName, type ReplyRouteName } from '../../core/kernel/define-module.ts';
import type { Request } from '../../core/model/message.ts';
import { sipRequest } from '../../core/dialects/sip/wire.ts';
import { hasHeader } from '../../core/dialects/sip/codec/message.ts';
import type { DialogApi } from '../dialog/index.ts';
import type { RegistrarApi } from '../registrar/index.ts';

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

    /** Plain: an in-dialog request goes to the other party of its dialog; anything else to the callee's binding. */
    const plainTargets = async (mc: MessageContext, user: string): Promise<ForwardTarget[]> => {
      const msg = mc.msg;
      if (msg.inDialog && user === msg.ruri.user) {
        const peer: Endpoint | undefined = deps.dialog?.peerOf(msg.callId, msg.from.user);
        if (peer !== undefined) return [{ address: peer }];
      }
      const found = await deps.registrar.lookup(user);
      return found.ok ? [{ address: found.bindings[0]!.address }] : [];
    };

    /**
     * SIP: in-dialog requests and requests with a Route set follow it; a new call rings every
     * contact of the user (at the address each registered from); a user this registrar does
     * not know, in a domain that is not this proxy's, is forwarded by its Request-URI.
     */
    const sipTargets = async (mc: MessageContext, opts: ForwardCallOptions): Promise<ForwardTarget[] | 'by-request' | null> => {
      const msg = mc.msg;
      if (opts.toUri !== undefined) return [{ uri: opts.toUri }];
      if (opts.to === undefined && (msg.inDialog || hasHeader(sipRequest(msg), 'route'))) return 'by-request';
      const found = await deps.registrar.lookup(opts.to ?? msg.ruri.user);
      if (found.ok) {
        return found.bindings.map((b): ForwardTarget => ({ address: b.address, uri: b.contact, transport: b.transport, connection: b.connection ?? null }));
      }
      if (opts.to === undefined && msg.ruri.uri !== undefined && !core.isOwnUri(msg.ruri.uri)) return 'by-request';
      return null;
    };

    return {
      /**
       * Forwards the request. A call goes to the callee's registration with a transaction and
       * answer timeout (SIP: to every contact in parallel); an in-dialog request to the other
       * party (SIP: along its Route set). An unknown callee is answered 404 (plain: CALL_FAILED unknown peer).
       */
      forwardCall: fn(['request', 'failure'], (mc, opts: ForwardCallOptions = {}): Promise<Verdict> => {
        const fulfil = mc.reserve('forwardCall');
        return mc.track((async () => {
          const msg = mc.msg;
          const answerTimeoutMs = (opts.answerTimeoutSec ?? config().answerTimeoutSec) * 1000;
          const recordRoute = state.recordRouted.has(msg);
          // One shape for every call (optional fields present, possibly undefined): the engine reads it monomorphically.
          const plan = (targets: readonly ForwardTarget[] | null): ForwardPlan => ({
            targets, answerTimeoutMs, onFailure: opts.onFailure, onReply: opts.onReply, recordRoute,
          });
          if (msg.dialect === 'sip') {
            const targets = await sipTargets(mc, opts);
            if (targets === null) return fulfil(respondVerdict(404, 'Not Found'));
            if (targets === 'by-request') return fulfil(forwardVerdict(plan(null), 'along the route set / Request-URI'));
            return fulfil(forwardVerdict(plan(targets), `${targets.length} contact(s)`));
          }
          const user = opts.to ?? msg.ruri.user;
          const targets = await plainTargets(mc, user);
          if (targets.length === 0) return fulfil(respondVerdict(404));
          return fulfil(forwardVerdict(plan(targets), `${user} at ${formatEndpoint(targets[0]!.address!)}`));
        })());
      }),

      /** SIP: put this proxy in the Record-Route of the call so in-dialog requests come through it (plain: no effect). */
      recordRoute: fn(['request'], (mc): { readonly ok: true } => {
        state.recordRouted.add(mc.msg);
        return { ok: true };
      }),
    };
  },
});
