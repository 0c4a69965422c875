import { BlockList, isIPv4, isIPv6 } from 'node:net';
import { unmapIPv4 } from '../../../core/module.ts';

export interface SourceSetRule {
  /** Addresses or CIDR ranges, IPv4 or IPv6. */
  readonly from: readonly string[];
  readonly set: string;
}

/**
 * The relay set for a call by where its signaling came from (MediaProxy's signaling_ip_avp):
 * the first rule whose ranges hold the source. An IPv4 peer on a dual-stack socket
 * (::ffff:a.b.c.d) matches the IPv4 ranges.
 */
export class SourceSets {
  private readonly rules: { readonly list: BlockList; readonly set: string }[] = [];

  /** Throws a RangeError naming an entry that is not an address or address/prefix. */
  constructor(rules: readonly SourceSetRule[]) {
    for (const r of rules) {
      const list = new BlockList();
      for (const cidr of r.from) {
        const [address = '', prefixText] = cidr.split('/');
        const family = isIPv4(address) ? 'ipv4' : isIPv6(address) ? 'ipv6' : null;
        const prefix = prefixText === undefined ? (family === 'ipv4' ? 32 : 128) : Number(prefixText);
        if (family === null || !Number.isInteger(prefix) || prefix < 0 || prefix > (family === 'ipv4' ? 32 : 128)) throw new RangeError(`'${cidr}' is not an address or address/prefix`);
        list.addSubnet(address, prefix, family);
      }
      this.rules.push({ list, set: r.set });
    }
  }

  /** The set for a source address, or undefined when no rule holds it. */
  setFor(address: string): string | undefined {
    const a = unmapIPv4(address);
    const family = isIPv4(a) ? 'ipv4' : 'ipv6';
    return this.rules.find((r) => r.list.check(a, family))?.set;
  }
}

/** Whether every entry of the rules parses (for the options schema). */
export function validSourceSets(rules: readonly SourceSetRule[]): boolean {
  try {
    new SourceSets(rules);
    return true;
  } catch {
    return false;
  }
}
