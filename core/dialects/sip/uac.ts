import { randomBytes } from 'node:crypto';
import type { SipOriginateRequest as OriginateRequest, OriginateResult } from '../../kernel/core-services.ts';
import type { Reply } from '../../model/message.ts';
import { createRequest, type SipRequest } from './codec/message.ts';
import { parseNameAddr } from './codec/uri.ts';
import type { ClientTransactions } from './client-transactions.ts';
import { facing, hostPort, type SipIdentity } from './local-node.ts';
import { resolveNextHop, type HopResult } from './next-hop.ts';
import type { SipResolver } from './resolver.ts';
import { newBranch, newTag, type ClientOwner, type ClientTransaction } from './transactions.ts';
import type { SipTransportName } from './wire.ts';

export interface SipUacDeps {
  readonly clients: ClientTransactions;
  /** How the proxy names itself on a listener. */
  identity(listener: string, transport?: SipTransportName): SipIdentity;
  /** The listener requests leave from when the caller names none. */
  defaultListener(): string | undefined;
  /** Host names of next hops, within bounds. */
  readonly resolver: SipResolver;
}

/** Methods a UAC core may originate without a dialog of its own to set up (an INVITE needs one). */
const ORIGINATED = new Set(['OPTIONS', 'BYE', 'NOTIFY', 'MESSAGE', 'INFO', 'UPDATE', 'REGISTER', 'SUBSCRIBE', 'PUBLISH', 'REFER']);

function localResult(status: number, reason: string): OriginateResult {
  return { status, reason, reply: null };
}

/**
 * The proxy as a user agent client (RFC 3261 §8.1): requests it originates itself (OPTIONS
 * keepalives and health probes, a BYE to each party of a call it ends, NOTIFY), each in a client
 * transaction of its own with the usual retransmissions and timeouts; the final response (or a
 * local 408 when none came) settles the promise the originating module holds.
 */
export class SipUac implements ClientOwner {
  private readonly waiting = new Map<ClientTransaction, (r: OriginateResult) => void>();

  constructor(private readonly deps: SipUacDeps) {}

  /** Sends `req` and resolves with its final response; rejects only for a request that cannot be built. */
  async originate(req: OriginateRequest): Promise<OriginateResult> {
    const method = req.method.toUpperCase();
    if (!ORIGINATED.has(method)) throw new TypeError(`originate(): ${req.method} cannot be originated (supported: ${[...ORIGINATED].join(', ')})`);
    const listener = req.listener ?? this.deps.defaultListener();
    if (listener === undefined) throw new Error('originate(): the proxy has no SIP listener');
    const hop = await this.nextHop(req);
    if (hop === 'unresolvable') return localResult(478, 'Unresolvable destination');
    if (hop === 'unavailable') return localResult(503, 'Service Unavailable');
    const id = facing(this.deps.identity(listener, hop.transport), hop.address.address);
    const branch = newBranch();
    const out = this.build(req, method, `SIP/2.0/${hop.transport.toUpperCase()} ${hostPort(id)};branch=${branch};rport`, `sip:switchyard@${hostPort(id)}`);
    return new Promise<OriginateResult>((resolve) => {
      const ct = this.deps.clients.start(branch, out, { transport: hop.transport, listener, address: hop.address, connection: hop.connection ?? null, ...(hop.name !== undefined ? { name: hop.name } : {}) }, this, null, req.timeoutMs);
      this.waiting.set(ct, resolve);
    });
  }

  /** Where the request goes: the given target, else its first Route, else its Request-URI. */
  private async nextHop(req: OriginateRequest): Promise<HopResult> {
    const t = req.target;
    if (t?.address !== undefined) {
      const transport: SipTransportName = t.transport ?? 'udp';
      return { address: t.address, transport, connection: t.connection ?? null };
    }
    const route = req.routeSet?.[0];
    const via = route !== undefined ? parseNameAddr(route)?.uri ?? null : (t?.uri ?? req.uri);
    return via === null ? 'unresolvable' : resolveNextHop(via, this.deps.resolver, true);
  }

  private build(req: OriginateRequest, method: string, via: string, self: string): SipRequest {
    const headers: [string, string][] = [['Via', via], ['Max-Forwards', '70']];
    for (const r of req.routeSet ?? []) headers.push(['Route', r]);
    const from = req.from ?? `<${self}>`;
    const to = req.to ?? `<${req.uri}>`;
    headers.push(
      ['From', `${from};tag=${req.fromTag ?? newTag()}`],
      ['To', req.toTag !== undefined ? `${to};tag=${req.toTag}` : to],
      ['Call-ID', req.callId ?? `${randomBytes(12).toString('base64url')}@switchyard`],
      ['CSeq', `${req.cseq ?? 1} ${method}`],
    );
    for (const [n, v] of req.headers ?? []) headers.push([n, v]);
    headers.push(['User-Agent', 'switchyard']);
    const body = req.body === undefined ? Buffer.alloc(0) : Buffer.isBuffer(req.body.content) ? req.body.content : Buffer.from(req.body.content, 'utf8');
    if (req.body !== undefined) headers.push(['Content-Type', req.body.contentType]);
    headers.push(['Content-Length', String(body.length)]);
    return createRequest({ method, uri: req.uri, headers, body });
  }

  onResponse(ct: ClientTransaction, reply: Reply): void {
    if (reply.status < 200) return;
    this.settle(ct, { status: reply.status, reason: reply.reason, reply });
  }

  onTimeout(ct: ClientTransaction): void {
    this.settle(ct, localResult(408, 'Request Timeout'));
  }

  onUnreachable(ct: ClientTransaction, status: number, reason: string): void {
    this.settle(ct, localResult(status, reason));
  }

  private settle(ct: ClientTransaction, r: OriginateResult): void {
    const resolve = this.waiting.get(ct);
    if (resolve === undefined) return;
    this.waiting.delete(ct);
    resolve(r);
  }

  /** Outstanding requests end with a local 503 (the proxy is stopping). */
  close(): void {
    for (const resolve of this.waiting.values()) resolve(localResult(503, 'Service Unavailable'));
    this.waiting.clear();
  }
}
