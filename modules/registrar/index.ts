import path from 'node:path';
import { defineModule, fn, respondVerdict, sameEndpoint, z, type DialectName, type Logger, type RegistrationInfo, type Verdict } from '../../core/module.ts';
import { MemoryLocationStore } from './memory-store.ts';
import { ConnectionBindings } from './connection-bindings.ts';
import { parseNodeAddress, reachableBindings } from './node-forwarding.ts';
import { PersistentLocationStore } from './persistent-store.ts';
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
  /** The user's bindings registered in `dialect`: the dialects' users are separate, a binding is reached only in its own. */
  lookup(aor: string, dialect: DialectName): Promise<LookupResult>;
  /** The same, at once where the location store is in this process (call routing needs no promise then). */
  lookupNow(aor: string, dialect: DialectName): LookupResult | Promise<LookupResult>;
}

function registrationInfo(b: Binding): RegistrationInfo {
  return {
    user: b.aor, dialect: b.dialect, address: b.address, listener: b.listener, registeredAt: b.registeredAt, expiresAt: b.expiresAt,
    ...(b.contact !== undefined ? { contact: b.contact } : {}), ...(b.transport !== undefined ? { transport: b.transport } : {}),
  };
}

const UNAVAILABLE: LookupResult = { ok: false, reason: 'unavailable' };
const NOT_FOUND: LookupResult = { ok: false, reason: 'not-found' };

/** The user's bindings of one dialect as this proxy reaches them (`self`: its node address, with a shared store). */
function found(all: readonly Binding[], dialect: DialectName, self: string | undefined): LookupResult {
  const stored = all.every((b) => b.dialect === dialect) ? all : all.filter((b) => b.dialect === dialect);
  const bindings = reachableBindings(stored, self);
  return bindings.length > 0 ? { ok: true, bindings } : NOT_FOUND;
}

/** The user's bindings in `dialect`: at once from an in-process store, a promise from a networked one. */
function lookupIn(store: LocationStore, aor: string, dialect: DialectName, self: string | undefined): LookupResult | Promise<LookupResult> {
  let all: readonly Binding[] | Promise<readonly Binding[]>;
  try {
    all = store.lookup(aor);
  } catch {
    return UNAVAILABLE;
  }
  return all instanceof Promise ? all.then((got) => found(got, dialect, self), () => UNAVAILABLE) : found(all, dialect, self);
}

/** The registrations file when the script names none: in the state directory (see `stateFile`). */
function defaultStateFile(): string {
  const dir = process.env.SWITCHYARD_STATE_DIR || process.env.STATE_DIRECTORY?.split(':')[0] || 'switchyard-state';
  return path.resolve(dir, 'registrations.journal');
}

const schema = z.object({
  /** Users the table holds at most; REGISTER of a new user beyond it gets 503. */
  maxUsers: z.number().int().positive().default(100_000),
  /** Lifetime of a plain-protocol binding in seconds; 0 keeps it until the user registers again. */
  plainBindingTtlSec: z.number().int().min(0).default(0),
  /** Plain: users one source IP may hold; a REGISTER of one more gets `ERROR too many users`. */
  plainMaxUsersPerSource: z.number().int().positive().default(1000),
  /** SIP: users one source IP may hold; a REGISTER of one more gets 403 (a NAT or a gateway registering for many: raise it). */
  sipMaxUsersPerSource: z.number().int().positive().default(1000),
  /**
   * What one user's bindings may take as stored (bytes of their encoding, a few hundred per
   * contact): a REGISTER past it gets 403 Registration Too Large. It bounds the 200 a REGISTER
   * gets too, which lists them.
   */
  maxBytesPerUser: z.number().int().min(256).default(4096),
  /**
   * What the embedded location table may take as stored, all users: a REGISTER that would grow
   * it past this gets 503 Registrar Full (a shared store is bounded by its server's own limit).
   */
  maxBytes: z.number().int().min(65_536).default(128 * 1024 * 1024),
  /** SIP: a shorter registration gets 423 Interval Too Brief with this Min-Expires. */
  minExpiresSec: z.number().int().min(1).default(60),
  /** SIP: longer registrations are granted this long. */
  maxExpiresSec: z.number().int().min(1).default(3600),
  /** SIP: the expiry when the REGISTER names none. */
  defaultExpiresSec: z.number().int().min(1).default(3600),
  /** SIP: contacts one user may register at once (all of them ring in parallel). */
  maxContacts: z.number().int().min(1).default(10),
  /**
   * Where bindings live: `memory` (this process, kept in `stateFile` too; the default, needs no
   * server) or a Redis or Valkey URL (`redis://host:port/db`, `rediss://...`, `unix:///path`)
   * shared by several proxies, so that every proxy sees them.
   */
  store: z.string().refine((s) => s === 'memory' || /^(rediss?|unix):\/\//.test(s), { message: 'expected "memory" or a redis://, rediss:// or unix:// URL' }).default('memory'),
  /**
   * With the embedded store (`memory`): the file its registrations are kept in, so that they
   * survive a crash and a restart; false keeps them in memory only. Default:
   * `registrations.journal` in the state directory: $SWITCHYARD_STATE_DIR, else systemd's
   * $STATE_DIRECTORY, else `switchyard-state` in the working directory. One proxy per file.
   */
  stateFile: z.union([z.string().min(1), z.literal(false)]).optional(),
  /** Keys in a shared store start with it. */
  storePrefix: z.string().default('switchyard:'),
  /**
   * With a shared store: this proxy's SIP address as the others reach it (`host:port`). Bindings
   * made here record it; another proxy sends requests for those users here (where their NAT
   * pinhole and connection are) rather than to the contact. Plain-protocol users are reached
   * from the proxy they registered with only: the plain protocol has no hop between proxies.
   */
  nodeAddress: z.string().refine((s) => parseNodeAddress(s) !== null, { message: 'expected host:port or [ipv6]:port' }).optional(),
  /**
   * SIP: a binding made over a connection of these transports goes when that connection closes
   * (a browser tab closed cannot be reached again, so a call to it gets 480 at once).
   */
  dropOnDisconnect: z.array(z.enum(['tcp', 'tls', 'ws', 'wss'])).default(['ws', 'wss']),
});

/** The location store the options name: Redis, or this process's table, kept in its registrations file unless `stateFile` is false. */
async function openStore(c: z.infer<typeof schema>, log: Logger): Promise<LocationStore> {
  if (c.store !== 'memory') return RedisLocationStore.open({ url: c.store, prefix: c.storePrefix, log });
  const file = c.stateFile ?? defaultStateFile();
  return file === false ? new MemoryLocationStore() : PersistentLocationStore.open({ file, log });
}

export const registrar = defineModule({
  name: 'registrar',
  description: 'REGISTER handling and the location table (who is reachable where)',
  schema,
  // Reading a large registrations file back takes a while: about 8 µs a user.
  setupTimeoutMs: 120_000,
  reloadable: ['maxUsers', 'plainBindingTtlSec', 'plainMaxUsersPerSource', 'sipMaxUsersPerSource', 'maxBytesPerUser', 'maxBytes', 'minExpiresSec', 'maxExpiresSec', 'defaultExpiresSec', 'maxContacts', 'dropOnDisconnect'],

  setup: async ({ core, config, log }): Promise<{ store: LocationStore; flows: ConnectionBindings }> => {
    const c = config();
    const store = await openStore(c, log);
    const flows = new ConnectionBindings(store, () => config().nodeAddress);
    core.hooks.onConnectionClosed((e) => {
      if (!config().dropOnDisconnect.includes(e.transport as 'ws')) return flows.forget(e.connection);
      void flows.closed(e.connection).then(({ removed, users }) => { if (removed > 0) log.debug({ connection: e.connection, transport: e.transport, removed, users }, 'bindings of a closed connection removed'); })
        .catch((err: unknown) => log.warn({ connection: e.connection, err: (err as Error).message }, 'bindings of a closed connection not removed: the location store does not answer'));
    });
    return { store, flows };
  },

  functions: ({ state, config }) => ({
    /** Records where the registering user is and answers: plain ACK_REGISTER, SIP 200 with the contact list. */
    register: fn(['request'], (mc): Promise<Verdict> => {
      if (mc.msg.method !== 'REGISTER') return Promise.resolve(mc.claim(respondVerdict(405, 'register() needs a REGISTER')));
      const fulfil = mc.reserve('register');
      return mc.track(register(mc, state.store, config(), (reg) => state.flows.note(reg)).then(fulfil));
    }),

    /** Where `user` (default: the request's callee) is registered in the request's dialect. */
    lookup: fn(['request', 'failure'], (mc, user?: string): Promise<LookupResult> => {
      const result = lookupIn(state.store, user ?? mc.msg.ruri.user, mc.msg.dialect, config().nodeAddress);
      return result instanceof Promise ? mc.track(result) : Promise.resolve(result);
    }),

    /** True when `user` (default: the caller) is registered, in the request's dialect, at the address this request came from. */
    registeredAtSource: fn(['request'], (mc, user?: string): Promise<boolean> =>
      mc.track(Promise.resolve().then(() => state.store.lookup(user ?? mc.msg.from.user)).then(
        (bs) => bs.some((b) => b.dialect === mc.msg.dialect && sameEndpoint(b.address, mc.msg.source)),
        () => false,
      )), () => Promise.resolve(false)),
  }),

  api: ({ state, config }): RegistrarApi => ({
    lookup: async (aor, dialect) => lookupIn(state.store, aor, dialect, config().nodeAddress),
    lookupNow: (aor, dialect) => lookupIn(state.store, aor, dialect, config().nodeAddress),
  }),

  operations: ({ state }) => ({
    metrics: [
      { name: 'switchyard_registered_users', help: 'Users with at least one live binding in the location table', type: 'gauge', read: () => state.store.size() },
      ...(state.store.bindingsByDialect === undefined ? [] : [{
        name: 'switchyard_registrations', help: 'Registered contacts (bindings) in the location table, by dialect', type: 'gauge' as const, labelNames: ['dialect'],
        read: () => Object.entries(state.store.bindingsByDialect!()).map(([dialect, value]) => ({ labels: { dialect }, value })),
      }]),
    ],
    async registrations({ user, limit }) {
      const bindings = user !== undefined ? (await state.store.lookup(user)).slice(0, limit) : ((await state.store.list?.(limit)) ?? []);
      return bindings.map(registrationInfo);
    },
    stats: () => ({ registeredUsers: state.store.size() }),
    health: () => {
      if (state.store.reachable?.() === false) return { ok: false, detail: 'the location store does not answer' };
      const problem = state.store.problem?.() ?? null;
      return problem === null ? { ok: true } : { ok: false, detail: problem };
    },
  }),

  onClose: ({ state }) => state.store.close(),
});
