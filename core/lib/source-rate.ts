import { unmapIPv4 } from './address.ts';

/** Buckets: a source shares one with the sources that hash alike, which only makes it stricter. */
const SLOTS = 4096;

function slotOf(ip: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < ip.length; i++) h = Math.imul(h ^ ip.charCodeAt(i), 0x01000193);
  return (h >>> 0) % SLOTS;
}

/**
 * A token bucket per source IP in fixed memory (a table of hashed slots, whatever the number of
 * sources, forged or not): `perSecond` sustained, twice that in a burst.
 */
export class SourceRate {
  private readonly tokens = new Float64Array(SLOTS);
  private readonly at = new Float64Array(SLOTS);
  /** Refused since the start. */
  refused = 0;

  constructor(private perSecond: number, private readonly now: () => number = () => performance.now()) {
    this.tokens.fill(2 * perSecond);
  }

  /** True when `address` may have one more now (and takes it). */
  allow(address: string): boolean {
    const i = slotOf(unmapIPv4(address));
    const t = this.now();
    const burst = 2 * this.perSecond;
    const tokens = Math.min(burst, this.tokens[i]! + ((t - this.at[i]!) / 1000) * this.perSecond);
    this.at[i] = t;
    if (tokens < 1) {
      this.tokens[i] = tokens;
      this.refused++;
      return false;
    }
    this.tokens[i] = tokens - 1;
    return true;
  }
}
