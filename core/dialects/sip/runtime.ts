import type { Endpoint } from '../../lib/address.ts';
import type { Logger } from '../../lib/log.ts';
import type { Message } from '../../model/message.ts';
import type { ResolvedListen } from '../../script/load.ts';
import { createSipDialect, type SipDialect } from './dialect.ts';
import { SipProxyEngine, type SipEngineDeps } from './engine.ts';
import { LocalNode, defaultAdvertise, type SipIdentity } from './local-node.ts';
import { SipTcpTransport } from './tcp-transport.ts';
import type { Destination } from './transactions.ts';

export interface SipRuntimeDeps extends Omit<SipEngineDeps, 'sender' | 'node' | 'identity'> {
  /** Sends from a UDP signaling listener (the core owns those sockets). */
  sendUdp(listener: string, to: Endpoint, bytes: Buffer): void;
  /** Hands a message that arrived over TCP to the dispatcher. */
  dispatch(msg: Message): void;
  /** Counts a message that could not be parsed. */
  dropped(): void;
}

/**
 * Everything SIP needs beside the UDP sockets: the codec and stateful engine, how the proxy
 * names itself on each listener (Via, Record-Route, "is this URI us?"), and the TCP side of
 * each SIP listener.
 */
export class SipRuntime {
  readonly dialect: SipDialect = createSipDialect();
  readonly engine: SipProxyEngine;
  private readonly node = new LocalNode();
  private readonly identities = new Map<string, SipIdentity>();
  private readonly tcp = new Map<string, SipTcpTransport>();

  constructor(private readonly deps: SipRuntimeDeps, private readonly log: Logger) {
    this.engine = new SipProxyEngine({
      ...deps,
      node: this.node,
      identity: (name) => this.identities.get(name) ?? [...this.identities.values()][0]!,
      sender: { send: (dest, bytes) => this.send(dest, bytes) },
    });
  }

  /** A SIP listener's UDP socket is bound on `port`: name ourselves there and open its TCP side. */
  async listen(l: ResolvedListen, port: number): Promise<void> {
    const id: SipIdentity = {
      host: l.advertise ?? defaultAdvertise(l.host),
      ...(l.host === '::' ? { host6: l.advertiseIPv6 ?? defaultAdvertise(l.host, 'IPv6') } : {}),
      port,
    };
    this.identities.set(l.name, id);
    this.node.add(id);
    if (!(l.transports ?? []).includes('tcp')) return;
    const tcp = await SipTcpTransport.listen(l.host, port, (parsed, raw, source, connection) => {
      const r = this.dialect.accept(parsed, raw, { listener: l.name, source }, 'tcp', connection);
      if (r.ok) return this.deps.dispatch(r.msg);
      this.deps.dropped();
      this.log.debug({ listener: l.name, transport: 'tcp', src: `${source.address}:${source.port}`, reason: r.reason }, 'unparsable message');
      if (r.answer !== null) tcp.send(source, connection, r.answer);
    });
    this.tcp.set(l.name, tcp);
    this.log.info({ listener: l.name, dialect: 'sip', transport: 'tcp', host: l.host, port: tcp.port }, 'listening');
  }

  isOwnUri(uri: string): boolean {
    return this.node.isUs(uri);
  }

  private send(dest: Destination, bytes: Buffer): void {
    if (dest.transport === 'udp') return this.deps.sendUdp(dest.listener, dest.address, bytes);
    const tcp = this.tcp.get(dest.listener) ?? [...this.tcp.values()][0];
    if (tcp === undefined) this.log.warn({ to: dest.address }, 'no TCP transport to send on');
    else tcp.send(dest.address, dest.connection, bytes);
  }

  stats(): Record<string, number> {
    return { ...this.engine.stats, tcpFramingErrors: [...this.tcp.values()].reduce((n, t) => n + t.framingErrors, 0) };
  }

  async close(): Promise<void> {
    await Promise.all([...this.tcp.values()].map((t) => t.close()));
    this.tcp.clear();
    this.engine.close();
  }
}
