import { defineModule, fn, respondVerdict, sameEndpoint, z, type Verdict } from '../../core/module.ts';
import { MemoryLocationStore } from './memory-store.ts';
import { parseNodeAddress, reachableBindings } from './node-forwarding.ts';
import { RedisLocationStore } from './redis-store.ts';
import { register } from './register.ts';
import type { Binding, LocationStore, LocationUpdate, StoreMoment } from './store.ts';

export type { Binding, LocationStore, LocationUpdate, StoreMoment };

export type LookupResult =
  | { readonly ok: true; readonly bindings: readonly Binding[] }
  /** `unavailable`: the store did not answer (a shared store that is down). */
  | { readonly ok: false; readonly reason: 'not-found' | 'unavailable' };

/** What other modules (call routing) use of the registrar. */
export interface RegistrarApi {
  lookup(aor: string): Promise<LookupResult>;
}

async function lookupIn(store: LocationStore, aor: string, self: string | undefined): Promise<LookupResult> {
  let stored: readonly Binding[];
  try {
    stored = await store.lookup(aor);
  } catch {
    return { ok: false, reason: 'unavailable' };
  }
  const bindings = reachableBindings(stored, self);
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
  /**
   * Where bindings live: `memory` (this process; the default, needs no server) or a Redis or
   * Valkey URL (`redis://host:port/db`, `rediss://...`, `unix:///path`) shared by several
   * proxies, so that registrations survive a restart and every proxy sees them.
   */
  store: z.string().refine((s) => s === 'memory' || /^(rediss?|unix):\/\//.test(s), { message: 'expected "memory" or a redis://, rediss:// or unix:// URL' }).default('memory'),
  /** Keys in a shared store start with it. */
  storePrefix: z.string().default('switchyard:'),
  /**
   * With a shared store: this proxy's SIP address as the others reach it (`host:port`). Bindings
   * made here record it; another proxy sends requests for those users here (where their NAT
   * pinhole and connection are) rather than to the contact. Plain-protocol users are reached
   * from the proxy they registered with only: the plain protocol has no hop between proxies.
   */
  nodeAddress: z.string().refine((s) => parseNodeAddress(s) !== null, { message: 'expected host:port or [ipv6]:port' }).optional(),
});

export const registrar = defineModule({
  name: 'registrar',
  description: 'REGISTER handling and the location table (who is reachable where)',
  schema,
  reloadable: ['maxUsers', 'plainBindingTtlSec', 'minExpiresSec', 'maxExpiresSec', 'defaultExpiresSec', 'maxContacts'],

  setup: async ({ config, log }): Promise<{ store: LocationStore }> => {
    const c = config();
    if (c.store === 'memory') return { store: new MemoryLocationStore() };
    return { store: await RedisLocationStore.open({ url: c.store, prefix: c.storePrefix, log }) };
  },

  functions: ({ state, config }) => ({
    /** Records where the registering user is and answers: plain ACK_REGISTER, SIP 200 with the contact list. */
    register: fn(['request'], (mc): Promise<Verdict> => {
      if (mc.msg.method !== 'REGISTER') return Promise.resolve(mc.claim(respondVerdict(405, 'register() needs a REGISTER')));
      const fulfil = mc.reserve('register');
      return mc.track(register(mc, state.store, config()).then(fulfil));
    }),

    /** Where `user` (default: the request's callee) is registered. */
    lookup: fn(['request', 'failure'], (mc, user?: string): Promise<LookupResult> => mc.track(lookupIn(state.store, user ?? mc.msg.ruri.user, config().nodeAddress))),

    /** True when `user` (default: the caller) is registered at the address this request came from. */
    registeredAtSource: fn(['request'], (mc, user?: string): Promise<boolean> =>
      mc.track(state.store.lookup(user ?? mc.msg.from.user).then((bs) => bs.some((b) => sameEndpoint(b.address, mc.msg.source)), () => false)), () => Promise.resolve(false)),
  }),

  api: ({ state, config }): RegistrarApi => ({ lookup: (aor) => lookupIn(state.store, aor, config().nodeAddress) }),

  onClose: ({ state }) => state.store.close(),
});
