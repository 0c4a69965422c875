import type dgram from 'node:dgram';
import { asSeenBy, type Endpoint } from '../../../core/module.ts';
import type { PartyStats, SessionKey, SessionStats } from '../session.ts';
import { MEDIA_SOCKET_BUFFER_BYTES, type LegOptions, type PartySpec, type RelaySession } from './engine.ts';

/** One party's leg: its port, and where its media goes (its SDP address until its first datagram latches the leg). */
class Leg {
  address: string;
  port: number;
  /** The IP the party signals from ('' unknown): strict latching accepts it besides the SDP IP. */
  signal = '';
  latched = false;
  packets = 0;
  bytes = 0;
  strangers = 0;
  other!: Leg;

  constructor(readonly name: string, readonly socket: dgram.Socket, readonly relayPort: number, public expected: Endpoint) {
    this.address = expected.address;
    this.port = expected.port;
  }
}

/**
 * The pure-JS engine's session with one port per party (rules: RelaySession). A datagram on a
 * leg's port is its party's when the leg has latched to its source, or latches the leg when it
 * has not (with `strictSource`, only from the party's SDP or signaling IP); anything else is a
 * stranger. The party's media goes to the other leg's party, sent from the other leg's port.
 */
export class LegSession implements RelaySession {
  readonly ports: readonly number[];
  private readonly a: Leg;
  private readonly b: Leg;
  private readonly dualStack: boolean;
  sendErrors = 0;
  ended = false;
  readonly startedAt = Date.now();

  constructor(readonly key: SessionKey, socketA: dgram.Socket, portA: number, socketB: dgram.Socket, portB: number, a: PartySpec, b: PartySpec, private readonly opts: LegOptions) {
    this.ports = [portA, portB];
    this.dualStack = socketA.address().family === 'IPv6';
    this.a = new Leg(a.name, socketA, portA, this.seen(a.address));
    this.b = new Leg(b.name, socketB, portB, this.seen(b.address));
    this.a.other = this.b;
    this.b.other = this.a;
    for (const leg of [this.a, this.b]) {
      try { leg.socket.setRecvBufferSize(MEDIA_SOCKET_BUFFER_BYTES); } catch { /* the default stays */ }
      leg.socket.on('message', (buf, rinfo) => this.onDatagram(leg, buf, rinfo.address, rinfo.port));
      leg.socket.on('error', () => { this.sendErrors++; });
    }
  }

  get port(): number {
    return this.a.relayPort;
  }

  private seen(e: Endpoint): Endpoint {
    return e.address === '' ? e : { address: asSeenBy(e.address, this.dualStack), port: e.port };
  }

  private leg(which: 'a' | 'b'): Leg {
    return which === 'a' ? this.a : this.b;
  }

  private onDatagram(leg: Leg, buf: Buffer, address: string, port: number): void {
    if (leg.latched) {
      if (port !== leg.port || address !== leg.address) {
        leg.strangers++;
        return;
      }
    } else {
      if (this.opts.strictSource && address !== leg.expected.address && address !== leg.signal) {
        leg.strangers++;
        return;
      }
      leg.address = address;
      leg.port = port;
      leg.latched = true;
    }
    leg.packets++;
    leg.bytes += buf.length;
    const to = leg.other;
    if (to.port === 0 || to.address === '') {
      this.sendErrors++;
      return;
    }
    to.socket.send(buf, to.port, to.address);
  }

  setExpected(which: 'a' | 'b', e: Endpoint): void {
    const leg = this.leg(which);
    const next = this.seen(e);
    if (leg.expected.address === next.address && leg.expected.port === next.port) return;
    const first = leg.expected.port === 0 && leg.expected.address === '';
    leg.expected = next;
    if (first && leg.latched) return; // its media came before its description: it stays latched
    leg.address = next.address;
    leg.port = next.port;
    leg.latched = false;
  }

  expected(which: 'a' | 'b'): Endpoint {
    return this.leg(which).expected;
  }

  setSignal(which: 'a' | 'b', address: string): void {
    this.leg(which).signal = address === '' ? '' : asSeenBy(address, this.dualStack);
  }

  legCounters(which: 'a' | 'b'): { packets: number; strangers: number } {
    const leg = this.leg(which);
    return { packets: leg.packets, strangers: leg.strangers };
  }

  unlatch(which: 'a' | 'b'): void {
    this.leg(which).latched = false;
  }

  relayedCount(): number {
    return this.a.packets + this.b.packets;
  }

  stats(): SessionStats {
    const party = (leg: Leg, role: PartyStats['role']): PartyStats => ({
      name: leg.name, role, relayPort: leg.relayPort, media: { address: leg.address, port: leg.port }, latched: leg.latched, packets: leg.packets, bytes: leg.bytes,
    });
    return {
      port: this.a.relayPort,
      durationMs: Date.now() - this.startedAt,
      parties: [party(this.a, 'caller'), party(this.b, 'callee')],
      strangers: this.a.strangers + this.b.strangers,
      sendErrors: this.sendErrors,
    };
  }

  close(): void {
    if (this.ended) return;
    this.ended = true;
    for (const leg of [this.a, this.b]) {
      leg.socket.removeAllListeners('message');
      leg.socket.close();
    }
  }
}
