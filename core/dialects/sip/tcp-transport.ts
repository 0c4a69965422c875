import net from 'node:net';
import { canonicalHost, formatEndpoint, type Endpoint } from '../../lib/address.ts';
import { SwitchyardError } from '../../lib/errors.ts';
import type { Logger } from '../../lib/log.ts';
import { LogThrottle } from '../../lib/log-throttle.ts';
import { StreamBuffer } from '../../transport/stream-buffer.ts';
import { parseSip, type SipParseResult } from './codec/parse.ts';
import { nextConnectionId, type ConnectionClosed } from './stream-connections.ts';
import { StreamGate, type GateEntry } from './stream-gate.ts';
import { STREAM_LIMITS, emptyStreamStats, type StreamStats } from './stream-limits.ts';

export type TcpFrameHandler = (parsed: SipParseResult, raw: Buffer, source: Endpoint, connection: number) => void;

/** What makes a stream listener other than plain TCP (TLS): how an accepted connection becomes ready for SIP, how it dials. */
export interface StreamFlavour {
  readonly name: 'TCP' | 'TLS';
  /** Whether an accepted connection has a handshake to finish before it carries SIP. */
  readonly handshake: boolean;
  /** Starts serving: `ready` gets each connection once it carries SIP. Returns what takes an accepted TCP connection. */
  serve(ready: (socket: net.Socket) => void): (raw: net.Socket) => void;
  /** Opens a connection to `to` (TLS: checking that the peer's certificate names `name`, else the address). */
  dial(to: Endpoint, name?: string): net.Socket;
  readonly connected: 'connect' | 'secureConnect';
}

const TCP: StreamFlavour = {
  name: 'TCP',
  handshake: false,
  serve: (ready) => ready,
  dial: (to) => net.connect({ host: to.address, port: to.port, noDelay: true }),
  connected: 'connect',
};

/** What a send may need when it has to open a connection. */
export interface DialOptions {
  /** The host name the peer was resolved from (TLS checks the certificate against it). */
  readonly name?: string;
  /** Runs if the connection the message waits for closes before it is established. */
  readonly failed?: () => void;
}

export interface StreamListenOptions {
  readonly log?: Logger;
  /** TLS over the TCP framing, given the listener's counters; default plain TCP. */
  readonly flavour?: (stats: StreamStats) => StreamFlavour;
  /** Time a handshake may take (default STREAM_LIMITS.handshakeMs). */
  readonly handshakeMs?: number;
}

const BLANK_LINE = Buffer.from('\r\n\r\n', 'latin1');
const PONG = Buffer.from('\r\n', 'latin1');

/**
 * SIP over TCP, and over TLS with a TLS flavour: Content-Length framing (RFC 3261 §18.3),
 * connections kept for reuse both ways (a phone that registered over it is reached over its
 * connection). Each connection is bounded (STREAM_LIMITS): who may open one and how long it has
 * to prove itself (StreamGate), what it may send before a message is complete, what may wait to
 * be written to it, how long it may stay silent. Bytes are framed incrementally: a message is
 * parsed once its header section (and then its body) is all there, not again for every chunk
 * of a slow sender.
 */
export class SipTcpTransport {
  private readonly connections = new Map<number, net.Socket>();
  private readonly byPeer = new Map<string, number>();
  private readonly gate: StreamGate;
  private readonly overflowLog = new LogThrottle(10_000);
  /** Dialled connections not established yet, with what to run for each message waiting on one if it fails. */
  private readonly connecting = new Map<net.Socket, (() => void)[]>();
  /** Told when a connection closes (a registrar may drop the bindings that named it). */
  onClosed: ConnectionClosed = () => undefined;

  private constructor(private readonly server: net.Server, private readonly onFrame: TcpFrameHandler, private readonly flavour: StreamFlavour, readonly stats: StreamStats, private readonly log: Logger | undefined, handshakeMs: number) {
    this.gate = new StreamGate(flavour.name, this.stats, handshakeMs, log);
  }

  static async listen(host: string, port: number, onFrame: TcpFrameHandler, opts: StreamListenOptions = {}): Promise<SipTcpTransport> {
    const server = net.createServer({ noDelay: true });
    const stats = emptyStreamStats();
    const flavour = opts.flavour?.(stats) ?? TCP;
    const t = new SipTcpTransport(server, onFrame, flavour, stats, opts.log, opts.handshakeMs ?? STREAM_LIMITS.handshakeMs);
    const take = flavour.serve((s) => t.adopt(s));
    server.on('connection', (raw) => { if (t.gate.accept(raw, flavour.handshake)) take(raw); });
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err) => reject(new SwitchyardError('SY_LISTEN', `cannot listen on ${flavour.name} ${host} port ${port}: ${err.message}`)));
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

  /** A connection that carries SIP now: accepted (its handshake done) or dialled (`dialled` holds its gate entry). */
  private adopt(socket: net.Socket, dialled?: { readonly to: Endpoint; readonly entry: GateEntry }): void {
    const entry = dialled?.entry ?? this.gate.entryOf(socket);
    if (entry === undefined) {
      // Closed between its handshake and now: nothing to serve.
      socket.destroy();
      return;
    }
    if (dialled === undefined) entry.ready();
    const id = nextConnectionId();
    const peer: Endpoint = dialled?.to ?? { address: socket.remoteAddress ?? '', port: socket.remotePort ?? 0 };
    this.connections.set(id, socket);
    this.byPeer.set(this.key(peer), id);
    socket.setTimeout(STREAM_LIMITS.idleMs, () => socket.destroy());
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
            if (data.length > STREAM_LIMITS.headerSection) return this.fail(socket);
            return;
          }
          if (blank > STREAM_LIMITS.headerSection) return this.fail(socket);
        } else if (data.length < needed) {
          return;
        }
        const parsed = parseSip(data, { stream: true, maxSize: STREAM_LIMITS.message });
        if (!parsed.ok && parsed.error.code === 'incomplete') {
          // The header section is there, the body is not: parse again when it is.
          needed = Math.max(parsed.error.consumed ?? 0, data.length + 1);
          if (needed > STREAM_LIMITS.message + STREAM_LIMITS.headerSection) return this.fail(socket);
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
        if (parsed.ok) entry.proven();
        if (!(!parsed.ok && parsed.error.code === 'keepalive')) this.onFrame(parsed, raw, peer, id);
      }
    });
    const forget = (): void => {
      this.connections.delete(id);
      if (this.byPeer.get(this.key(peer)) === id) this.byPeer.delete(this.key(peer));
      this.onClosed(id);
    };
    socket.on('close', forget);
    socket.on('error', () => socket.destroy());
  }

  private fail(socket: net.Socket): void {
    this.stats.framingErrors++;
    socket.end();
    setTimeout(() => socket.destroy(), 1000).unref();
  }

  /**
   * Sends on `connection` if it is still open, else on any connection to `to`, else on a new one.
   * False when the bytes cannot go: no connection may be opened, or the peer stopped reading;
   * `dial.failed` runs later if the connection they wait for fails to open.
   */
  send(to: Endpoint, connection: number | null, data: Buffer, dial: DialOptions = {}): boolean {
    let s = connection !== null ? this.connections.get(connection) : undefined;
    if (s === undefined) {
      const id = this.byPeer.get(this.key(to));
      s = id !== undefined ? this.connections.get(id) : undefined;
    }
    if (s === undefined) {
      const dialled = this.dial(to, dial.name);
      if (dialled === null) return false;
      s = dialled;
    }
    if (dial.failed !== undefined) this.connecting.get(s)?.push(dial.failed);
    s.write(data);
    if (s.writableLength > STREAM_LIMITS.writeQueue) {
      // The peer does not read what it is sent: it may not make the proxy hold its backlog.
      this.stats.writeQueueOverflows++;
      const held = this.overflowLog.pass();
      if (held !== null) this.log?.warn({ peer: formatEndpoint(to), queued: s.writableLength, limit: STREAM_LIMITS.writeQueue, alsoClosed: held }, `${this.flavour.name} connection closed: the peer does not read`);
      s.destroy();
      return false;
    }
    return true;
  }

  private dial(to: Endpoint, name: string | undefined): net.Socket | null {
    const dialled = this.gate.dial(to.address, () => this.flavour.dial(to, name));
    if (dialled === null) return null;
    const { socket, entry } = dialled;
    this.connecting.set(socket, []);
    socket.once(this.flavour.connected, () => {
      this.connecting.delete(socket);
      entry.proven();
    });
    socket.once('close', () => {
      const waiting = this.connecting.get(socket);
      this.connecting.delete(socket);
      for (const failed of waiting ?? []) failed();
    });
    socket.on('error', () => socket.destroy());
    this.adopt(socket, { to, entry });
    return socket;
  }

  async close(): Promise<void> {
    for (const s of this.connections.values()) s.destroy();
    this.connections.clear();
    this.gate.closeAll();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
