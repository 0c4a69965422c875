import { readFileSync } from 'node:fs';

/**
 * What one stream listener (TCP, TLS, WebSocket) allows a peer: every bound is what an honest
 * phone, gateway or browser never nears.
 */
export const STREAM_LIMITS = {
  /** Largest message a connection may carry (over WebSocket: a frame); beyond it the connection is closed (a stream cannot skip what it cannot frame). */
  message: 65_535,
  /** Largest header section: a peer that sends more before the blank line is closed. */
  headerSection: 16_384,
  /** Bytes waiting to be written to one peer; a peer that stops reading past this is closed. */
  writeQueue: 1_048_576,
  /** Connections from one IP address, handshakes in progress included (a NAT may hide a whole office behind one). */
  perSource: 128,
  /** Time a TLS handshake or a WebSocket upgrade may take (a listener may set less). */
  handshakeMs: 10_000,
  /** Time a new connection has to deliver its first complete message (after its handshake), and an outgoing one to connect. */
  firstMessageMs: 15_000,
  /** Idle time after which an established TCP or TLS connection is closed (WebSocket peers are pinged instead). */
  idleMs: 10 * 60_000,
} as const;

/**
 * Stream connections in all, every listener and dialled ones: at most a quarter of the process's
 * file descriptors (the media relay's ports and everything else need the rest), and never more
 * than 4,096.
 */
export function totalConnections(): number {
  try {
    const line = readFileSync('/proc/self/limits', 'utf8').split('\n').find((l) => l.startsWith('Max open files'));
    const soft = Number(/(\d+)/.exec(line ?? '')?.[1]);
    if (Number.isFinite(soft) && soft > 0) return Math.max(64, Math.min(4096, Math.floor(soft / 4)));
  } catch {
    // not Linux: the fixed bound below
  }
  return 1024;
}

/** Why one listener's connections were closed or refused, for stats(). */
export interface StreamStats {
  /** Messages that could not be framed (over WebSocket: frames that were not SIP or too large). */
  framingErrors: number;
  refusedPerSource: number;
  refusedTotal: number;
  writeQueueOverflows: number;
  /** Connections that delivered no complete message in time after their handshake. */
  firstMessageTimeouts: number;
  /** TLS handshakes (and WebSocket upgrades) that failed or did not finish in time. */
  handshakeFailures: number;
}

export function emptyStreamStats(): StreamStats {
  return { framingErrors: 0, refusedPerSource: 0, refusedTotal: 0, writeQueueOverflows: 0, firstMessageTimeouts: 0, handshakeFailures: 0 };
}
