// The loopback transport shim: one UDP socket per host (SCTP over UDP, as in
// RFC 6951), a routing table per host that plays the role of the SCTP
// endpoint's association lookup by remote address, a wire log, and seeded
// impairment (FIFO delay per directed link, loss, and holds that let a test
// force one path to overtake another).

import { createSocket, type Socket } from 'node:dgram';
import { decodePacket, type PacketSummary } from './wire.ts';

export interface UdpAddress {
  readonly ip: string;
  readonly port: number;
}

export function addressKey(address: UdpAddress): string {
  return `${address.ip}:${address.port}`;
}

const LOOPBACK_PREFIX = '127.';

export interface Datagram {
  readonly id: number;
  readonly from: string;
  readonly to: string;
  readonly fromAddress: UdpAddress;
  readonly toAddress: UdpAddress;
  readonly bytes: Buffer;
  readonly packet: PacketSummary | undefined;
}

export type Fate = 'sent' | 'delayed' | 'dropped' | 'held';

export interface WireRecord extends Datagram {
  readonly atMs: number;
  fate: Fate;
  delayMs: number;
  reason?: string;
}

export type Verdict =
  | { readonly action: 'deliver'; readonly delayMs: number }
  | { readonly action: 'drop'; readonly reason: string };

/** Returns a verdict for the datagrams it cares about, undefined for the rest. The first verdict wins. */
export type ImpairmentRule = (datagram: Datagram) => Verdict | undefined;

export type DatagramHandler = (bytes: Buffer, from: UdpAddress) => void;

/** Per directed link FIFO, so that a delay never reorders datagrams of one link. */
class LinkQueue {
  private readonly queue: { record: WireRecord; releaseAt: number }[] = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly now: () => number,
    private readonly emit: (record: WireRecord) => void,
  ) {}

  push(record: WireRecord, delayMs: number): void {
    if (this.queue.length === 0 && delayMs <= 0) {
      this.emit(record);
      return;
    }
    const last = this.queue.at(-1)?.releaseAt ?? 0;
    this.queue.push({ record, releaseAt: Math.max(this.now() + delayMs, last) });
    this.schedule();
  }

  cancel(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.queue.length = 0;
  }

  private schedule(): void {
    const head = this.queue[0];
    if (this.timer !== undefined || head === undefined) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.flush();
    }, Math.max(0, head.releaseAt - this.now()));
  }

  private flush(): void {
    const now = this.now();
    while (this.queue.length > 0 && this.queue[0]!.releaseAt <= now + 0.5) {
      this.emit(this.queue.shift()!.record);
    }
    this.schedule();
  }
}

/** Datagrams matching the predicate are kept back until release(), then sent in their original order. */
export class Hold {
  readonly held: WireRecord[] = [];
  private active = true;
  private readonly safetyTimer: NodeJS.Timeout;

  constructor(
    readonly label: string,
    private readonly predicate: (datagram: Datagram) => boolean,
    maxHoldMs: number,
    private readonly resend: (records: WireRecord[]) => void,
  ) {
    // A hold never outlives its bound, even if the scenario forgets to release it.
    this.safetyTimer = setTimeout(() => this.release(), maxHoldMs);
  }

  get isActive(): boolean {
    return this.active;
  }

  capture(record: WireRecord): boolean {
    if (!this.active || !this.predicate(record)) return false;
    record.fate = 'held';
    this.held.push(record);
    return true;
  }

  release(): void {
    if (!this.active) return;
    this.active = false;
    clearTimeout(this.safetyTimer);
    this.resend(this.held);
  }

  cancel(): void {
    this.active = false;
    clearTimeout(this.safetyTimer);
  }
}

export class LoopbackHost {
  private readonly routes = new Map<string, DatagramHandler>();
  private fallback: DatagramHandler | undefined;
  private closed = false;
  unroutedCount = 0;

  constructor(
    readonly name: string,
    readonly address: UdpAddress,
    private readonly socket: Socket,
    private readonly network: Network,
  ) {
    socket.on('message', (bytes, rinfo) => {
      if (this.closed) return;
      const from = { ip: rinfo.address, port: rinfo.port };
      const handler = this.routes.get(addressKey(from)) ?? this.fallback;
      if (handler) handler(bytes, from);
      else this.unroutedCount++;
    });
  }

  /** Datagrams from `remote` go to `handler`; returns a function that removes the route. */
  route(remote: UdpAddress, handler: DatagramHandler): () => void {
    const key = addressKey(remote);
    this.routes.set(key, handler);
    return () => {
      if (this.routes.get(key) === handler) this.routes.delete(key);
    };
  }

  unroute(remote: UdpAddress): void {
    this.routes.delete(addressKey(remote));
  }

  /** Handler for datagrams from addresses without a route (the host's "no association" case). */
  setFallback(handler: DatagramHandler | undefined): void {
    this.fallback = handler;
  }

  send(bytes: Buffer, to: UdpAddress): void {
    if (this.closed) return;
    this.network.transmit(this, to, bytes);
  }

  /** Used by the network once impairment has let the datagram through. */
  emit(bytes: Buffer, to: UdpAddress): void {
    if (this.closed) return;
    this.socket.send(bytes, to.port, to.ip, () => {
      // Loopback sends only fail once the socket is closing; nothing to do then.
    });
  }

  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.closed = true;
    this.routes.clear();
    this.fallback = undefined;
    return new Promise((resolve) => this.socket.close(() => resolve()));
  }
}

export class Network {
  readonly wire: WireRecord[] = [];
  private readonly hosts = new Map<string, LoopbackHost>();
  private readonly links = new Map<string, LinkQueue>();
  private readonly rules: ImpairmentRule[] = [];
  private readonly holds: Hold[] = [];
  private readonly startedAt = performance.now();
  private nextId = 1;
  private closed = false;

  now(): number {
    return performance.now() - this.startedAt;
  }

  /** Binds a host on a loopback address with an ephemeral UDP port (parallel runs never collide). */
  async addHost(name: string, ip: string): Promise<LoopbackHost> {
    if (!ip.startsWith(LOOPBACK_PREFIX)) throw new Error(`only loopback addresses are used here, not ${ip}`);
    const socket = createSocket('udp4');
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(0, ip, () => {
        socket.off('error', reject);
        resolve();
      });
    });
    socket.on('error', () => {
      // ICMP port-unreachable after a peer closed; SCTP retransmission handles it.
    });
    const bound = socket.address();
    const host = new LoopbackHost(name, { ip: bound.address, port: bound.port }, socket, this);
    this.hosts.set(addressKey(host.address), host);
    return host;
  }

  hostName(address: UdpAddress): string {
    return this.hosts.get(addressKey(address))?.name ?? addressKey(address);
  }

  addRule(rule: ImpairmentRule): () => void {
    this.rules.push(rule);
    return () => {
      const index = this.rules.indexOf(rule);
      if (index >= 0) this.rules.splice(index, 1);
    };
  }

  hold(label: string, predicate: (datagram: Datagram) => boolean, maxHoldMs = 2000): Hold {
    const hold = new Hold(label, predicate, maxHoldMs, (records) => {
      for (const record of records) this.linkFor(record).push(record, 0);
    });
    this.holds.push(hold);
    return hold;
  }

  transmit(from: LoopbackHost, to: UdpAddress, bytes: Buffer): void {
    if (this.closed) return;
    const datagram: WireRecord = {
      id: this.nextId++,
      atMs: this.now(),
      from: from.name,
      to: this.hostName(to),
      fromAddress: from.address,
      toAddress: to,
      bytes,
      packet: decodePacket(bytes),
      fate: 'sent',
      delayMs: 0,
    };
    this.wire.push(datagram);
    for (const hold of this.holds) {
      if (hold.capture(datagram)) return;
    }
    let verdict: Verdict = { action: 'deliver', delayMs: 0 };
    for (const rule of this.rules) {
      const ruled = rule(datagram);
      if (ruled) {
        verdict = ruled;
        break;
      }
    }
    if (verdict.action === 'drop') {
      datagram.fate = 'dropped';
      datagram.reason = verdict.reason;
      return;
    }
    datagram.delayMs = verdict.delayMs;
    if (verdict.delayMs > 0) datagram.fate = 'delayed';
    this.linkFor(datagram).push(datagram, verdict.delayMs);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const hold of this.holds) hold.cancel();
    for (const link of this.links.values()) link.cancel();
    await Promise.all([...this.hosts.values()].map((host) => host.close()));
  }

  private linkFor(record: Datagram): LinkQueue {
    const key = `${addressKey(record.fromAddress)}>${addressKey(record.toAddress)}`;
    let link = this.links.get(key);
    if (!link) {
      const sender = this.hosts.get(addressKey(record.fromAddress));
      link = new LinkQueue(
        () => this.now(),
        (datagram) => sender?.emit(datagram.bytes, datagram.toAddress),
      );
      this.links.set(key, link);
    }
    return link;
  }
}
