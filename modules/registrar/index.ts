import { z } from 'zod';
import { sameEndpoint } from '../../core/address.ts';
import { respondVerdict, type Verdict } from '../../core/dispatch/verdict.ts';
import { defineModule, fn } from '../../core/modules/define.ts';
import { MemoryLocationStore } from './memory-store.ts';
import { registerSip } from './sip-register.ts';
import type { Binding, LocationStore } from './store.ts';

export type { Binding, LocationStore };

export type LookupResult =
  | { readonly ok: true; readonly bindings: readonly Binding[] }
  | { readonly ok: false; readonly reason: 'not-found' };

/** What other modules (call routing) use of the registrar. */
export interface RegistrarApi {
  lookup(aor: string): Promise<LookupResult>;
}

async function lookupIn(store: LocationStore, aor: string): Promise<LookupResult> {
  const bindings = await store.lookup(aor);
  return bindings.length > 0 ? { ok: true, bindings } : { ok: false, reason: 'not-found' };
}

const schema = z.object({
  /** Users the table holds at most; REGISTER of a new user beyond it gets 503. */
  maxUsers: z.number().int().positive().default(100_000),
  /** Lifetime of a plain-protocol binding in seconds; 0 keeps it until the user registers again. */
  plainBindingTtlSec: z.number().int().min(0).default(0),
  /** SIP: a shorter registration gets 423 Interval Too Brief with this Min-Expires. */
  minExpiresSec: z.number().int().min(1).default(60),
  /** SIP: longer registrations are granted this long. */
  maxExpiresSec: z.number().int().min(1).default(3600),
  /** SIP: the expiry when the REGISTER names none. */
  defaultExpiresSec: z.number().int().min(1).default(3600),
  /** SIP: contacts one user may register at once (all of them ring in parallel). */
  maxContacts: z.number().int().min(1).default(10),
});

export const registrar = defineModule({
  name: 'registrar',
  description: 'REGISTER handling and the location table (who is reachable where)',
  schema,
  reloadable: ['maxUsers', 'plainBindingTtlSec', 'minExpiresSec', 'maxExpiresSec', 'defaultExpiresSec', 'maxContacts'],

  setup: (): { store: LocationStore } => ({ store: new MemoryLocationStore() }),

  functions: ({ state, config }) => ({
      /** Saves the sender's address as the binding of the registering user and answers (plain: ACK_REGISTER). */
      register: fn(['request'], (mc): Promise<Verdict> => {
        const msg = mc.msg;
        if (msg.method !== 'REGISTER') return Promise.resolve(mc.claim(respondVerdict(405, 'register() needs a REGISTER')));
        const fulfil = mc.reserve('register');
        if (msg.dialect === 'sip') return mc.track(registerSip(mc, state.store, config()).then(fulfil));
        return mc.track((async () => {
          const aor = msg.from.user;
          const existing = await state.store.lookup(aor);
          if (existing.length === 0 && state.store.size() >= config().maxUsers) return fulfil(respondVerdict(503, 'registrar full'));
          const ttl = config().plainBindingTtlSec;
          const now = Date.now();
          // The plain binding replaces the user's plain binding; SIP contacts of the same user stay.
          await state.store.replace(aor, [...existing.filter((b) => b.dialect !== 'plain'), {
            aor, dialect: msg.dialect, listener: msg.listener, address: msg.source, registeredAt: now,
            expiresAt: ttl > 0 ? now + ttl * 1000 : null,
          }]);
          mc.log.debug({ aor, at: msg.source }, 'registered');
          return fulfil(respondVerdict(200, 'OK'));
        })());
      }),

      /** Where `user` (default: the request's callee) is registered. */
      lookup: fn(['request', 'failure'], (mc, user?: string): Promise<LookupResult> => mc.track(lookupIn(state.store, user ?? mc.msg.ruri.user))),

      /** True when `user` (default: the caller) is registered at the address this request came from. */
      registeredAtSource: fn(['request'], (mc, user?: string): Promise<boolean> =>
        mc.track(state.store.lookup(user ?? mc.msg.from.user).then((bs) => bs.some((b) => sameEndpoint(b.address, mc.msg.source))))),
  }),

  api: ({ state }): RegistrarApi => ({ lookup: (aor) => lookupIn(state.store, aor) }),

  onClose: ({ state }) => state.store.close(),
});
