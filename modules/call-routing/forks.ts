import { unmapIPv4, type Endpoint, type SignalingTransport } from '../../core/module.ts';

/** What a fork target needs to be told verified or not. */
export interface ForkBinding {
  readonly address: Endpoint;
  readonly transport?: SignalingTransport | undefined;
}

/**
 * The bindings a call rings: every verified one (registered over a stream transport, whose handshake proved
 * its address, or at an address that has answered this proxy before), and of the unverified
 * ones at most `perAddress` per IP address, chosen at random, so that contacts someone
 * registered at a victim's address with forged REGISTERs make one INVITE reach it at most that
 * many times. Order is kept. Returns the bindings rung and how many were left out.
 */
export function forkTargets<B extends ForkBinding>(bindings: readonly B[], verified: (b: B) => boolean, perAddress: number): { readonly ring: readonly B[]; readonly skipped: number } {
  if (bindings.length <= perAddress) return { ring: bindings, skipped: 0 };
  const unverifiedAt = new Map<string, B[]>();
  for (const b of bindings) {
    if ((b.transport !== undefined && b.transport !== 'udp') || verified(b)) continue;
    const ip = unmapIPv4(b.address.address);
    const list = unverifiedAt.get(ip);
    if (list === undefined) unverifiedAt.set(ip, [b]);
    else list.push(b);
  }
  const left = new Set<B>();
  for (const list of unverifiedAt.values()) {
    while (list.length > perAddress) left.add(list.splice(Math.floor(Math.random() * list.length), 1)[0]!);
  }
  return left.size === 0 ? { ring: bindings, skipped: 0 } : { ring: bindings.filter((b) => !left.has(b)), skipped: left.size };
}
