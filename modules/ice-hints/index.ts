import { z } from 'zod';
import { defineModule, fn, optional } from '../../core/kernel/define-module.ts';
import type { Sdp } from '../../core/dialects/sip/codec/sdp.ts';
import type { DialogApi } from '../dialog/index.ts';
import { applyIceHints, type IceCandidateMode, type IceHintOptions, type RelayedStream } from './rewrite.ts';

export type { IceCandidateMode, IceHintOptions, RelayedStream };

/** Which leg's SDP: the one sent toward the callee (offers of the caller) or toward the caller. */
export type Leg = 'callee' | 'caller';

export interface IceHintsApi {
  /** Applies the call's hints to an SDP the relay has just rewritten. */
  apply(sdp: Sdp, streams: readonly RelayedStream[], advertise: string, callId: string, toward: Leg): boolean;
}

/** Per-call choices a route script makes with `setIceHints()`. */
export interface IceHintsOverride {
  candidate?: IceCandidateMode;
  dropIPv6Candidates?: boolean;
  /** Remove ICE from the SDP sent toward this leg, or both (bridging an ICE client to a non-ICE one). */
  removeIce?: 'none' | Leg | 'both';
}

const schema = z.object({
  /** MediaProxy's ice_candidate: add the relay as an ICE candidate of this class, or not at all. */
  candidate: z.enum(['none', 'low-priority', 'high-priority']).default('none'),
  /** Remove IPv6 candidates from every SDP the relay rewrites. */
  dropIPv6Candidates: z.boolean().default(false),
  /** Remove ICE from the SDP sent toward a leg. */
  removeIce: z.enum(['none', 'callee', 'caller', 'both']).default('none'),
});

/** Calls a route has overridden; bounded, and forgotten when the call's dialog ends. */
const MAX_OVERRIDES = 100_000;

export const iceHints = defineModule({
  name: 'ice-hints',
  description: 'ICE candidate hints for relayed SDP: the relay as a low- or high-priority candidate, IPv6 candidates or ICE removed',
  schema,
  reloadable: ['candidate', 'dropIPv6Candidates', 'removeIce'],
  dependsOn: { dialog: optional<DialogApi>('dialog') },

  setup: ({ deps }): { overrides: Map<string, IceHintsOverride> } => {
    const overrides = new Map<string, IceHintsOverride>();
    deps.dialog?.onEnded(({ dialog }) => { overrides.delete(dialog.callId); });
    return { overrides };
  },

  functions: ({ state }) => ({
    /** Overrides the module's ICE hints for this call (MediaProxy's ice_candidate_avp, typed). */
    setIceHints: fn(['request'], (mc, o: IceHintsOverride): { readonly ok: true } => {
      const m = state.overrides;
      if (m.size >= MAX_OVERRIDES && !m.has(mc.msg.callId)) m.delete(m.keys().next().value!);
      m.set(mc.msg.callId, { ...m.get(mc.msg.callId), ...o });
      return { ok: true };
    }),
  }),

  api: ({ state, config }): IceHintsApi => ({
    apply(sdp, streams, advertise, callId, toward) {
      const c = config();
      const o = state.overrides.get(callId) ?? {};
      const removeIce = o.removeIce ?? c.removeIce;
      const options: IceHintOptions = {
        candidate: o.candidate ?? c.candidate,
        dropIPv6Candidates: o.dropIPv6Candidates ?? c.dropIPv6Candidates,
        removeIce: removeIce === 'both' || removeIce === toward,
      };
      return applyIceHints(sdp, streams, advertise, options);
    },
  }),
});
