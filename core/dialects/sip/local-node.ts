import { networkInterfaces, hostname } from 'node:os';
import { isIP } from 'node:net';
import { canonicalHost, type Endpoint } from '../../lib/address.ts';
import { canonicalIp, isAlwaysLocal } from '../../lib/ip-literal.ts';
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

/** This proxy's Record-Route entry; `mark` ties it to the dialog (route-mark.ts). */
export function recordRouteUri(id: SipIdentity, transport: SipTransportName, mark?: string): string {
  return `<sip:${hostPort(id)};lr${mark !== undefined ? `;mark=${mark}` : ''}${transport === 'udp' ? '' : `;transport=${transport}`}>`;
}

export { defaultAdvertise } from '../../lib/advertise.ts';

/** How long the list of interface addresses is trusted before it is read again (addresses come and go). */
const INTERFACES_TTL_MS = 30_000;

/**
 * Tells whether a URI or an address names this proxy: one of its identities, or any address of
 * this host (its interfaces, the loopback network, the unspecified address, in any spelling of
 * an IP literal) or this host's name, with one of its SIP ports.
 */
export class LocalNode {
  private readonly names = new Set<string>();
  private interfaces = new Set<string>();
  private interfacesRead = 0;
  private readonly ports = new Set<number>();

  constructor() {
    this.names.add('localhost');
    this.names.add(hostname().toLowerCase());
    this.readInterfaces();
  }

  private readInterfaces(): void {
    const found = new Set<string>();
    for (const list of Object.values(networkInterfaces())) for (const a of list ?? []) found.add(canonicalIp(a.address) ?? canonicalHost(a.address));
    this.interfaces = found;
    this.interfacesRead = Date.now();
  }

  /** A listener's identity, once its port is bound. */
  add(id: SipIdentity): void {
    for (const h of [id.host, id.host6]) if (h !== undefined) this.names.add(canonicalIp(h) ?? canonicalHost(h));
    this.ports.add(id.port);
  }

  isLocalHost(host: string): boolean {
    const ip = canonicalIp(host);
    if (ip === null) return this.names.has(canonicalHost(host));
    if (isAlwaysLocal(ip) || this.names.has(ip) || this.interfaces.has(ip)) return true;
    if (Date.now() - this.interfacesRead < INTERFACES_TTL_MS) return false;
    this.readInterfaces();
    return this.interfaces.has(ip);
  }

  /** A resolved next hop that is this proxy itself: sending there would loop. */
  isOwnAddress(e: Endpoint): boolean {
    return this.ports.has(e.port) && this.isLocalHost(e.address);
  }

  isUs(uri: string | SipUri | null): boolean {
    const u = typeof uri === 'string' ? parseUri(uri) : uri;
    if (u === null || (u.kind !== 'sip' && u.kind !== 'sips')) return false;
    const port = u.port ?? (u.kind === 'sips' ? 5061 : 5060);
    return this.ports.has(port) && this.isLocalHost(u.host);
  }
}
