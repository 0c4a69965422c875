import { randomBytes } from 'node:crypto';
import type { AddressSet } from '../../core/module.ts';
import type { CredentialStore } from './credentials.ts';
import {
  algorithmParts, buildChallenge, computeResponse, digestHex, parseDigestCredentials, sameResponse,
  type DigestAlgorithm, type DigestCredentials, type DigestHash,
} from './digest.ts';
import type { NonceCounts } from './nonce-count.ts';
import type { NonceMint } from './nonce.ts';

/** What one request offers for authentication, read from it by the dialect adapter. */
export interface AuthRequest {
  readonly method: string;
  /** The Request-URI as received: the digest-uri must name it. */
  readonly requestUri: string;
  /** The values of Authorization (401 flow) or Proxy-Authorization (407 flow), in order. */
  readonly credentials: readonly string[];
  /** The sender's address as the socket reports it. */
  readonly source: string;
  /** Who the request says it acts for: the address-of-record for REGISTER (To), the caller otherwise (From). */
  readonly claimedUser: string;
}

export interface AuthPolicy {
  readonly realm: string;
  /** Offered in this order, one challenge each (RFC 8760 §2.4: most preferred first). */
  readonly algorithms: readonly DigestAlgorithm[];
  readonly nonceTtlSec: number;
}

/** Why a request is challenged; only `stale-nonce` and `replay` tell the client (stale=true). */
export type ChallengeReason =
  | 'no-credentials'
  /** Credentials with an algorithm this proxy does not offer. */
  | 'algorithm-not-offered'
  /** Wrong password or unknown user: the same answer for both. */
  | 'bad-credentials'
  /** The right password over a nonce that expired or is not ours (a restart): retry with the new one. */
  | 'stale-nonce'
  /** A nonce count already seen, or a nonce forgotten under pressure. */
  | 'replay';

export type AuthDecision =
  | { readonly kind: 'accepted'; readonly user: string; readonly by: 'digest'; readonly algorithm: DigestAlgorithm }
  | { readonly kind: 'accepted'; readonly user: string; readonly by: 'trusted-peer' }
  | {
      readonly kind: 'challenge'; readonly reason: ChallengeReason; readonly stale: boolean;
      /** Header field values, one per algorithm offered. */
      readonly challenges: readonly string[];
      /** The user the credentials named, when there were some. */
      readonly user: string | null;
    }
  /** Authenticated, but as someone other than the identity the request claims (403). */
  | { readonly kind: 'refused'; readonly reason: 'identity-mismatch'; readonly user: string; readonly claimed: string }
  /** Credentials that cannot be read, or computed over another request (400). */
  | { readonly kind: 'malformed'; readonly reason: string };

export interface VerifierDeps {
  readonly store: CredentialStore;
  readonly mint: NonceMint;
  readonly counts: NonceCounts;
  /** Read per request: options may change on reload. */
  readonly policy: () => AuthPolicy;
  readonly trusted: () => AddressSet;
}

/** Credentials headers read per request at most; more are ignored. */
const MAX_CREDENTIALS = 8;

/**
 * The authentication decision for one request (RFC 3261 §22.2-22.3 with RFC 7616): trusted
 * peers pass; otherwise the Digest credentials for our realm are checked against the store,
 * their nonce for authenticity, age and count, and the user they prove against the identity
 * the request claims.
 */
export class DigestVerifier {
  /** Stands in for the HA1 of an unknown user, so that it costs the same as a wrong password. */
  private readonly decoy: Readonly<Record<DigestHash, string>>;

  constructor(private readonly deps: VerifierDeps) {
    const seed = randomBytes(32).toString('hex');
    this.decoy = { 'MD5': digestHex('MD5', seed), 'SHA-256': digestHex('SHA-256', seed), 'SHA-512-256': digestHex('SHA-512-256', seed) };
  }

  async decide(req: AuthRequest): Promise<AuthDecision> {
    if (this.deps.trusted().has(req.source)) return { kind: 'accepted', user: req.claimedUser, by: 'trusted-peer' };
    const policy = this.deps.policy();
    const picked = pickCredentials(req.credentials, policy.realm);
    if (picked.kind === 'malformed') return picked;
    if (picked.kind === 'none') return this.challenge('no-credentials', null);
    const c = picked.credentials;
    if (!policy.algorithms.includes(c.algorithm)) return this.challenge('algorithm-not-offered', c.username);
    if (!sameUri(c.uri, req.requestUri)) return { kind: 'malformed', reason: 'digest uri is not the Request-URI' };

    const { hash } = algorithmParts(c.algorithm);
    const ha1 = await this.deps.store.ha1(c.username, policy.realm, hash);
    const expected = computeResponse({ algorithm: c.algorithm, ha1: ha1 ?? this.decoy[hash], nonce: c.nonce, cnonce: c.cnonce, nc: c.nc, method: req.method, uri: c.uri });
    if (!sameResponse(expected, c.response) || ha1 === null) return this.challenge('bad-credentials', c.username);

    const nonce = this.deps.mint.check(c.nonce, policy.realm);
    if (nonce.status !== 'fresh') return this.challenge('stale-nonce', c.username);
    if (this.deps.counts.use(c.nonce, nonce.issuedAt, nonce.expiresAt, c.ncValue) !== 'fresh') return this.challenge('replay', c.username);

    if (c.username !== req.claimedUser) return { kind: 'refused', reason: 'identity-mismatch', user: c.username, claimed: req.claimedUser };
    return { kind: 'accepted', user: c.username, by: 'digest', algorithm: c.algorithm };
  }

  /** A fresh nonce, offered with each algorithm of the policy. */
  challenge(reason: ChallengeReason, user: string | null): AuthDecision {
    const { realm, algorithms, nonceTtlSec } = this.deps.policy();
    const nonce = this.deps.mint.issue(realm, nonceTtlSec);
    const stale = reason === 'stale-nonce' || reason === 'replay';
    return { kind: 'challenge', reason, stale, user, challenges: algorithms.map((algorithm) => buildChallenge({ realm, nonce, algorithm, stale })) };
  }
}

type Picked =
  | { readonly kind: 'found'; readonly credentials: DigestCredentials }
  | { readonly kind: 'none' }
  | { readonly kind: 'malformed'; readonly reason: string };

/**
 * The Digest credentials for `realm` among those sent. Credentials of another realm are for
 * another server on the path and are left alone; those of another scheme likewise. Malformed
 * Digest credentials get 400 unless well-formed ones for our realm are there too.
 */
function pickCredentials(values: readonly string[], realm: string): Picked {
  let malformed: string | null = null;
  for (const value of values.slice(0, MAX_CREDENTIALS)) {
    const parsed = parseDigestCredentials(value);
    if (parsed.ok) {
      if (parsed.credentials.realm === realm) return { kind: 'found', credentials: parsed.credentials };
    } else if (!parsed.otherScheme) {
      malformed ??= parsed.reason;
    }
  }
  return malformed !== null ? { kind: 'malformed', reason: `malformed credentials: ${malformed}` } : { kind: 'none' };
}

/** The digest-uri names the Request-URI: the same text, up to the case of its letters (scheme and host are case-insensitive). */
function sameUri(digestUri: string, requestUri: string): boolean {
  return digestUri === requestUri || digestUri.toLowerCase() === requestUri.toLowerCase();
}
