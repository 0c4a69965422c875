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
import { SipTcpTransport } from './tcp-transport.ts';
import { SipTriage } from './triage.ts';
import type { Destination } from './transactions.ts';
import { SipUac } from './uac.ts';

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
}

export interface SipRuntimeDeps extends Pick<SipProxyCoreDeps, 'hooks' | 'log' | 'runRoute'> {
  /** Sends from a UDP signaling listener (the core owns those sockets). */
  sendUdp(listener: string, to: Endpoint, bytes: Buffer): void;
  /** Hands a message that arrived over TCP to the dispatcher. */
  dispatch(msg: Message): void;
  /** Counts a message that could not be parsed. */
  dropped(): void;
  /** How long datagrams now wait in the proxy's receive queues, ms (retransmissions are put off by it). */
  queueDelayMs?(): number;
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
  /** The first look at each UDP datagram, and the refusals sent without a transaction. */
  readonly triage: SipTriage;
  private readonly uac: SipUac;
  /** Retransmissions, counted by both transaction layers. */
  readonly retransmissions = { retransmissionsAbsorbed: 0, retransmissionsSent: 0, retransmissionsPutOff: 0 };
  private readonly node = new LocalNode();
  private readonly identities = new Map<string, SipIdentity>();
  private readonly tcp = new Map<string, SipTcpTransport>();
  private readonly clients: ClientTransactions;
  private readonly servers: ServerTransactions;

  private readonly resolver: SipResolver;

  constructor(private readonly deps: SipRuntimeDeps, private readonly log: Logger, options: SipOptions = {}) {
    const sender = { send: (dest: Destination, bytes: Buffer) => this.send(dest, bytes) };
    const identity = (name: string): SipIdentity => this.identities.get(name) ?? [...this.identities.values()][0]!;
    const clients = new ClientTransactions(sender, this.retransmissions, () => deps.queueDelayMs?.() ?? 0);
    this.clients = clients;
    const servers = new ServerTransactions(sender, this.retransmissions);
    this.servers = servers;
    this.resolver = new SipResolver(dnsOptions(options));
    const marks = new RouteMarks(options.routeSecret);
    this.engine = new SipProxyCore({ ...deps, node: this.node, sender, identity, servers, clients, resolver: this.resolver, marks });
    this.triage = new SipTriage((key) => servers.knows(key));
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

  /** A SIP listener's UDP socket is bound on `port`: name ourselves there and open its TCP side. */
  async listen(l: SipListenerConfig, port: number): Promise<void> {
    const id: SipIdentity = {
      host: l.advertise ?? defaultAdvertise(l.host),
      ...(l.host === '::' ? { host6: l.advertiseIPv6 ?? defaultAdvertise(l.host, 'IPv6') } : {}),
      port,
    };
    this.identities.set(l.name, id);
    this.node.add(id);
    this.log.info({ listener: l.name, advertise: id.host, ...(id.host6 !== undefined ? { advertiseIPv6: id.host6 } : {}) }, 'sip advertises');
    if (!(l.transports ?? []).includes('tcp')) return;
    const tcp = await SipTcpTransport.listen(l.host, port, (parsed, raw, source, connection) => {
      const r = this.dialect.accept(parsed, raw, { listener: l.name, source }, 'tcp', connection);
      if (r.ok) return this.deps.dispatch(r.msg);
      this.deps.dropped();
      this.log.debug({ listener: l.name, transport: 'tcp', src: `${source.address}:${source.port}`, reason: r.reason }, 'unparsable message');
      if (r.answer !== null) tcp.send(source, connection, r.answer);
    }, this.log);
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
    const tcp = (k: keyof SipTcpTransport['stats']): number => [...this.tcp.values()].reduce((n, t) => n + t.stats[k], 0);
    return {
      ...this.retransmissions, ...this.engine.stats, ...this.resolver.stats, repliesFromElsewhere: this.clients.repliesFromElsewhere, tcpFramingErrors: tcp('framingErrors'), tcpRefusedPerSource: tcp('refusedPerSource'),
      tcpRefusedTotal: tcp('refusedTotal'), tcpWriteQueueOverflows: tcp('writeQueueOverflows'), tcpFirstMessageTimeouts: tcp('firstMessageTimeouts'),
      ...Object.fromEntries(RESPONSE_CLASSES.map((c, i) => [`responsesSent.${c}`, this.servers.responsesSent[i]!])),
    };
  }

  async close(): Promise<void> {
    await Promise.all([...this.tcp.values()].map((t) => t.close()));
    this.tcp.clear();
    this.uac.close();
    this.engine.close();
  }
}
