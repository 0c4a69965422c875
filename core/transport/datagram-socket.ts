import type { Endpoint } from '../lib/address.ts';

/**
 * A bound UDP socket as the listeners use it, whichever engine carries it: `native`
 * (native/signal.c: recvmmsg/sendmmsg batches on the event loop) or `js` (node:dgram).
 */
export interface DatagramSocket {
  readonly engine: UdpEngine;
  readonly port: number;
  /** An AF_INET6 socket with IPV6_V6ONLY off: it names IPv4 peers ::ffff:a.b.c.d. */
  readonly dualStack: boolean;
  /** `sent` runs once the datagram is ordered behind every earlier send of this socket. */
  send(to: Endpoint, data: Buffer, sent?: () => void): void;
  close(): Promise<void>;
}

export type UdpEngine = 'native' | 'js';

/** `auto`: native when it was built, else js. */
export type UdpEngineChoice = 'auto' | UdpEngine;

/** Called for each datagram received; `buf` may be a view into a larger batch buffer. */
export type DatagramReceiver = (buf: Buffer, source: Endpoint) => void;

/** How full a socket's receive queue is (the native engine reads it when a read fills its batch). */
export interface SocketQueue {
  /** Bytes queued, with the kernel's own overhead per datagram. */
  readonly bytes: number;
  /** What the queue may hold before the kernel drops. */
  readonly capacity: number;
  /** Datagrams the kernel dropped on this socket so far (a full queue). */
  readonly drops: number;
}

/** What a socket read tells of the socket's queue. */
export interface SocketRead {
  /** The read emptied the queue (it did not fill its batch). */
  readonly drained: boolean;
  /** How long the read's oldest datagram waited in the queue, ms (native engine). */
  readonly waitedMs?: number;
  /** How full the queue still is, after a read that filled its batch (native engine). */
  readonly queue?: SocketQueue;
}

/**
 * Called once the datagrams of one read have all been given to the receiver. A socket read one
 * datagram at a time (node:dgram) always says drained, and nothing more.
 */
export type ReadEnd = (read: SocketRead) => void;

/** A deep queue rides out bursts (and the first cold seconds) without the kernel dropping signaling; the kernel caps it at net.core.rmem_max. */
export const SIGNALING_SOCKET_BUFFER_BYTES = 4 * 1024 * 1024;
