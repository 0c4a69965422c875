import { BlockList, isIPv4, isIPv6 } from 'node:net';
import { unmapIPv4 } from './address.ts';

/** Sources whose answer is remembered; past that the memory starts over, so a flood of sources costs lookups, not memory. */
const MAX_ANSWERS = 4096;

/**
 * A set of addresses and CIDR ranges (trusted peers, sources allowed to relay), on
 * `net.BlockList`. A dual-stack socket reports IPv4 peers as ::ffff:a.b.c.d: such a source is
 * matched against the IPv4 rules, and a rule written as an IPv4-mapped IPv6 range is an IPv4 rule.
 */
export class AddressSet {
  private readonly list = new BlockList();
  private readonly answers = new Map<string, boolean>();
  private readonly empty: boolean;
  /** The IPv4 rules as network and mask pairs: an IPv4 source (most of them) is matched without BlockList or a cache. */
  private readonly v4Rules: number[] = [];

  /** Throws a RangeError naming the first entry that is not an address or an address/prefix. */
  constructor(cidrs: readonly string[]) {
    for (const cidr of cidrs) {
      const rule = parseCidr(cidr);
      if (typeof rule === 'string') throw new RangeError(`'${cidr}': ${rule}`);
      this.list.addSubnet(rule.address, rule.prefix, rule.family);
      if (rule.family === 'ipv4') {
        const mask = rule.prefix === 0 ? 0 : (0xffffffff << (32 - rule.prefix)) >>> 0;
        this.v4Rules.push((ipv4Number(rule.address, 0) & mask) >>> 0, mask);
      }
    }
    this.empty = cidrs.length === 0;
  }

  /** Whether `address` (as the socket reports it) is in the set. */
  has(address: string): boolean {
    if (this.empty) return false;
    const v4 = ipv4Number(address, address.startsWith('::ffff:') ? 7 : 0);
    if (v4 >= 0) {
      const rules = this.v4Rules;
      for (let i = 0; i < rules.length; i += 2) if (((v4 & rules[i + 1]!) >>> 0) === rules[i]) return true;
      return false;
    }
    // BlockList.check builds a SocketAddress per call; the same peers ask again and again.
    let trusted = this.answers.get(address);
    if (trusted === undefined) {
      trusted = this.check(address);
      if (this.answers.size >= MAX_ANSWERS) this.answers.clear();
      this.answers.set(address, trusted);
    }
    return trusted;
  }

  private check(address: string): boolean {
    const a = unmapIPv4(withoutZone(address));
    if (isIPv4(a)) return this.list.check(a, 'ipv4');
    return isIPv6(a) && this.list.check(a, 'ipv6');
  }
}

/** The dotted-quad IPv4 address in `text` from `from` to its end as a 32-bit number, or -1 when it is not one. */
function ipv4Number(text: string, from: number): number {
  let value = 0;
  let octet = 0;
  let digits = 0;
  let dots = 0;
  for (let i = from; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 48 && c <= 57) {
      if (digits > 0 && octet === 0) return -1; // a leading zero
      octet = octet * 10 + (c - 48);
      if (++digits > 3 || octet > 255) return -1;
    } else if (c === 46 && digits > 0 && dots < 3) {
      value = value * 256 + octet;
      octet = 0;
      digits = 0;
      dots++;
    } else {
      return -1;
    }
  }
  return dots === 3 && digits > 0 ? value * 256 + octet : -1;
}

export interface CidrRule {
  readonly address: string;
  readonly prefix: number;
  readonly family: 'ipv4' | 'ipv6';
}

/** `a.b.c.d/n`, `x::y/n` or a single address; an IPv4-mapped range becomes its IPv4 range. A string says what is wrong. */
export function parseCidr(cidr: string): CidrRule | string {
  const slash = cidr.indexOf('/');
  const address = slash < 0 ? cidr : cidr.slice(0, slash);
  const prefixText = slash < 0 ? null : cidr.slice(slash + 1);
  if (prefixText !== null && !/^\d{1,3}$/.test(prefixText)) return 'the prefix is not a number';
  if (isIPv4(address)) {
    const prefix = prefixText === null ? 32 : Number(prefixText);
    return prefix <= 32 ? { address, prefix, family: 'ipv4' } : 'an IPv4 prefix is at most 32';
  }
  if (!isIPv6(address)) return 'not an IP address';
  const prefix = prefixText === null ? 128 : Number(prefixText);
  if (prefix > 128) return 'an IPv6 prefix is at most 128';
  const v4 = unmapIPv4(address.toLowerCase());
  if (v4 !== address.toLowerCase() && isIPv4(v4)) return prefix >= 96 ? { address: v4, prefix: prefix - 96, family: 'ipv4' } : 'an IPv4-mapped range needs a prefix of at least 96';
  return { address, prefix, family: 'ipv6' };
}

/** fe80::1%eth0 → fe80::1: the zone names an interface, not part of the address. */
function withoutZone(address: string): string {
  const pct = address.indexOf('%');
  return pct < 0 ? address : address.slice(0, pct);
}
