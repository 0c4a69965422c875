import { OpenMap } from '../../core/module.ts';

/**
 * Replay protection by nonce count (RFC 7616 §3.4): for each nonce in use, the highest nc seen
 * and which of the 32 below it were seen too, so a request that overtook another on UDP still
 * passes and any nc seen twice is a replay.
 *
 * The table has a fixed number of slots, reused oldest first, and only requests whose digest
 * was already verified enter it, so someone without a password cannot fill it. When a nonce
 * still valid loses its slot, every nonce issued up to it is from then on refused unless it
 * holds a slot (`floor`): a nonce that was used and forgotten can never pass again. What
 * pressure costs is a stale=true challenge to clients whose nonce was forgotten, never a replay.
 * The table belongs to this process: proxies that share a nonce secret do not share counts.
 */
export type NonceUse =
  | 'fresh'
  /** This nc was seen before with this nonce, or is older than the window. */
  | 'replay'
  /** The nonce is older than one that lost its slot while still valid. */
  | 'forgotten';

const WINDOW = 32;

export class NonceCounts {
  private readonly slotOf: OpenMap<number>;
  private readonly nonces: (string | undefined)[];
  private readonly issuedAt: Float64Array;
  private readonly expiresAt: Float64Array;
  private readonly highest: Uint32Array;
  /** Bit k: nc `highest - k` was seen. */
  private readonly seen: Uint32Array;
  private next = 0;
  private used = 0;
  /** Nonces issued at or before this (ms) and not in the table are refused. */
  private floor = -Infinity;

  constructor(readonly capacity: number, private readonly now: () => number = Date.now) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`nonce table capacity ${capacity}`);
    this.slotOf = new OpenMap<number>(capacity);
    this.nonces = new Array<string | undefined>(capacity).fill(undefined);
    this.issuedAt = new Float64Array(capacity);
    this.expiresAt = new Float64Array(capacity);
    this.highest = new Uint32Array(capacity);
    this.seen = new Uint32Array(capacity);
  }

  /** Nonces the table holds now. */
  get size(): number {
    return this.used;
  }

  /** Records a use of `nonce` (authentic, its digest verified) with count `nc`, and says whether it may pass. */
  use(nonce: string, issuedAt: number, expiresAt: number, nc: number): NonceUse {
    const slot = this.slotOf.get(nonce);
    if (slot !== undefined) return this.count(slot, nc);
    if (issuedAt <= this.floor) return 'forgotten';
    const s = this.claimSlot();
    this.slotOf.set(nonce, s);
    this.nonces[s] = nonce;
    this.issuedAt[s] = issuedAt;
    this.expiresAt[s] = expiresAt;
    this.highest[s] = nc;
    this.seen[s] = 1;
    return 'fresh';
  }

  private count(s: number, nc: number): NonceUse {
    const top = this.highest[s]!;
    if (nc > top) {
      const shift = nc - top;
      this.seen[s] = shift >= WINDOW ? 1 : ((this.seen[s]! << shift) | 1) >>> 0;
      this.highest[s] = nc;
      return 'fresh';
    }
    const back = top - nc;
    if (back >= WINDOW) return 'replay';
    const bit = (1 << back) >>> 0;
    if ((this.seen[s]! & bit) !== 0) return 'replay';
    this.seen[s] = (this.seen[s]! | bit) >>> 0;
    return 'fresh';
  }

  /** The next slot in turn; the nonce in it is forgotten, and raises the floor if it was still valid. */
  private claimSlot(): number {
    const s = this.next;
    this.next = (s + 1) % this.capacity;
    const old = this.nonces[s];
    if (old === undefined) {
      this.used++;
      return s;
    }
    this.slotOf.delete(old);
    if (this.expiresAt[s]! > this.now()) this.floor = Math.max(this.floor, this.issuedAt[s]!);
    return s;
  }
}
