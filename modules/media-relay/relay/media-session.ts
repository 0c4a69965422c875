import type dgram from 'node:dgram';
import { asSeenBy, type Endpoint } from '../../../core/address.ts';

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

export interface SessionStats {
  readonly port: number;
  readonly durationMs: number;
  readonly parties: readonly { readonly name: string; readonly media: Endpoint; readonly latched: boolean; readonly packets: number; readonly bytes: number }[];
  readonly strangers: number;
  readonly sendErrors: number;
}

const MEDIA_SOCKET_BUFFER_BYTES = 1024 * 1024;

export type SessionEndReason = 'bye' | 'idle' | 'ended' | 'dialog' | 'shutdown' | 'replaced';

/**
 * A media relay session on one port: every datagram from one party goes, unchanged, to the
 * other. Senders are told apart by source address; a party that has not sent yet latches to
 * a new source from its own IP (symmetric NAT learning, as rtpproxy); anything else is dropped.
 */
export class MediaSession {
  readonly a: MediaParty;
  readonly b: MediaParty;
  strangers = 0;
  sendErrors = 0;
  private readonly dualStack: boolean;
  /** Datagrams relayed, read by the idle sweep (no clock read per packet). */
  relayed = 0;
  relayedAtLastSweep = 0;
  idleSince: number;
  ended = false;
  readonly startedAt = Date.now();

  constructor(
    readonly key: string,
    readonly socket: dgram.Socket,
    readonly port: number,
    a: { name: string; address: Endpoint },
    b: { name: string; address: Endpoint },
  ) {
    // Compare addresses in the form this socket reports them, whatever family signaling used.
    this.dualStack = socket.address().family === 'IPv6';
    // Room for a burst (a jitter-buffer flush, a scheduling hiccup) without kernel drops; memory is used only while queued.
    try { socket.setRecvBufferSize(MEDIA_SOCKET_BUFFER_BYTES); } catch { /* the default stays */ }
    this.a = new MediaParty(a.name, this.seen(a.address));
    this.b = new MediaParty(b.name, this.seen(b.address));
    this.idleSince = this.startedAt;
    socket.on('message', (buf, rinfo) => this.onDatagram(buf, rinfo.address, rinfo.port));
    socket.on('error', () => { this.sendErrors++; });
  }

  private seen(e: Endpoint): Endpoint {
    return { address: asSeenBy(e.address, this.dualStack), port: e.port };
  }

  /**
   * Where a party says its media comes from (SIP: the address and port in its SDP). A party
   * that has not sent yet simply expects it; one whose address moved (a re-INVITE) latches anew.
   */
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

  stats(): SessionStats {
    const party = (p: MediaParty) => ({ name: p.name, media: p.media, latched: p.hasSent, packets: p.packets, bytes: p.bytes });
    return { port: this.port, durationMs: Date.now() - this.startedAt, parties: [party(this.a), party(this.b)], strangers: this.strangers, sendErrors: this.sendErrors };
  }

  close(): void {
    if (this.ended) return;
    this.ended = true;
    this.socket.removeAllListeners('message');
    this.socket.close();
  }
}
