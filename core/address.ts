import type { RemoteInfo } from 'node:dgram';
import { isIPv4 } from 'node:net';

/** A UDP transport address as the socket reports it (IPv4 peers of a dual-stack socket appear as ::ffff:a.b.c.d). */
export interface Endpoint {
  readonly address: string;
  readonly port: number;
}

export function endpointOf(rinfo: RemoteInfo): Endpoint {
  return { address: rinfo.address, port: rinfo.port };
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

/** An address as a socket of the given kind names its peers: a dual-stack socket sees (and must be given) IPv4 as ::ffff:a.b.c.d. */
export function asSeenBy(address: string, dualStack: boolean): string {
  const v4 = unmapIPv4(address);
  if (!isIPv4(v4)) return address;
  return dualStack ? `::ffff:${v4}` : v4;
}
