import type { Endpoint } from '../../lib/address.ts';
import type { Logger } from '../../lib/log.ts';
import type { Message } from '../../model/message.ts';
import { RESPONSE_CLASSES } from '../../kernel/message-counts.ts';
import type { SipOriginateRequest as OriginateRequest, OriginateResult } from '../../kernel/core-services.ts';
import { ClientTransactions } from './client-transactions.ts';
import { createSipDialect, type SipDialect } from './dialect.ts';
import { LocalNode, defaultAdvertise, type SipIdentity } from './local-node.ts';
import { SipProxyCore, type SipProxyCoreDeps } from './proxy-core.ts';
import { DNS_DEFAULTS, SipResolver, type DnsOptions } from './resolver.ts';
import { RouteMarks } from './route-mark.ts';
import { ServerTransactions } from './server-transactions.ts';
import { TlsCredentials, type TlsFiles } from '../../transport/tls-credentials.ts';
import type { StreamStats } from './stream-limits.ts';
import { SipTcpTransport, type DialOptions, type TcpFrameHandler } from './tcp-transport.ts';
import { tlsFlavour } from './tls-transport.ts';
import type { OverloadFeedback } from './overload-feedback.ts';
import { SipTriage } from './triage.ts';
import type { Destination } from './transactions.ts';
import { SipUac } from './uac.ts';
import type { SipTransportName } from './wire.ts';
import { SipWsTransport } from './ws-transport.ts';

/** What a script sets of SIP beside its listeners (`sip` in defineProxy); what it leaves out has its default. */
export interface SipOptions {
  readonly dns?: { readonly [K in keyof DnsOptions]?: DnsOptions[K] | undefined } | undefined;
  /** The key of this proxy's Record-Route marks; random per process when absent. */
  readonly routeSecret?: string | undefined;
}

function dnsOptions(o: SipOptions): DnsOptions {
  const set = Object.fromEntries(Object.entries(o.dns ?? {}).filter(([, v]) => v !== undefined));
  return { ...DNS_DEFAULTS, ...set };
}

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
  readonly stats: StreamStats;
  send(to: Endpoint, connection: number | null, data: Buffer, dial?: DialOptions): boolean;
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
  /** How long datagrams now wait in the proxy's receive queues, ms (retransmissions are put off by it). */
  queueDelayMs?(): number;
  /** RFC 7339 overload feedback for the clients that ask for it (OverloadControl.feedback). */
  overloadFeedback?: OverloadFeedback;
}

/**
 * Everything SIP needs beside the UDP sockets: the codec, the transaction layers with the proxy
 * core and the UAC core on top, how the proxy names itself on each listener (Via,
 * Record-Route, "is this URI us?"), and the stream side of each SIP listener (TCP beside its
 * UDP socket; TLS, WebSocket and WebSocket over TLS on listeners of their own).
 */
export class SipRuntime {
  readonly dialect: SipDialect = createSipDialect();
  /** The dialect's engine as the dispatcher drives it (RFC 3261 §16 over §17). */
  readonly engine: SipProxyCore;
  /** The first look at each UDP datagram, and the refusals sent without a transaction. */
  readonly triage: SipTriage;
  private readonly uac: SipUac;
  /** Retransmissions, counted by both transaction layers. */
  readonly retransmissions = { retransmissionsAbsorbed: 0, retransmissionsSent: 0, retransmissionsPutOff: 0 };
  private readonly node = new LocalNode();
  private readonly identities = new Map<string, SipIdentity>();
  /** Stream transports by listener and transport name (`name|tcp`). */
  private readonly streams = new Map<string, StreamTransport>();
  /** The transports each listener offers, in the order listeners were opened. */
  private readonly offers = new Map<string, readonly SipTransportName[]>();
  private readonly credentials: TlsCredentials[] = [];
  private readonly clients: ClientTransactions;
  private readonly servers: ServerTransactions;

  private readonly resolver: SipResolver;

  constructor(private readonly deps: SipRuntimeDeps, private readonly log: Logger, options: SipOptions = {}) {
    const sender = { send: (dest: Destination, bytes: Buffer, failed?: () => void) => this.send(dest, bytes, failed) };
    const identity = (name: string, transport?: SipTransportName): SipIdentity => {
      const own = transport === undefined ? name : this.listenerFor(name, transport);
      return this.identities.get(own) ?? [...this.identities.values()][0]!;
    };
    const clients = new ClientTransactions(sender, this.retransmissions, () => deps.queueDelayMs?.() ?? 0);
    this.clients = clients;
    const servers = new ServerTransactions(sender, this.retransmissions, deps.overloadFeedback);
    this.servers = servers;
    this.resolver = new SipResolver(dnsOptions(options));
    const marks = new RouteMarks(options.routeSecret);
    this.engine = new SipProxyCore({ ...deps, node: this.node, sender, identity, servers, clients, resolver: this.resolver, marks });
    this.triage = new SipTriage((key) => servers.knows(key), deps.overloadFeedback);
    this.uac = new SipUac({ clients, identity, defaultListener: () => this.identities.keys().next().value, resolver: this.resolver });
  }

  /** The SIP options of a reloaded script that apply in place (the resolver's bounds). */
  configure(options: SipOptions): void {
    this.resolver.configure(dnsOptions(options));
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
      const handshakeMs = l.handshakeTimeoutMs;
      if (transport === 'tcp' || transport === 'tls') {
        const flavour = transport === 'tls' ? tlsFlavour(await this.credentialsOf(l)) : undefined;
        const t = await SipTcpTransport.listen(l.host, port, handler, { log: this.log, ...(flavour !== undefined ? { flavour } : {}), ...(handshakeMs !== undefined ? { handshakeMs } : {}) });
        stream = t;
        bound = t.port;
      } else {
        const ws = await SipWsTransport.listen(l.host, port, handler, {
          log: this.log, ...(transport === 'wss' ? { credentials: await this.credentialsOf(l) } : {}), ...(l.origins !== undefined ? { origins: l.origins } : {}), ...(handshakeMs !== undefined ? { handshakeMs } : {}),
        });
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
    this.log.info({ listener: l.name, advertise: id.host, ...(id.host6 !== undefined ? { advertiseIPv6: id.host6 } : {}) }, 'sip advertises');
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
  private send(dest: Destination, bytes: Buffer, failed?: () => void): boolean {
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
    return stream.send(dest.address, dest.connection, bytes, { ...(dest.name !== undefined ? { name: dest.name } : {}), ...(failed !== undefined ? { failed } : {}) });
  }

  /**
   * The runtime's counters; per stream transport (tcp always, tls, ws, wss when listened on) why
   * connections were closed or refused: `tcpFramingErrors`, `tlsHandshakeFailures`, `wsRefusedUpgrades`...
   */
  stats(): Record<string, number> {
    const streams: Record<string, number> = { tcpFramingErrors: 0, tcpRefusedPerSource: 0, tcpRefusedTotal: 0, tcpWriteQueueOverflows: 0, tcpFirstMessageTimeouts: 0 };
    const add = (k: string, n: number): void => { streams[k] = (streams[k] ?? 0) + n; };
    for (const [key, stream] of this.streams) {
      const kind = key.slice(key.lastIndexOf('|') + 1);
      const st = stream.stats;
      add(`${kind}FramingErrors`, st.framingErrors);
      add(`${kind}RefusedPerSource`, st.refusedPerSource);
      add(`${kind}RefusedTotal`, st.refusedTotal);
      add(`${kind}WriteQueueOverflows`, st.writeQueueOverflows);
      add(`${kind}FirstMessageTimeouts`, st.firstMessageTimeouts);
      if (kind !== 'tcp') add(`${kind}HandshakeFailures`, st.handshakeFailures);
      if (stream instanceof SipWsTransport) add(`${kind}RefusedUpgrades`, stream.stats.refusedUpgrades);
    }
    if (this.credentials.length > 0) streams.tlsCertificateReloads = this.credentials.reduce((n, c) => n + c.reloads, 0);
    return {
      ...this.retransmissions, ...this.engine.stats, ...this.resolver.stats, repliesFromElsewhere: this.clients.repliesFromElsewhere, ...streams,
      ...Object.fromEntries(RESPONSE_CLASSES.map((c, i) => [`responsesSent.${c}`, this.servers.responsesSent[i]!])),
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
