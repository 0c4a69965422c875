import { networkInterfaces, hostname } from 'node:os';
import { isIP } from 'node:net';
import { canonicalHost } from '../../lib/address.ts';
import { parseUri, type SipUri } from './codec/uri.ts';
import type { SipTransportName } from './wire.ts';

/** How this proxy names itself on one SIP listener: in Via, Record-Route, and when it meets its own URI. */
export interface SipIdentity {
  /** Address put in Via sent-by and Record-Route toward IPv4 peers (the listener's `advertise`). */
  readonly host: string;
  /** The same toward IPv6 peers (`advertiseIPv6`), when the listener is dual-stack. */
  readonly host6?: string;
  readonly port: number;
}

/** The identity as a peer of `address`'s family must see it. */
export function facing(id: SipIdentity, address: string): SipIdentity {
  const v6 = isIP(address) === 6 && !address.toLowerCase().startsWith('::ffff:');
  return v6 && id.host6 !== undefined ? { host: id.host6, port: id.port } : { host: id.host, port: id.port };
}

function bracket(host: string): string {
  return isIP(host) === 6 ? `[${host}]` : host;
}

export function hostPort(id: SipIdentity): string {
  return `${bracket(id.host)}:${id.port}`;
}

export function recordRouteUri(id: SipIdentity, transport: SipTransportName): string {
  return `<sip:${hostPort(id)};lr${transport === 'udp' ? '' : `;transport=${transport}`}>`;
}

export { defaultAdvertise } from '../../lib/advertise.ts';

/**
 * Tells whether a URI names this proxy: one of its identities, or any local interface
 * address (or this host's name) with one of its SIP ports.
 */
export class LocalNode {
  private readonly hosts = new Set<string>();
  private readonly ports = new Set<number>();

  constructor() {
    for (const list of Object.values(networkInterfaces())) for (const a of list ?? []) this.hosts.add(canonicalHost(a.address));
    this.hosts.add('localhost');
    this.hosts.add(hostname().toLowerCase());
  }

  /** A listener's identity, once its port is bound. */
  add(id: SipIdentity): void {
    this.hosts.add(canonicalHost(id.host));
    if (id.host6 !== undefined) this.hosts.add(canonicalHost(id.host6));
    this.ports.add(id.port);
  }

  isLocalHost(host: string): boolean {
    return this.hosts.has(canonicalHost(host));
  }

  isUs(uri: string | SipUri | null): boolean {
    const u = typeof uri === 'string' ? parseUri(uri) : uri;
    if (u === null || (u.kind !== 'sip' && u.kind !== 'sips')) return false;
    const port = u.port ?? (u.kind === 'sips' ? 5061 : 5060);
    return this.isLocalHost(u.host) && this.ports.has(port);
  }
}
