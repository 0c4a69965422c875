/**
 * Nonces that carry their own issue time and lifetime, authenticated by an HMAC with a secret
 * of this process (or one configured, shared by proxies behind one name), so that checking one
 * needs no table: a nonce we did not make, or made for another realm, fails its MAC; an
 * authentic one past its lifetime is stale.
 *
 * A nonce is bound to the realm, not to the client's source address: phones behind NAT change
 * their public port, a dual-stack client may retry over the other family, and TCP and UDP come
 * from different ports, and the source address would add nothing the digest does not already
 * prove. Replays are stopped by the nonce count (nonce-count.ts), not by the address.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

const VERSION = 1;
/** version (1) | issued at, ms since the epoch (6) | lifetime, s (3) | random (8) */
const BODY = 18;
/** HMAC-SHA-256 truncated to 144 bits: 36 bytes in all, 48 characters of base64url. */
const MAC = 18;
const NONCE_CHARS = ((BODY + MAC) / 3) * 4;
const MAX_LIFETIME_SEC = 0xffffff;
const BASE64URL = /^[A-Za-z0-9_-]+$/;

export type NonceStatus =
  | { readonly status: 'fresh'; readonly issuedAt: number; readonly expiresAt: number }
  | { readonly status: 'expired'; readonly issuedAt: number; readonly expiresAt: number }
  /** Not a nonce of ours for this realm: malformed, another secret's (a restart), or forged. */
  | { readonly status: 'unknown' };

/** The HMAC key: the configured secret's bytes, or 32 random bytes for this process. */
export function nonceKey(configured?: string): Buffer {
  return configured !== undefined ? Buffer.from(configured, 'utf8') : randomBytes(32);
}

/** Random bytes are drawn this many at a time: a call to the generator costs about what the rest of a nonce does. */
const RANDOM_POOL = 4096;

export class NonceMint {
  private pool = Buffer.alloc(0);
  private poolUsed = 0;

  constructor(private readonly key: Buffer, private readonly now: () => number = Date.now) {}

  /** A new nonce for `realm`, valid for `lifetimeSec` from now. */
  issue(realm: string, lifetimeSec: number): string {
    if (!Number.isInteger(lifetimeSec) || lifetimeSec < 1 || lifetimeSec > MAX_LIFETIME_SEC) throw new RangeError(`nonce lifetime ${lifetimeSec} s`);
    const nonce = Buffer.allocUnsafe(BODY + MAC);
    nonce[0] = VERSION;
    nonce.writeUIntBE(Math.floor(this.now()), 1, 6);
    nonce.writeUIntBE(lifetimeSec, 7, 3);
    this.random(8).copy(nonce, 10);
    this.mac(nonce, realm).copy(nonce, BODY, 0, MAC);
    return nonce.toString('base64url');
  }

  /** Whether `nonce` is one of ours for `realm`, and if so whether it has expired. */
  check(nonce: string, realm: string): NonceStatus {
    if (nonce.length !== NONCE_CHARS || !BASE64URL.test(nonce)) return { status: 'unknown' };
    const bytes = Buffer.from(nonce, 'base64url');
    if (bytes.length !== BODY + MAC || bytes[0] !== VERSION) return { status: 'unknown' };
    if (!timingSafeEqual(this.mac(bytes, realm).subarray(0, MAC), bytes.subarray(BODY))) return { status: 'unknown' };
    const issuedAt = bytes.readUIntBE(1, 6);
    const expiresAt = issuedAt + bytes.readUIntBE(7, 3) * 1000;
    return { status: this.now() < expiresAt ? 'fresh' : 'expired', issuedAt, expiresAt };
  }

  private mac(nonce: Buffer, realm: string): Buffer {
    return createHmac('sha256', this.key).update(nonce.subarray(0, BODY)).update(realm, 'utf8').digest();
  }

  private random(n: number): Buffer {
    if (this.poolUsed + n > this.pool.length) {
      this.pool = randomBytes(RANDOM_POOL);
      this.poolUsed = 0;
    }
    this.poolUsed += n;
    return this.pool.subarray(this.poolUsed - n, this.poolUsed);
  }
}
