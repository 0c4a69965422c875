import { unmapIPv4, type Endpoint } from '../../core/module.ts';

/** Addresses remembered at most; past that the oldest half is forgotten (they verify again by answering). */
const MAX_ADDRESSES = 65_536;

function keyOf(e: Endpoint): string {
  return `${unmapIPv4(e.address)}|${e.port}`;
}

/**
 * Addresses that have answered a request this proxy forwarded to them: a contact there has
 * shown it is a SIP element that wants the proxy's requests, not a victim someone registered
 * (a REGISTER over UDP can come from a forged source).
 */
export class AnsweredAddresses {
  private readonly seen = new Map<string, true>();

  add(e: Endpoint): void {
    const key = keyOf(e);
    if (this.seen.has(key)) return;
    if (this.seen.size >= MAX_ADDRESSES) {
      let drop = MAX_ADDRESSES / 2;
      for (const k of this.seen.keys()) {
        this.seen.delete(k);
        if (--drop === 0) break;
      }
    }
    this.seen.set(key, true);
  }

  has(e: Endpoint): boolean {
    return this.seen.has(keyOf(e));
  }
}
