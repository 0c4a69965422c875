import type { Endpoint } from '../../../core/module.ts';
import type { SessionKey, SessionStats } from '../session.ts';

/** Each session socket's receive queue: room for a burst (a jitter-buffer flush, a scheduling hiccup); memory is used only while queued. */
export const MEDIA_SOCKET_BUFFER_BYTES = 1024 * 1024;

/** A party of a session: its name (for the counters) and where it is expected to send from. */
export interface PartySpec {
  readonly name: string;
  readonly address: Endpoint;
}

/** How a session with one leg per party latches (see LegSession). */
export interface LegOptions {
  /** Only the party's SDP IP or signaling IP may latch its leg; default: any source. */
  readonly strictSource: boolean;
}

/**
 * A media relay session: every datagram from one party goes, unchanged, to the other. Either
 * one port both parties send to (`ports` has one), told apart by source address: a party that
 * has not sent yet latches to a new source from its own IP (symmetric NAT learning, as
 * rtpproxy), anything else is dropped. Or one port per party, a leg each (`ports` has two,
 * party a's first): a party is whoever sends to its leg's port; the first datagram latches the
 * leg (see LegSession), and media to a party leaves from its own leg's port.
 */
export interface RelaySession {
  readonly key: SessionKey;
  /** The first of `ports`: the session's name in logs. */
  readonly port: number;
  /** The ports the session relays on: one shared, or party a's leg then party b's. */
  readonly ports: readonly number[];
  /** Closed: no longer relaying. */
  readonly ended: boolean;
  /**
   * Where a party says its media comes from (SIP: the address and port in its SDP). A party
   * that has not sent yet simply expects it; one whose address moved (a re-INVITE) latches anew;
   * one that latched before anything was expected of it (its media before its answer) stays.
   */
  setExpected(which: 'a' | 'b', e: Endpoint): void;
  /** Where a party is expected to send from, as last set (in the socket's address form). */
  expected(which: 'a' | 'b'): Endpoint;
  /** Legs: the IP a party signals from, which strict latching also accepts. */
  setSignal(which: 'a' | 'b', address: string): void;
  /** Legs: what the re-latch rule watches of a party: datagrams it sent, and strangers on its port. */
  legCounters(which: 'a' | 'b'): { readonly packets: number; readonly strangers: number };
  /** Legs: the party latches anew at its next datagram (its media still goes where it last came from until then). */
  unlatch(which: 'a' | 'b'): void;
  /** Datagrams relayed so far, both ways (the idle sweep compares it between sweeps). */
  relayedCount(): number;
  stats(): SessionStats;
  /** Stops relaying and frees the socket; idempotent. */
  close(): void;
}

/** A port an engine has bound, not yet carrying a session. */
export interface BoundPort {
  readonly port: number;
  /** Starts relaying on this port between `a` and `b`. */
  start(key: SessionKey, a: PartySpec, b: PartySpec): RelaySession;
  /** Frees a port that never started a session. */
  release(): void;
}

/** What one forwarding thread of the native engine did so far, and holds now. */
export interface RelayThreadCounters {
  /** Times it woke up with sockets to drain. */
  readonly wakeups: number;
  /** Datagrams it read, and their bytes. */
  readonly received: number;
  readonly receivedBytes: number;
  /** Datagrams the kernel took from it to send. */
  readonly sent: number;
  /** Reads that filled its batch: datagrams were waiting, it was behind. */
  readonly fullReads: number;
  /** Sockets it drains now. */
  readonly ports: number;
  /** Datagrams dropped on its ports after their session ended (a closed port's would be dropped by the kernel). */
  readonly noSession: number;
  /** CPU time it used (-1: the system would not tell). */
  readonly cpuSeconds: number;
}

/**
 * Where datagrams are forwarded: the native engine (worker threads, recvmmsg/sendmmsg) or the
 * pure-JS one (`dgram`, on the event loop). Both follow the same rules; the tests run both.
 */
export interface MediaEngine {
  readonly kind: 'native' | 'js';
  /** Threads forwarding media (the JS engine: the event loop, 1). */
  readonly workers: number;
  /** Binds `port` on the engine's host; rejects when it cannot (held by another program...). */
  bind(port: number): Promise<BoundPort>;
  /** Starts relaying between `a` on port `legA` and `b` on port `legB`, both bound by this engine. */
  startLegs(key: SessionKey, legA: BoundPort, legB: BoundPort, a: PartySpec, b: PartySpec, opts: LegOptions): RelaySession;
  /** Each forwarding thread's counters (the native engine; the JS engine forwards on the event loop and has none). */
  threads?(): readonly RelayThreadCounters[];
  /** Stops forwarding; every session's socket is closed. */
  close(): void;
}
