import path from 'node:path';
import { z } from 'zod';
import { AddressSet, defineModule, fn, LogThrottle, parseCidr, respondVerdict, type Logger, type MessageContext, type Request } from '../../core/module.ts';
import { UsersFileStore, type CredentialStore, type UsersFileLoad } from './credentials.ts';
import { algorithmParts, DIGEST_ALGORITHMS, type DigestAlgorithm, type DigestHash } from './digest.ts';
import { NonceCounts } from './nonce-count.ts';
import { nonceKey, NonceMint } from './nonce.ts';
import { authRequestOf, canChallenge, carriesCredentials, claimedUser, verdictOf, type AuthFlow } from './sip-adapter.ts';
import { DigestVerifier, type AuthDecision, type AuthPolicy, type ChallengeReason } from './verify.ts';

export type { CredentialStore, DigestAlgorithm, DigestHash };

/** Why a request did not pass. */
export type AuthFailure =
  /** Answered with a challenge (401/407): no credentials yet, a wrong password or unknown user, a stale nonce, a replay. */
  | ChallengeReason
  /** Answered 403: the credentials are right, but for another user than the one the request claims. */
  | 'identity-mismatch'
  /** Answered 400: credentials that cannot be read, or computed for another Request-URI. */
  | 'malformed'
  /** Answered 503: the credential store failed. */
  | 'store-unavailable'
  /** Not answered: ACK and CANCEL cannot be challenged. */
  | 'not-challengeable'
  /** Not answered: the plain protocol has no authentication (only trusted peers pass). */
  | 'no-authentication-in-dialect';

export type AuthResult =
  | { readonly ok: true; readonly user: string; readonly by: 'digest' | 'trusted-peer' }
  | { readonly ok: false; readonly reason: AuthFailure };

const REALM = /^[\x20-\x7e]{1,128}$/;

const schema = z.object({
  /** The protection space named in every challenge; users' HA1 are computed with it. */
  realm: z.string().regex(REALM, 'printable ASCII, at most 128 characters').refine((r) => !/[":\\]/.test(r), 'no quote, colon or backslash'),
  /** The users file (format in modules/auth/README.md); a relative path is taken from the working directory. Reloaded when it changes. */
  usersFile: z.string().min(1).optional(),
  /** Another credential store instead of a users file (a database...). */
  credentials: z.custom<CredentialStore>((v) => typeof v === 'object' && v !== null && typeof (v as { ha1?: unknown }).ha1 === 'function', 'a CredentialStore (an object with ha1())').optional(),
  /** Sources that pass without authentication (gateways, peer proxies): addresses or CIDR ranges, IPv4 or IPv6. */
  trustedPeers: z.array(z.string().refine((c) => typeof parseCidr(c) !== 'string', 'an address or address/prefix')).default([]),
  /** Offered in this order, one challenge header each: the most preferred first (RFC 8760). */
  algorithms: z.array(z.enum(DIGEST_ALGORITHMS as [DigestAlgorithm, ...DigestAlgorithm[]])).min(1)
    .refine((a) => new Set(a).size === a.length, 'each algorithm once').default(['SHA-256', 'MD5']),
  /** How long a nonce is valid; a client past it is challenged again with stale=true and retries on its own. */
  nonceTtlSec: z.number().int().min(10).max(86_400).default(300),
  /** The key nonces are signed with, for proxies that share one name (and nonces across restarts); random per process by default. */
  nonceSecret: z.string().min(32).optional(),
  /** Nonces whose counts are remembered at once (a fixed table: under more, the oldest are forgotten and their clients re-challenged). */
  maxTrackedNonces: z.number().int().min(16).max(10_000_000).default(65_536),
}).refine((o) => (o.usersFile === undefined) !== (o.credentials === undefined), 'exactly one of usersFile and credentials');

type AuthConfig = z.output<typeof schema>;

/** What other modules (call routing) ask of auth. */
export interface AuthApi {
  /** How a request passed authentication, if it did: by its credentials, or as a trusted peer's. */
  passed(request: Request): 'digest' | 'trusted-peer' | undefined;
}

interface AuthState {
  /** Requests that passed, and how. */
  readonly passed: WeakMap<Request, 'digest' | 'trusted-peer'>;
  readonly verifier: DigestVerifier;
  readonly store: CredentialStore;
  /** The module opened the store (a users file) and closes it. */
  readonly ownsStore: boolean;
  trusted: AddressSet;
  readonly failureLog: LogThrottle;
  /** Results by failure reason and by how a request passed, for /metrics. */
  readonly counts: AuthCounts;
}

interface AuthCounts {
  readonly failed: Partial<Record<AuthFailure, number>>;
  readonly passed: Record<'digest' | 'trusted-peer', number>;
}

function counted(counts: AuthCounts, r: AuthResult): AuthResult {
  if (r.ok) counts.passed[r.by]++;
  else counts.failed[r.reason] = (counts.failed[r.reason] ?? 0) + 1;
  return r;
}

function policyOf(c: AuthConfig): AuthPolicy {
  return { realm: c.realm, algorithms: c.algorithms, nonceTtlSec: c.nonceTtlSec };
}

function hashesOf(algorithms: readonly DigestAlgorithm[]): DigestHash[] {
  return [...new Set(algorithms.map((a) => algorithmParts(a).hash))];
}

function logUsersFileLoad(log: Logger, file: string, o: UsersFileLoad): void {
  if (!o.ok) {
    log.error({ file, errors: o.errors }, 'users file not loaded: the previous credentials stay');
    return;
  }
  log.info({ file, users: o.users }, 'users file loaded');
  if (o.worldReadable) log.warn({ file }, 'users file is readable by every user of this machine');
  if (o.incomplete.length > 0) {
    log.warn({ file, count: o.incomplete.length, first: o.incomplete.slice(0, 10) }, 'users without credentials for every algorithm offered: they can answer only the others');
  }
}

/** The result a route sees for a decision, and how it is logged. */
function resultOf(d: AuthDecision, mc: MessageContext, failureLog: LogThrottle): AuthResult {
  switch (d.kind) {
    case 'accepted':
      mc.log.debug({ user: d.user, by: d.by, ...(d.by === 'digest' ? { algorithm: d.algorithm } : {}) }, 'authenticated');
      return { ok: true, user: d.user, by: d.by };
    case 'challenge':
      if (d.reason === 'bad-credentials') logFailure(mc, failureLog, { user: d.user, reason: d.reason }, 'authentication failed');
      else mc.log.debug({ user: d.user, reason: d.reason }, 'challenged');
      return { ok: false, reason: d.reason };
    case 'refused':
      logFailure(mc, failureLog, { user: d.user, claimed: d.claimed, reason: d.reason }, 'authenticated user claims another identity');
      return { ok: false, reason: d.reason };
    case 'malformed':
      mc.log.debug({ reason: d.reason }, 'malformed credentials');
      return { ok: false, reason: 'malformed' };
  }
}

/** Failures are logged at most once a second (a password-guessing flood would otherwise flood the log too), with how many were held back. */
function logFailure(mc: MessageContext, throttle: LogThrottle, fields: Record<string, unknown>, msg: string): void {
  const held = throttle.pass();
  if (held !== null) mc.log.info({ ...fields, heldBack: held }, msg);
}

function authenticateAs(mc: MessageContext, state: AuthState, flow: AuthFlow): Promise<AuthResult> {
  const msg = mc.msg;
  if (!canChallenge(msg)) return Promise.resolve(counted(state.counts, { ok: false, reason: 'not-challengeable' }));
  if (!carriesCredentials(msg)) {
    if (!state.trusted.has(msg.source.address)) return Promise.resolve(counted(state.counts, { ok: false, reason: 'no-authentication-in-dialect' }));
    state.passed.set(msg, 'trusted-peer');
    return Promise.resolve(counted(state.counts, { ok: true, user: claimedUser(msg), by: 'trusted-peer' }));
  }
  // Holds the route's verdict while the credentials are checked: a route that forgets to await
  // `authenticate()` and goes on to `register()` fails at once (SY_VERDICT_TWICE).
  const held = mc.reserve('authentication');
  return mc.track(state.verifier.decide(authRequestOf(msg, flow)).then(
    (d): AuthResult => {
      const result = counted(state.counts, resultOf(d, mc, state.failureLog));
      if (d.kind === 'accepted') {
        state.passed.set(msg, d.by);
        held.release();
      }
      else held(verdictOf(d, flow));
      return result;
    },
    (err: unknown): AuthResult => {
      mc.log.error({ err }, 'credential store failed');
      held(respondVerdict(503, 'Service Unavailable', { retryAfterSec: 5 }));
      return counted(state.counts, { ok: false, reason: 'store-unavailable' });
    },
  ));
}

export const auth = defineModule({
  name: 'auth',
  description: 'SIP digest authentication (401 for REGISTER, 407 on the path) with identity checks and trusted peers',
  schema,
  reloadable: ['realm', 'algorithms', 'nonceTtlSec', 'trustedPeers'],

  setup: async ({ config, log }): Promise<AuthState> => {
    const c = config();
    let store: CredentialStore;
    if (c.credentials !== undefined) {
      store = c.credentials;
    } else {
      const file = path.resolve(c.usersFile!);
      store = await UsersFileStore.open({ path: file, offered: hashesOf(c.algorithms), watch: true, onLoad: (o) => logUsersFileLoad(log, file, o) });
    }
    const state: AuthState = {
      passed: new WeakMap(),
      store,
      ownsStore: c.credentials === undefined,
      trusted: new AddressSet(c.trustedPeers),
      failureLog: new LogThrottle(1000),
      counts: { failed: {}, passed: { digest: 0, 'trusted-peer': 0 } },
      verifier: new DigestVerifier({
        store,
        mint: new NonceMint(nonceKey(c.nonceSecret)),
        counts: new NonceCounts(c.maxTrackedNonces),
        policy: () => policyOf(config()),
        trusted: () => state.trusted,
      }),
    };
    log.info({ realm: c.realm, algorithms: c.algorithms, trustedPeers: c.trustedPeers.length }, 'auth ready');
    return state;
  },

  functions: ({ state }) => ({
    /**
     * Authenticates a request to this proxy as registrar (REGISTER) or UAS: without valid
     * credentials it is answered 401 with a WWW-Authenticate per algorithm; credentials of a
     * user other than the address-of-record it registers (To) are answered 403.
     */
    authenticate: fn(['request'], (mc): Promise<AuthResult> => authenticateAs(mc, state, 'www')),

    /**
     * Authenticates a request passing through (a call, a MESSAGE): without valid credentials it
     * is answered 407 with a Proxy-Authenticate per algorithm; credentials of a user other than
     * the caller (From) are answered 403.
     */
    proxyAuthenticate: fn(['request'], (mc): Promise<AuthResult> => authenticateAs(mc, state, 'proxy')),
  }),

  api: ({ state }): AuthApi => ({ passed: (request) => state.passed.get(request) }),

  operations: ({ state }) => ({
    metrics: [{
      name: 'switchyard_auth_failures_total', type: 'counter', labelNames: ['reason'],
      help: 'Requests that did not pass authentication, by reason (no_credentials: a first challenge; bad_credentials: a wrong password or unknown user; stale_nonce, replay, algorithm_not_offered, identity_mismatch, malformed, store_unavailable, not_challengeable, no_authentication_in_dialect)',
      read: () => Object.entries(state.counts.failed).map(([reason, value]) => ({ labels: { reason: reason.replaceAll('-', '_') }, value })),
    }, {
      name: 'switchyard_auth_passed_total', help: 'Requests that passed authentication, by how (digest, trusted_peer)', type: 'counter', labelNames: ['by'],
      read: () => Object.entries(state.counts.passed).map(([by, value]) => ({ labels: { by: by.replaceAll('-', '_') }, value })),
    }],
  }),

  onConfigChange: ({ state, config }, { changed }) => {
    if (changed.includes('trustedPeers')) state.trusted = new AddressSet(config().trustedPeers);
  },

  onClose: async ({ state }) => {
    if (state.ownsStore) await state.store.close?.();
  },
});
