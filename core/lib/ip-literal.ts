import { isIP } from 'node:net';

/**
 * IP literals in every spelling a resolver accepts, reduced to one form, so that "is this
 * address mine?" cannot be dodged by writing it differently: `127.1`, `0x7f.0.0.1`,
 * `2130706433` and `0177.0.0.1` are all 127.0.0.1 to inet_aton (and so to getaddrinfo);
 * `::ffff:7f00:1` and `::ffff:127.0.0.1` are IPv4 127.0.0.1 to a dual-stack socket.
 */

/** One part of an inet_aton address: decimal, 0-prefixed octal or 0x-prefixed hex; -1 when not a number. */
function atonPart(s: string): number {
  if (s === '') return -1;
  let radix = 10;
  let digits = s;
  if (s.length > 1 && s[0] === '0') {
    if (s[1] === 'x' || s[1] === 'X') { radix = 16; digits = s.slice(2); } else { radix = 8; digits = s.slice(1); }
  }
  const valid = radix === 16 ? /^[0-9a-fA-F]{1,8}$/ : radix === 8 ? /^[0-7]{1,11}$/ : /^[0-9]{1,10}$/;
  if (!valid.test(digits)) return -1;
  return parseInt(digits, radix);
}

/** An IPv4 address as inet_aton reads it (1 to 4 parts, the last filling the rest), or null. */
function parseAton(s: string): string | null {
  const parts = s.split('.');
  if (parts.length > 4) return null;
  const n = parts.map(atonPart);
  if (n.some((v) => v < 0)) return null;
  const head = n.slice(0, -1);
  if (head.some((v) => v > 255)) return null;
  const last = n[n.length - 1]!;
  if (last >= 2 ** (8 * (5 - n.length))) return null;
  let value = 0;
  for (const v of head) value = value * 256 + v;
  value = value * 2 ** (8 * (5 - n.length)) + last;
  return [value >>> 24, (value >>> 16) & 255, (value >>> 8) & 255, value & 255].join('.');
}

/** The IPv4 address an IPv6 one carries when it is IPv4-mapped (::ffff:a.b.c.d in any notation), or null. */
function mappedIPv4(v6: string): string | null {
  const expanded = new URL(`http://[${v6}]/`).hostname.slice(1, -1); // compressed, lower case, hex groups
  const m = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(expanded);
  if (m === null) return null;
  const hi = parseInt(m[1]!, 16);
  const lo = parseInt(m[2]!, 16);
  return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
}

/** Hosts already reduced: the same few peers' addresses come with every message (cleared when it grows). */
const seen = new Map<string, string | null>();
const SEEN_MAX = 4096;

/**
 * The one form of an IP literal (brackets allowed): IPv4 dotted quad, IPv4-mapped IPv6 as its
 * IPv4, other IPv6 compressed and lower case. Null for anything that is not an IP literal (a name).
 */
export function canonicalIp(host: string): string | null {
  const known = seen.get(host);
  if (known !== undefined) return known;
  const ip = reduce(host);
  if (seen.size >= SEEN_MAX) seen.clear();
  seen.set(host, ip);
  return ip;
}

function reduce(host: string): string | null {
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  const lower = bare.toLowerCase();
  if (isIP(lower) === 6) return mappedIPv4(lower) ?? new URL(`http://[${lower}]/`).hostname.slice(1, -1);
  if (/^[0-9a-fx.]+$/.test(lower) && /^[0-9]/.test(lower)) return parseAton(lower);
  return null;
}

/**
 * An address that reaches this host whatever its interfaces: the IPv4 loopback network (all of
 * 127.0.0.0/8 answers on Linux), the unspecified addresses (a datagram sent to 0.0.0.0 or :: is
 * delivered locally) and ::1. Takes a canonical address (canonicalIp).
 */
export function isAlwaysLocal(ip: string): boolean {
  return ip.startsWith('127.') || ip === '0.0.0.0' || ip === '::' || ip === '::1';
}
