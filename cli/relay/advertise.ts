import { isIP } from 'node:net';
import { defaultAdvertise } from '../../core/lib/advertise.ts';

export type Family = 'IP4' | 'IP6';

/**
 * The relay address written into SDP, per address family: an IPv4 description is answered with
 * the IPv4 one, an IPv6 description with the IPv6 one. `--advertise` names at most one per
 * family; a family not named falls back to the bind host (or, for a wildcard bind, the machine's
 * first address of that family). A node bound to an IPv4 literal has no IPv6 side, and the
 * other way round.
 */
export class AdvertiseTable {
  private readonly byFamily = new Map<Family, string>();

  private constructor(host: string, given: ReadonlyMap<Family, string>) {
    const hostFamily = isIP(host);
    const wildcard = host === '::' || host === '0.0.0.0';
    const served: Family[] = host === '::' ? ['IP4', 'IP6'] : hostFamily === 6 ? ['IP6'] : ['IP4'];
    for (const f of served) {
      const named = given.get(f);
      this.byFamily.set(f, named ?? (wildcard ? defaultAdvertise(host, f === 'IP4' ? 'IPv4' : 'IPv6') : host));
    }
  }

  /** Reads the `--advertise` values; an error names the value that is wrong. */
  static from(host: string, values: readonly string[]): AdvertiseTable | { readonly error: string } {
    const given = new Map<Family, string>();
    for (const v of values) {
      const family = familyOfAddress(v);
      if (family === null) return { error: `--advertise ${v}: not an IP address` };
      if (given.has(family)) return { error: `--advertise ${v}: a second ${family === 'IP4' ? 'IPv4' : 'IPv6'} address (one per family)` };
      if (host !== '::' && familyOfAddress(host) !== family) return { error: `--advertise ${v}: the node binds ${host}, which has no ${family === 'IP4' ? 'IPv4' : 'IPv6'} side (bind :: for both)` };
      given.set(family, v);
    }
    return new AdvertiseTable(host, given);
  }

  /** The relay address for a family, or undefined when the node does not serve it. */
  for(family: Family): string | undefined {
    return this.byFamily.get(family);
  }

  entries(): readonly [Family, string][] {
    return [...this.byFamily];
  }
}

export function familyOfAddress(address: string): Family | null {
  const v = isIP(address);
  return v === 4 ? 'IP4' : v === 6 ? 'IP6' : null;
}
