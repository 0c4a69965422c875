import type { Endpoint } from '../../lib/address.ts';
import type { Logger } from '../../lib/log.ts';
import type { Message } from '../../model/message.ts';
import type { OriginateRequest, OriginateResult } from '../../kernel/core-services.ts';
import { ClientTransactions } from './client-transactions.ts';
import { createSipDialect, type SipDialect } from './dialect.ts';
import { LocalNode, defaultAdvertise, type SipIdentity } from './local-node.ts';
import { SipProxyCore, type SipProxyCoreDeps } from './proxy-core.ts';
import { ServerTransactions } from './server-transactions.ts';
import { TlsCredentials, type TlsFiles } from '../../transport/tls-credentials.ts';
import { SipTcpTransport, type TcpFrameHandler } from './tcp-transport.ts';
import { tlsFlavour, type TlsStats } from './tls-transport.ts';
import type { Destination } from './transactions.ts';
import { SipUac } from './uac.ts';
import type { SipTransportName } from './wire.ts';
import { SipWsTransport } from './ws-transport.ts';

/** A SIP listener as the script configured it. */
export interface SipListenerConfig {
  readonly name: string;
  readonly host: string;
  /** The address put in Via and Record-Route toward IPv4 peers, and toward IPv6 ones. */
  readonly advertise?: string;
  readonly advertiseIPv6?: string;
  readonly transports?: readonly ('udp' | 'tcp')[];
  /** A listener of one stream transport only (no UDP socket): TLS, WebSocket, WebSocket over TLS. */
  readonly transport?: 'tls' | 'ws' | 'wss';
  /** TLS and WSS: the certificate files (absolute paths), and how peers it dials are verified. */
  readonly tls?: TlsFiles;
  /** WS and WSS: the Origins browsers may connect from (absent: any). */
  readonly origins?: readonly string[];
  readonly handshakeTimeoutMs?: number;
}

/** A stream transport as the runtime drives it. */
interface StreamTransport {
  send(to: Endpoint, connection: number | null, data: Buffer): boolean;
  onClosed: (connection: number) => void;
  close(): Promise<void>;
}

export interface SipRuntimeDeps extends Pick<SipProxyCoreDeps, 'hooks' | 'log' | 'runRoute'> {
  /** Sends from a UDP signaling listener (the core owns those sockets). */
  sendUdp(listener: string, to: Endpoint, bytes: Buffer): void;
  /** Hands a message that arrived over a stream transport to the dispatcher. */
  dispatch(msg: Message): void;
  /** A stream connection closed (bindings that named it may go). */
  connectionClosed?(transport: SipTransportName, connection: number): void;
  /** Counts a message that could not be parsed. */
  dropped(): void;
}

/**
 * Everything SIP needs beside the UDP sockets: the codec, the transaction layers with the proxy
 * core and the UAC core on top, how the proxy names itself on each listener (Via,
 * Record-Route, "is this URI us?"), and the TCP side of each SIP listener.
 */
export class SipRuntime {
  readonly dialect: SipDialect = createSipDialect();
  /** The dialect's engine as the dispatcher drives it (RFC 3261 §16 over §17). */
  readonly engine: SipProxyCore;
  private readonly uac: SipUac;
  /** Retransmissions, counted by both transaction layers. */
  readonly retransmissions = { retransmissionsAbsorbed: 0, retransmissionsSent: 0 };
  private readonly node = new LocalNode();
  private readonly identities = new Map<string, SipIdentity>();
  /** Stream transports by listener and transport name (`name|tcp`). */
  private readonly streams = new Map<string, StreamTransport>();
  /** The transports each listener offers, in the order listeners were opened. */
  private readonly offers = new Map<string, readonly SipTransportName[]>();
  private readonly credentials: TlsCredentials[] = [];
  private readonly tlsStats: TlsStats = { handshakeFailures: 0 };
  private readonly wsTransports: SipWsTransport[] = [];
  private tcpFramingErrors: () => number = () => 0;

  constructor(private readonly deps: SipRuntimeDeps, private readonly log: Logger) {
    const sender = { send: (dest: Destination, bytes: Buffer) => this.send(dest, bytes) };
    const identity = (name: string, transport?: SipTransportName): SipIdentity => {
      const own = transport === undefined ? name : this.listenerFor(name, transport);
      return this.identities.get(own) ?? [...this.identities.values()][0]!;
    };
    const clients = new ClientTransactions(sender, this.retransmissions);
    const servers = new ServerTransactions(sender, this.retransmissions);
    this.engine = new SipProxyCore({ ...deps, node: this.node, sender, identity, servers, clients });
    this.uac = new SipUac({ clients, identity, defaultListener: () => this.identities.keys().next().value });
  }

  /** Sends a request of the proxy's own (see SipUac). */
  originate(req: OriginateRequest): Promise<OriginateResult> {
    return this.uac.originate(req);
  }

  /**
   * Opens a SIP listener's stream side and names ourselves there: the TCP side of a UDP
   * listener (bound on `port`), or a TLS, WS or WSS listener of its own. Returns the port.
   */
  async listen(l: SipListenerConfig, port: number): Promise<number> {
    const offered: SipTransportName[] = l.transport !== undefined ? [l.transport] : [...(l.transports ?? ['udp'])];
    const onFrame = (transport: SipTransportName, stream: () => StreamTransport): TcpFrameHandler => (parsed, raw, source, connection) => {
      const r = this.dialect.accept(parsed, raw, { listener: l.name, source }, transport, connection);
      if (r.ok) return this.deps.dispatch(r.msg);
      this.deps.dropped();
      this.log.debug({ listener: l.name, transport, src: `${source.address}:${source.port}`, reason: r.reason }, 'unparsable message');
      if (r.answer !== null) stream().send(source, connection, r.answer);
    };
    let bound = port;
    for (const transport of offered.filter((t) => t !== 'udp')) {
      let stream: StreamTransport;
      const handler = onFrame(transport, () => stream);
      if (transport === 'tcp') {
        const tcp = await SipTcpTransport.listen(l.host, port, handler);
        const before = this.tcpFramingErrors;
        this.tcpFramingErrors = () => before() + tcp.framingErrors;
        stream = tcp;
        bound = tcp.port;
      } else if (transport === 'tls') {
        const tls = await SipTcpTransport.listen(l.host, port, handler, tlsFlavour(await this.credentialsOf(l), this.tlsStats, l.handshakeTimeoutMs));
        stream = tls;
        bound = tls.port;
      } else {
        const ws = await SipWsTransport.listen(l.host, port, handler, { ...(transport === 'wss' ? { credentials: await this.credentialsOf(l) } : {}), ...(l.origins !== undefined ? { origins: l.origins } : {}), ...(l.handshakeTimeoutMs !== undefined ? { handshakeTimeoutMs: l.handshakeTimeoutMs } : {}) });
        this.wsTransports.push(ws);
        stream = ws;
        bound = ws.port;
      }
      stream.onClosed = (connection) => this.deps.connectionClosed?.(transport, connection);
      this.streams.set(`${l.name}|${transport}`, stream);
      this.log.info({ listener: l.name, dialect: 'sip', transport, host: l.host, port: bound }, 'listening');
    }
    const id: SipIdentity = {
      host: l.advertise ?? defaultAdvertise(l.host),
      ...(l.host === '::' ? { host6: l.advertiseIPv6 ?? defaultAdvertise(l.host, 'IPv6') } : {}),
      port: bound,
    };
    this.identities.set(l.name, id);
    this.offers.set(l.name, offered);
    this.node.add(id);
    return bound;
  }

  private async credentialsOf(l: SipListenerConfig): Promise<TlsCredentials> {
    if (l.tls === undefined) throw new Error(`listener ${l.name}: ${l.transport} needs a certificate and a key`);
    const c = new TlsCredentials(l.tls, this.log);
    await c.watch();
    this.credentials.push(c);
    return c;
  }

  /** The listener a message over `transport` leaves from: `listener` if it offers it, else the first that does. */
  private listenerFor(listener: string, transport: SipTransportName): string {
    if (this.offers.get(listener)?.includes(transport)) return listener;
    for (const [name, offered] of this.offers) if (offered.includes(transport)) return name;
    return listener;
  }

  isOwnUri(uri: string): boolean {
    return this.node.isUs(uri);
  }

  /** Sends toward `dest`; false when it cannot go (no transport for it, or a connection that cannot be dialled again). */
  private send(dest: Destination, bytes: Buffer): boolean {
    const listener = this.listenerFor(dest.listener, dest.transport);
    if (dest.transport === 'udp') {
      this.deps.sendUdp(listener, dest.address, bytes);
      return true;
    }
    const stream = this.streams.get(`${listener}|${dest.transport}`);
    if (stream === undefined) {
      this.log.warn({ to: dest.address, transport: dest.transport }, 'no listener for this transport to send on');
      return false;
    }
    return stream.send(dest.address, dest.connection, bytes);
  }

  stats(): Record<string, number> {
    const ws = this.wsTransports.reduce((n, t) => ({ badFrames: n.badFrames + t.stats.badFrames, refused: n.refused + t.stats.refused, slowReaders: n.slowReaders + t.stats.slowReaders, handshakeFailures: n.handshakeFailures + t.stats.handshakeFailures }), { badFrames: 0, refused: 0, slowReaders: 0, handshakeFailures: 0 });
    return {
      ...this.retransmissions, ...this.engine.stats, tcpFramingErrors: this.tcpFramingErrors(),
      tlsHandshakeFailures: this.tlsStats.handshakeFailures + ws.handshakeFailures, tlsCertificateReloads: this.credentials.reduce((n, c) => n + c.reloads, 0),
      wsBadFrames: ws.badFrames, wsRefused: ws.refused, wsSlowReaders: ws.slowReaders,
    };
  }

  async close(): Promise<void> {
    await Promise.all([...this.streams.values()].map((t) => t.close()));
    this.streams.clear();
    await Promise.all(this.credentials.map((c) => c.close()));
    this.uac.close();
    this.engine.close();
  }
}
