import type dgram from 'node:dgram';
import { asSeenBy, type Endpoint } from '../../../core/module.ts';
import type { PartyStats, SessionKey, SessionStats } from '../session.ts';
import { MEDIA_SOCKET_BUFFER_BYTES, type PartySpec, type RelaySession } from './engine.ts';

/** One side of a relayed call. */
export class MediaParty {
  /** Where this party's media is sent: its signaling address until it latches. */
  address: string;
  port: number;
  /** Set by its first datagram; after that its media address never moves. */
  hasSent = false;
  packets = 0;
  bytes = 0;

  constructor(readonly name: string, public expected: Endpoint) {
    this.address = expected.address;
    this.port = expected.port;
  }

  get media(): Endpoint {
    return { address: this.address, port: this.port };
  }
}

/** The pure-JS engine's session on one shared port: a `dgram` socket on the event loop (rules: RelaySession). */
export class MediaSession implements RelaySession {
  readonly ports: readonly number[];
  readonly a: MediaParty;
  readonly b: MediaParty;
  strangers = 0;
  sendErrors = 0;
  private readonly dualStack: boolean;
  /** Datagrams relayed, read by the idle sweep (no clock read per packet). */
  relayed = 0;
  ended = false;
  readonly startedAt = Date.now();

  constructor(
    readonly key: SessionKey,
    readonly socket: dgram.Socket,
    readonly port: number,
    a: PartySpec,
    b: PartySpec,
  ) {
    this.ports = [port];
    // Compare addresses in the form this socket reports them, whatever family signaling used.
    this.dualStack = socket.address().family === 'IPv6';
    try { socket.setRecvBufferSize(MEDIA_SOCKET_BUFFER_BYTES); } catch { /* the default stays */ }
    this.a = new MediaParty(a.name, this.seen(a.address));
    this.b = new MediaParty(b.name, this.seen(b.address));
    socket.on('message', (buf, rinfo) => this.onDatagram(buf, rinfo.address, rinfo.port));
    socket.on('error', () => { this.sendErrors++; });
  }

  private seen(e: Endpoint): Endpoint {
    return { address: asSeenBy(e.address, this.dualStack), port: e.port };
  }

  setExpected(which: 'a' | 'b', e: Endpoint): void {
    const p = which === 'a' ? this.a : this.b;
    const next = this.seen(e);
    if (p.expected.address === next.address && p.expected.port === next.port) return;
    p.expected = next;
    p.address = next.address;
    p.port = next.port;
    p.hasSent = false;
  }

  private sender(address: string, port: number): MediaParty | null {
    const { a, b } = this;
    if (port === a.port && address === a.address) return a;
    if (port === b.port && address === b.address) return b;
    const aMay = !a.hasSent && address === a.expected.address;
    const bMay = !b.hasSent && address === b.expected.address;
    if (aMay === bMay) return null; // neither, or ambiguous: a stranger
    const p = aMay ? a : b;
    p.address = address;
    p.port = port;
    return p;
  }

  private onDatagram(buf: Buffer, address: string, port: number): void {
    const from = this.sender(address, port);
    if (from === null) {
      this.strangers++;
      return;
    }
    from.hasSent = true;
    from.packets++;
    from.bytes += buf.length;
    this.relayed++;
    const to = from === this.a ? this.b : this.a;
    // No callback: a send completes synchronously when it can, and a failure surfaces as 'error' (counted).
    this.socket.send(buf, to.port, to.address);
  }

  expected(which: 'a' | 'b'): Endpoint {
    return (which === 'a' ? this.a : this.b).expected;
  }

  /** A shared port tells its parties apart by their expected IPs: no other address is accepted. */
  setSignal(): void {}

  legCounters(which: 'a' | 'b'): { packets: number; strangers: number } {
    return { packets: (which === 'a' ? this.a : this.b).packets, strangers: this.strangers };
  }

  unlatch(which: 'a' | 'b'): void {
    (which === 'a' ? this.a : this.b).hasSent = false;
  }

  relayedCount(): number {
    return this.relayed;
  }

  stats(): SessionStats {
    const party = (p: MediaParty, role: PartyStats['role']): PartyStats => ({ name: p.name, role, relayPort: this.port, media: p.media, latched: p.hasSent, packets: p.packets, bytes: p.bytes });
    return { port: this.port, durationMs: Date.now() - this.startedAt, parties: [party(this.a, 'caller'), party(this.b, 'callee')], strangers: this.strangers, sendErrors: this.sendErrors };
  }

  close(): void {
    if (this.ended) return;
    this.ended = true;
    this.socket.removeAllListeners('message');
    this.socket.close();
  }
}
