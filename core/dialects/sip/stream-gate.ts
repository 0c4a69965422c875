import type net from 'node:net';
import { canonicalHost } from '../../lib/address.ts';
import type { Logger } from '../../lib/log.ts';
import { LogThrottle } from '../../lib/log-throttle.ts';
import { STREAM_LIMITS, totalConnections, type StreamStats } from './stream-limits.ts';

/** Stream connections open in this process, every listener's and dialled ones: file descriptors are the process's. */
let openConnections = 0;
const MAX_OPEN = totalConnections();

/** One connection the gate let in: counted until its socket closes, and on a deadline until it proves itself. */
export class GateEntry {
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly socket: net.Socket, private readonly stats: StreamStats) {}

  /** Destroys the socket unless disarmed within `ms`; `why` is the counter it then goes to. */
  arm(ms: number, why: 'handshakeFailures' | 'firstMessageTimeouts'): void {
    this.disarm();
    this.timer = setTimeout(() => {
      this.timer = null;
      if (this.socket.destroyed) return;
      this.stats[why]++;
      this.socket.destroy();
    }, ms);
    this.timer.unref();
  }

  /** Its handshake is done (TLS, the WebSocket upgrade): now it has until the first-message deadline. */
  ready(): void {
    this.arm(STREAM_LIMITS.firstMessageMs, 'firstMessageTimeouts');
  }

  /** It delivered a complete message (or, dialled, it connected): no deadline any more. */
  proven(): void {
    this.disarm();
  }

  disarm(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }
}

const key = (address: string, port: number): string => `${canonicalHost(address)}|${port}`;

/**
 * Who may hold a connection to one stream listener, checked at the TCP accept so that TLS and
 * WebSocket handshakes in progress count: connections per source address (STREAM_LIMITS.perSource)
 * and in all (a quarter of the file descriptors); each gets `handshakeMs` to finish its handshake
 * and then STREAM_LIMITS.firstMessageMs to deliver its first complete message.
 */
export class StreamGate {
  private readonly perSource = new Map<string, number>();
  /** Accepted connections by remote address and port: a TLS socket wrapping one finds it so. */
  private readonly accepted = new Map<string, { readonly entry: GateEntry; readonly socket: net.Socket }>();
  private readonly refusedLog = new LogThrottle(10_000);

  constructor(private readonly name: string, private readonly stats: StreamStats, private readonly handshakeMs: number, private readonly log?: Logger) {}

  /**
   * A connection the listener accepted. Refused (destroyed, counted, logged) past the caps;
   * else counted until it closes, and `handshake` says whether it has one to finish first
   * (TCP has none: its first-message deadline starts now).
   */
  accept(socket: net.Socket, handshake: boolean): boolean {
    const address = socket.remoteAddress;
    const port = socket.remotePort;
    if (address === undefined || port === undefined) {
      // Gone before it was looked at.
      socket.destroy();
      return false;
    }
    const ip = canonicalHost(address);
    const fromThere = this.perSource.get(ip) ?? 0;
    if (fromThere >= STREAM_LIMITS.perSource || openConnections >= MAX_OPEN) {
      const perSource = fromThere >= STREAM_LIMITS.perSource;
      if (perSource) this.stats.refusedPerSource++;
      else this.stats.refusedTotal++;
      const held = this.refusedLog.pass();
      if (held !== null) {
        this.log?.warn({ src: ip, open: perSource ? fromThere : openConnections, limit: perSource ? STREAM_LIMITS.perSource : MAX_OPEN, alsoRefused: held },
          perSource ? `${this.name} connection refused: too many from this address` : `${this.name} connection refused: too many connections`);
      }
      socket.on('error', () => undefined);
      socket.destroy();
      return false;
    }
    const entry = this.count(socket, ip);
    const k = key(address, port);
    this.accepted.set(k, { entry, socket });
    socket.once('close', () => { if (this.accepted.get(k)?.socket === socket) this.accepted.delete(k); });
    if (handshake) entry.arm(this.handshakeMs, 'handshakeFailures');
    else entry.ready();
    return true;
  }

  /** Opens a connection to `peerAddress` with `open`, counted until it closes; null (nothing opened) when the process holds all it may. */
  dial<S extends net.Socket>(peerAddress: string, open: () => S): { readonly socket: S; readonly entry: GateEntry } | null {
    if (openConnections >= MAX_OPEN) {
      this.stats.refusedTotal++;
      return null;
    }
    const socket = open();
    const entry = this.count(socket, canonicalHost(peerAddress));
    entry.ready();
    return { socket, entry };
  }

  /** The entry of an accepted connection, found by its peer's address (the same on a TLS socket as on the TCP one it wraps). */
  entryOf(socket: { readonly remoteAddress?: string | undefined; readonly remotePort?: number | undefined }): GateEntry | undefined {
    if (socket.remoteAddress === undefined || socket.remotePort === undefined) return undefined;
    return this.accepted.get(key(socket.remoteAddress, socket.remotePort))?.entry;
  }

  /** Closes every accepted connection (the listener is closing). */
  closeAll(): void {
    for (const { socket } of this.accepted.values()) socket.destroy();
    this.accepted.clear();
  }

  private count(socket: net.Socket, ip: string): GateEntry {
    const entry = new GateEntry(socket, this.stats);
    openConnections++;
    this.perSource.set(ip, (this.perSource.get(ip) ?? 0) + 1);
    socket.once('close', () => {
      entry.disarm();
      openConnections--;
      const n = (this.perSource.get(ip) ?? 1) - 1;
      if (n > 0) this.perSource.set(ip, n);
      else this.perSource.delete(ip);
    });
    return entry;
  }
}
