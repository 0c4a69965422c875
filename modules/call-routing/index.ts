import { z } from 'zod';
import { forwardVerdict, respondVerdict, type Verdict } from '../../core/dispatch/verdict.ts';
import type { MessageContext } from '../../core/dispatch/message-context.ts';
import { defineModule, fn, type FailureRouteName, type ReplyRouteName } from '../../core/modules/define.ts';
import { formatEndpoint, type Endpoint } from '../../core/address.ts';
import type { DialogApi } from '../dialog/index.ts';
import type { RegistrarApi } from '../registrar/index.ts';

export interface ForwardCallOptions {
  /** Forward to this user's binding instead of the request's callee. */
  to?: string;
  /** The failure route to run if the call fails or is not answered (a key of `routes.failure`). */
  onFailure?: FailureRouteName;
  /** The reply route to run for each reply of the call (a key of `routes.reply`). */
  onReply?: ReplyRouteName;
  /** Overrides the module's answer timeout for this call. */
  answerTimeoutSec?: number;
}

const schema = z.object({
  /** How long a call may ring before the caller gets CALL_FAILED ... no answer (SIP: 408). */
  answerTimeoutSec: z.number().positive().default(30),
});

export const callRouting = defineModule({
  name: 'call-routing',
  description: 'Forwards calls and in-dialog requests to where the callee is registered',
  schema,
  reloadable: ['answerTimeoutSec'],
  dependsOn: { registrar: 'required', dialog: 'optional' },

  setup: () => ({}),

  functions: ({ config, core, dep }) => {
    const registrar = (): RegistrarApi => dep<RegistrarApi>('registrar')!;

    /** Where a request goes: an in-dialog request to the other party of its dialog, otherwise to the callee's binding. */
    const resolveTarget = async (mc: MessageContext, user: string): Promise<Endpoint | null> => {
      const msg = mc.msg;
      if (msg.inDialog && user === msg.ruri.user) {
        const peer = dep<DialogApi>('dialog')?.peerOf(msg.callId, msg.from.user);
        if (peer !== undefined) return peer;
      }
      const found = await registrar().lookup(user);
      return found.ok ? found.bindings[0]!.address : null;
    };

    return {
      /**
       * Forwards the request: a call to the callee's registered address with a pending-call
       * transaction and answer timeout; an in-dialog request to the other party. An unknown
       * callee is answered 404 "unknown peer" (plain: CALL_FAILED unknown peer).
       */
      forwardCall: fn(['request', 'failure'], (mc, opts: ForwardCallOptions = {}): Promise<Verdict> => {
        const fulfil = mc.reserve('forwardCall');
        return mc.track((async () => {
          const user = opts.to ?? mc.msg.ruri.user;
          const target = await resolveTarget(mc, user);
          if (target === null) return fulfil(respondVerdict(404, 'unknown peer'));
          const answerTimeoutSec = opts.answerTimeoutSec ?? config().answerTimeoutSec;
          core.forward(mc, {
            targets: [{ address: target }], answerTimeoutMs: answerTimeoutSec * 1000,
            ...(opts.onFailure !== undefined ? { onFailure: opts.onFailure } : {}),
            ...(opts.onReply !== undefined ? { onReply: opts.onReply } : {}),
          });
          return fulfil(forwardVerdict(`${user} at ${formatEndpoint(target)}`));
        })());
      }),
    };
  },
});
