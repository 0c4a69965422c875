import { isIP } from 'node:net';
import { canonicalHost, unmapIPv4, type Endpoint } from '../../lib/address.ts';
import { getHeaders, setHeader, type SipMessage, type SipRequest } from './codec/message.ts';
import { getParam, removeParam, setParam } from './codec/params.ts';
import { formatNameAddr, formatUri, parseNameAddr, parseUri } from './codec/uri.ts';
import type { NextHop } from './next-hop.ts';
import type { SipTransportName } from './wire.ts';

/**
 * Contact aliases (as Kamailio's add_contact_alias / handle_ruri_alias): a party behind NAT, or
 * over a TCP connection it opened itself, puts in its Contact an address it cannot be reached
 * at. When this proxy stays in a dialog's path (Record-Route), it appends to that Contact where
 * the message really came from, `;alias=<ip>~<port>~<transport>`; the other party then sends its
 * in-dialog requests to that URI, through this proxy, which sends them to the alias address (over
 * the party's own connection) and takes the parameter off again.
 */

/** Kamailio's protocol numbers, so an alias reads the same to both. */
const TRANSPORT_NUMBERS: Readonly<Record<SipTransportName, string>> = { udp: '1', tcp: '2', tls: '3', ws: '5', wss: '6' };
const TRANSPORT_OF: Readonly<Record<string, SipTransportName>> = { 1: 'udp', 2: 'tcp', 3: 'tls', 5: 'ws', 6: 'wss' };

function defaultPort(scheme: string): number {
  return scheme.toLowerCase() === 'sips' ? 5061 : 5060;
}

/**
 * Appends the alias to the message's Contact when its address, port or transport is not where
 * the message came from. Only a single Contact is aliased (a dialog has one remote target).
 * Returns whether the Contact changed.
 */
export function aliasContact(msg: SipMessage, source: Endpoint, transport: SipTransportName): boolean {
  const contacts = getHeaders(msg, 'contact');
  if (contacts.length !== 1) return false;
  const na = parseNameAddr(contacts[0]!);
  if (na === null || na.uri === '*') return false;
  const u = parseUri(na.uri);
  if (u === null || (u.kind !== 'sip' && u.kind !== 'sips')) return false;
  const written = typeof getParam(u.params, 'transport') === 'string' ? String(getParam(u.params, 'transport')).toLowerCase() : 'udp';
  const ip = unmapIPv4(source.address);
  const same = canonicalHost(u.host) === canonicalHost(ip) && (u.port ?? defaultPort(u.scheme)) === source.port && written === transport;
  if (same || getParam(u.params, 'alias') !== undefined) return false;
  const host = isIP(ip) === 6 ? `[${ip}]` : ip;
  setParam(u.params, 'alias', `${host}~${source.port}~${TRANSPORT_NUMBERS[transport]}`);
  na.uri = formatUri(u);
  na.angle = true;
  setHeader(msg, 'Contact', formatNameAddr(na));
  return true;
}

/**
 * The next hop an aliased Request-URI names, with the alias taken off the Request-URI; null
 * when it carries none (or one that does not read as an address).
 */
export function takeAlias(sip: SipRequest): NextHop | null {
  const u = parseUri(sip.uri);
  if (u === null) return null;
  const alias = getParam(u.params, 'alias');
  if (typeof alias !== 'string') return null;
  const m = /^(\[[0-9A-Fa-f:.]+\]|[0-9.]+)~(\d{1,5})~(\d)$/.exec(alias);
  const transport = m === null ? undefined : TRANSPORT_OF[m[3]!];
  const port = m === null ? 0 : Number(m[2]);
  const address = m === null ? '' : m[1]!.startsWith('[') ? m[1]!.slice(1, -1) : m[1]!;
  if (transport === undefined || port < 1 || port > 65535 || isIP(address) === 0) return null;
  removeParam(u.params, 'alias');
  sip.uri = formatUri(u);
  return { address: { address, port }, transport, connection: null };
}
