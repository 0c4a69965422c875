import { isIP } from 'node:net';
import type { Endpoint } from '../../core/module.ts';
import type { Binding } from './store.ts';

/** `host:port` or `[ipv6]:port` with an IP literal host. */
export function parseNodeAddress(text: string): Endpoint | null {
  const m = /^\[([^\]]+)\]:(\d{1,5})$/.exec(text) ?? /^([^:]+):(\d{1,5})$/.exec(text);
  if (m === null || isIP(m[1]!) === 0) return null;
  const port = Number(m[2]);
  return port >= 1 && port <= 65535 ? { address: m[1]!, port } : null;
}

/**
 * How this proxy reaches a user's bindings from a shared store: its own bindings (and those
 * that name no proxy) as they are; a SIP binding made through another proxy becomes one target
 * at that proxy, with no contact, so the request goes there unchanged and that proxy delivers
 * it (one target per proxy, however many contacts the user has there). Plain bindings of other
 * proxies are left out.
 */
export function reachableBindings(bindings: readonly Binding[], self: string | undefined): Binding[] {
  if (self === undefined) return [...bindings];
  const out: Binding[] = [];
  const viaNodes = new Set<string>();
  for (const b of bindings) {
    if (b.node === undefined || b.node === self) {
      out.push(b);
      continue;
    }
    if (b.dialect !== 'sip' || viaNodes.has(b.node)) continue;
    const address = parseNodeAddress(b.node);
    if (address === null) continue;
    viaNodes.add(b.node);
    out.push({ aor: b.aor, dialect: b.dialect, listener: b.listener, address, registeredAt: b.registeredAt, expiresAt: b.expiresAt, transport: 'udp', connection: null, node: b.node, ...(b.q === undefined ? {} : { q: b.q }) });
  }
  return out;
}
