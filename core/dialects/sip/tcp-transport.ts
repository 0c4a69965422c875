import { readFileSync } from 'node:fs';
import net from 'node:net';
import { canonicalHost, formatEndpoint, type Endpoint } from '../../lib/address.ts';
import { SwitchyardError } from '../../lib/errors.ts';
import type { Logger } from '../../lib/log.ts';
import { LogThrottle } from '../../lib/log-throttle.ts';
import { StreamBuffer } from '../../transport/stream-buffer.ts';
import { parseSip, type SipParseResult } from './codec/parse.ts';

export type TcpFrameHandler = (parsed: SipParseResult, raw: Buffer, source: Endpoint, connection: number) => void;

/** What one TCP listener allows a peer: every bound is what an honest phone or gateway never nears. */
export const TCP_LIMITS = {
  /** Largest message a connection may carry; beyond it the connection is closed (a stream cannot skip what it cannot frame). */
  message: 65_535,
  /** Largest header section: a peer that sends more before the blank line is closed. */
  headerSection: 16_384,
  /** Bytes waiting to be written to one peer; a peer that stops reading past this is closed. */
  writeQueue: 1_048_576,
  /** Connections from one IP address (a NAT may hide a whole office behind one). */
  perSource: 128,
  /** Time a new connection has to deliver its first complete message, and an outgoing one to connect. */
  firstMessageMs: 15_000,
  /** Idle time after which an established connection is closed. */
  idleMs: 10 * 60_000,
} as const;

/**
 * Connections in all, accepted and dialled: at most a quarter of the process's file descriptors
 * (the media relay's ports and everything else need the rest), and never more than 4,096.
 */
function totalConnections(): number {
  try {
    const line = readFileSync('/proc/self/limits', 'utf8').split('\n').find((l) => l.startsWith('Max open files'));
    const soft = Number(/(\d+)/.exec(line ?? '')?.[1]);
    if (Number.isFinite(soft) && soft > 0) return Math.max(64, Math.min(4096, Math.floor(soft / 4)));
  } catch {
    // not Linux: the fixed bound below
  }
  return 1024;
}

/** Why connections were closed or refused, for stats(). */
export interface TcpStats {
  framingErrors: number;
  refusedPerSource: number;
  refusedTotal: number;
  writeQueueOverflows: number;
  firstMessageTimeouts: number;
}

const BLANK_LINE = Buffer.from('\r\n\r\n', 'latin1');
const PONG = Buffer.from('\r\n', 'latin1');

/**
 * SIP over TCP: Content-Length framing (RFC 3261 §18.3), connections kept for reuse both
 * ways (a phone that registered over it is reached over its connection). Each connection is
 * bounded (TCP_LIMITS): what it may send before a message is complete, what may wait to be
 * written to it, how long it may stay silent; so are the connections per address and in all.
 * Bytes are framed incrementally: a message is parsed once its header section (and then its
 * body) is all there, not again for every chunk of a slow sender.
 */
export class SipTcpTransport {
  private readonly connections = new Map<number, net.Socket>();
  private readonly byPeer = new Map<string, number>();
  private readonly perSource = new Map<string, number>();
  private nextId = 1;
  readonly stats: TcpStats = { framingErrors: 0, refusedPerSource: 0, refusedTotal: 0, writeQueueOverflows: 0, firstMessageTimeouts: 0 };
  private readonly refusedLog = new LogThrottle(10_000);
  private readonly overflowLog = new LogThrottle(10_000);
  private readonly maxConnections = totalConnections();

  private constructor(private readonly server: net.Server, private readonly onFrame: TcpFrameHandler, private readonly log: Logger | undefined) {}

  static async listen(host: string, port: number, onFrame: TcpFrameHandler, log?: Logger): Promise<SipTcpTransport> {
    const server = net.createServer({ noDelay: true });
    const t = new SipTcpTransport(server, onFrame, log);
    server.on('connection', (s) => t.accept(s));
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err) => reject(new SwitchyardError('SY_LISTEN', `cannot listen on TCP ${host} port ${port}: ${err.message}`)));
      server.listen({ host, port, ipv6Only: false }, () => resolve());
    });
    return t;
  }

  get port(): number {
    return (this.server.address() as net.AddressInfo).port;
  }

  /** A peer's key whatever form its address came in (a dual-stack socket reports ::ffff:a.b.c.d, a Contact says a.b.c.d). */
  private key(e: Endpoint): string {
    return `${canonicalHost(e.address)}|${e.port}`;
  }

  private accept(socket: net.Socket): void {
    const ip = canonicalHost(socket.remoteAddress ?? '');
    const fromThere = this.perSource.get(ip) ?? 0;
    if (fromThere >= TCP_LIMITS.perSource || this.connections.size >= this.maxConnections) {
      const perSource = fromThere >= TCP_LIMITS.perSource;
      if (perSource) this.stats.refusedPerSource++;
      else this.stats.refusedTotal++;
      const held = this.refusedLog.pass();
      if (held !== null) {
        this.log?.warn({ src: ip, open: perSource ? fromThere : this.connections.size, limit: perSource ? TCP_LIMITS.perSource : this.maxConnections, alsoRefused: held },
          perSource ? 'TCP connection refused: too many from this address' : 'TCP connection refused: too many connections');
      }
      socket.on('error', () => undefined);
      socket.destroy();
      return;
    }
    this.adopt(socket);
  }

  private adopt(socket: net.Socket, dialled?: Endpoint): number {
    const id = this.nextId++;
    const peer: Endpoint = dialled ?? { address: socket.remoteAddress ?? '', port: socket.remotePort ?? 0 };
    const ip = canonicalHost(peer.address);
    this.connections.set(id, socket);
    this.byPeer.set(this.key(peer), id);
    this.perSource.set(ip, (this.perSource.get(ip) ?? 0) + 1);
    // Until its first complete message (or, dialled, until it connects) a connection has little time.
    let proven = false;
    const firstTimer = setTimeout(() => {
      this.stats.firstMessageTimeouts++;
      socket.destroy();
    }, TCP_LIMITS.firstMessageMs);
    firstTimer.unref();
    const prove = (): void => {
      if (proven) return;
      proven = true;
      clearTimeout(firstTimer);
    };
    if (dialled !== undefined) socket.once('connect', prove);
    socket.setTimeout(TCP_LIMITS.idleMs, () => socket.destroy());
    const pending = new StreamBuffer();
    let scanFrom = 0; // where the search for the blank line resumes
    let needed = 0; // bytes the current message needs before it is parsed again (its header section is all there)
    let crlfs = 0; // CR and LF bytes in a row between messages, across reads: a ping is CRLFCRLF
    socket.on('data', (chunk: Buffer) => {
      pending.append(chunk);
      while (pending.length > 0) {
        const data = pending.view();
        let skip = 0;
        while (skip < data.length && (data[skip] === 0x0d || data[skip] === 0x0a)) skip++;
        if (skip > 0 && needed === 0) {
          // CRLF keep-alives between messages: each CRLFCRLF ping gets a CRLF pong (RFC 5626 §4.4.1).
          crlfs += skip;
          for (; crlfs >= 4; crlfs -= 4) this.send(peer, id, PONG);
          pending.consume(skip);
          scanFrom = 0;
          continue;
        }
        crlfs = 0;
        if (needed === 0) {
          const blank = data.indexOf(BLANK_LINE, Math.max(0, scanFrom - 3));
          if (blank < 0) {
            scanFrom = data.length;
            if (data.length > TCP_LIMITS.headerSection) return this.fail(socket);
            return;
          }
          if (blank > TCP_LIMITS.headerSection) return this.fail(socket);
        } else if (data.length < needed) {
          return;
        }
        const parsed = parseSip(data, { stream: true, maxSize: TCP_LIMITS.message });
        if (!parsed.ok && parsed.error.code === 'incomplete') {
          // The header section is there, the body is not: parse again when it is.
          needed = Math.max(parsed.error.consumed ?? 0, data.length + 1);
          if (needed > TCP_LIMITS.message + TCP_LIMITS.headerSection) return this.fail(socket);
          return;
        }
        const used = parsed.ok ? parsed.consumed : parsed.error.consumed;
        if (used === undefined || used <= 0) {
          // Unframable (bad Content-Length, oversized...): answer if the request can be, then close.
          this.onFrame(parsed, data, peer, id);
          return this.fail(socket);
        }
        const raw = data.subarray(0, used);
        pending.consume(used);
        scanFrom = 0;
        needed = 0;
        if (parsed.ok) prove();
        if (!(!parsed.ok && parsed.error.code === 'keepalive')) this.onFrame(parsed, raw, peer, id);
      }
    });
    const forget = (): void => {
      clearTimeout(firstTimer);
      this.connections.delete(id);
      if (this.byPeer.get(this.key(peer)) === id) this.byPeer.delete(this.key(peer));
      const n = (this.perSource.get(ip) ?? 1) - 1;
      if (n > 0) this.perSource.set(ip, n);
      else this.perSource.delete(ip);
    };
    socket.on('close', forget);
    socket.on('error', () => socket.destroy());
    return id;
  }

  private fail(socket: net.Socket): void {
    this.stats.framingErrors++;
    socket.end();
    setTimeout(() => socket.destroy(), 1000).unref();
  }

  /** Sends on `connection` if it is still open, else on any connection to `to`, else on a new one. */
  send(to: Endpoint, connection: number | null, data: Buffer): void {
    let s = connection !== null ? this.connections.get(connection) : undefined;
    if (s === undefined) {
      const id = this.byPeer.get(this.key(to));
      s = id !== undefined ? this.connections.get(id) : undefined;
    }
    if (s === undefined) {
      if (this.connections.size >= this.maxConnections) {
        this.stats.refusedTotal++;
        return;
      }
      s = net.connect({ host: to.address, port: to.port, noDelay: true });
      s.on('error', () => s!.destroy());
      this.adopt(s, to);
    }
    s.write(data);
    if (s.writableLength > TCP_LIMITS.writeQueue) {
      // The peer does not read what it is sent: it may not make the proxy hold its backlog.
      this.stats.writeQueueOverflows++;
      const held = this.overflowLog.pass();
      if (held !== null) this.log?.warn({ peer: formatEndpoint(to), queued: s.writableLength, limit: TCP_LIMITS.writeQueue, alsoClosed: held }, 'TCP connection closed: the peer does not read');
      s.destroy();
    }
  }

  async close(): Promise<void> {
    for (const s of this.connections.values()) s.destroy();
    this.connections.clear();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
