import { isIP } from 'node:net';

/** A UDP transport address as the socket reports it (IPv4 peers of a dual-stack socket appear as ::ffff:a.b.c.d). */
export interface Endpoint {
  readonly address: string;
  readonly port: number;
}

export function sameEndpoint(a: Endpoint, b: Endpoint): boolean {
  return a.port === b.port && a.address === b.address;
}

/** `[::1]:5000` / `127.0.0.1:5000`, for logs and keys. */
export function formatEndpoint(e: Endpoint): string {
  return e.address.includes(':') ? `[${e.address}]:${e.port}` : `${e.address}:${e.port}`;
}

/** The IPv4 address inside an IPv4-mapped IPv6 address, or the address unchanged. */
export function unmapIPv4(address: string): string {
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}

/**
 * An address as a socket of the given kind names its peers: a dual-stack socket sees (and must
 * be given) IPv4 as ::ffff:a.b.c.d. On the signaling and media paths, so no regular expression:
 * a literal with no colon is IPv4, one that starts ::ffff: and has a dot is IPv4-mapped.
 */
export function asSeenBy(address: string, dualStack: boolean): string {
  const mapped = address.startsWith('::ffff:') && address.includes('.');
  if (dualStack) return mapped || address.includes(':') ? address : `::ffff:${address}`;
  return mapped ? address.slice(7) : address;
}

/**
 * One spelling per host, for comparing and keying addresses whatever their source wrote:
 * brackets off, lower case, IPv4-mapped IPv6 as plain IPv4, IPv6 in its compressed form
 * (::ffff:127.0.0.1, [0:0:0:0:0:0:0:1] and ::1 each have one form); a name is only lower-cased.
 */
export function canonicalHost(host: string): string {
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  const lower = bare.toLowerCase();
  if (lower.startsWith('::ffff:') && lower.includes('.')) return lower.slice(7);
  return isIP(lower) === 6 ? new URL(`http://[${lower}]/`).hostname.slice(1, -1) : lower;
}
