import { isUtf8 } from 'node:buffer';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { canonicalHost, formatEndpoint, type Endpoint } from '../../lib/address.ts';
import { SwitchyardError } from '../../lib/errors.ts';
import type { Logger } from '../../lib/log.ts';
import { LogThrottle } from '../../lib/log-throttle.ts';
import type { TlsCredentials } from '../../transport/tls-credentials.ts';
import { parseSip } from './codec/parse.ts';
import { nextConnectionId, type ConnectionClosed } from './stream-connections.ts';
import { StreamGate } from './stream-gate.ts';
import { STREAM_LIMITS, emptyStreamStats, type StreamStats } from './stream-limits.ts';
import type { TcpFrameHandler } from './tcp-transport.ts';

/** A ping this often; a peer that has not answered the previous one is gone (a closed laptop sends no FIN). */
const PING_MS = 30_000;
const BLANK_LINE = Buffer.from('\r\n\r\n', 'latin1');
const PONG = Buffer.from('\r\n', 'latin1');

export interface WsOptions {
  /** WSS: the listener's certificate; absent: plain WS. */
  readonly credentials?: TlsCredentials;
  /** Origins a browser may connect from; absent or empty: any (and clients that send none). */
  readonly origins?: readonly string[];
  /** Time the TLS handshake and the HTTP upgrade may take together (default STREAM_LIMITS.handshakeMs). */
  readonly handshakeMs?: number;
  readonly log?: Logger;
}

export interface WsStats extends StreamStats {
  /** Upgrades refused: an Origin not allowed, no `sip` subprotocol. */
  refusedUpgrades: number;
}

/**
 * SIP over WebSocket (RFC 7118): one SIP message per frame, the `sip` subprotocol, browsers
 * from allowed origins only. Connections pass the same gate as TCP and TLS ones (per source, in
 * all, a deadline for the handshake and one for the first message); frames are bounded as TCP
 * messages are, and so is what waits to be written. A browser cannot be dialled: requests for
 * it go on the connection it opened (the one its registration recorded, or any from its
 * address), and when that is gone the send reports it (the caller fails the branch at once).
 */
export class SipWsTransport {
  private readonly connections = new Map<number, WebSocket>();
  private readonly byPeer = new Map<string, number>();
  readonly stats: WsStats = { ...emptyStreamStats(), refusedUpgrades: 0 };
  private readonly gate: StreamGate;
  private readonly overflowLog = new LogThrottle(10_000);
  onClosed: ConnectionClosed = () => undefined;
  private readonly silent = new Set<WebSocket>();
  private readonly pinger: NodeJS.Timeout;

  private constructor(private readonly listener: net.Server, private readonly wss: WebSocketServer, private readonly onFrame: TcpFrameHandler,
    private readonly name: 'WS' | 'WSS', handshakeMs: number, private readonly log: Logger | undefined) {
    this.gate = new StreamGate(name, this.stats, handshakeMs, log);
    this.pinger = setInterval(() => {
      for (const ws of this.connections.values()) {
        if (this.silent.has(ws)) ws.terminate();
        else { this.silent.add(ws); ws.ping(); }
      }
    }, PING_MS).unref();
  }

  static async listen(host: string, port: number, onFrame: TcpFrameHandler, opts: WsOptions): Promise<SipWsTransport> {
    const { credentials } = opts;
    const name = credentials !== undefined ? 'WSS' : 'WS';
    // The HTTP(S) server never listens: the TCP listener hands it the connections its gate lets in.
    const server: http.Server = credentials !== undefined ? https.createServer({ ...credentials.options }) : http.createServer();
    const listener = net.createServer({ noDelay: true });
    const origins = new Set(opts.origins ?? []);
    const wss = new WebSocketServer({
      noServer: true,
      maxPayload: STREAM_LIMITS.message,
      perMessageDeflate: false,
      handleProtocols: (protocols) => (protocols.has('sip') ? 'sip' : false),
    });
    const t = new SipWsTransport(listener, wss, onFrame, name, opts.handshakeMs ?? STREAM_LIMITS.handshakeMs, opts.log);
    listener.on('connection', (raw) => { if (t.gate.accept(raw, true)) server.emit('connection', raw); });
    if (credentials !== undefined) {
      credentials.onChange((o) => (server as https.Server).setSecureContext(o));
      server.on('tlsClientError', (_err: Error, socket: Duplex) => {
        if (!socket.destroyed) t.stats.handshakeFailures++;
        socket.destroy();
      });
    }
    server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
      const origin = req.headers.origin;
      const offered = String(req.headers['sec-websocket-protocol'] ?? '').split(',').map((p) => p.trim().toLowerCase());
      if ((origins.size > 0 && (origin === undefined || !origins.has(origin))) || !offered.includes('sip')) {
        t.stats.refusedUpgrades++;
        socket.end('HTTP/1.1 403 Forbidden\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
        return;
      }
      const peer: Endpoint = { address: req.socket.remoteAddress ?? '', port: req.socket.remotePort ?? 0 };
      wss.handleUpgrade(req, socket, head, (ws) => t.adopt(ws, req.socket, peer));
    });
    server.on('request', (_req, res: http.ServerResponse) => { res.writeHead(426, { Connection: 'close' }).end(); });
    await new Promise<void>((resolve, reject) => {
      listener.once('error', (err) => reject(new SwitchyardError('SY_LISTEN', `cannot listen on ${name} ${host} port ${port}: ${err.message}`)));
      listener.listen({ host, port, ipv6Only: false }, () => resolve());
    });
    return t;
  }

  get port(): number {
    return (this.listener.address() as net.AddressInfo).port;
  }

  private key(e: Endpoint): string {
    return `${canonicalHost(e.address)}|${e.port}`;
  }

  private adopt(ws: WebSocket, socket: net.Socket, peer: Endpoint): void {
    const entry = this.gate.entryOf(socket);
    if (entry === undefined) {
      ws.terminate();
      return;
    }
    entry.ready();
    const id = nextConnectionId();
    this.connections.set(id, ws);
    this.byPeer.set(this.key(peer), id);
    ws.on('pong', () => this.silent.delete(ws));
    ws.on('message', (data: Buffer) => {
      // Frames that were already on their way when this side closed: nothing more is read.
      if (ws.readyState !== ws.OPEN) return;
      this.silent.delete(ws);
      if (data.length === 4 && data.equals(BLANK_LINE)) {
        // A CRLFCRLF keep-alive as over TCP (SIP.js sends them): a CRLF pong.
        ws.send(PONG.toString('latin1'));
        return;
      }
      const blank = data.indexOf(BLANK_LINE);
      if (blank > STREAM_LIMITS.headerSection || (blank < 0 && data.length > STREAM_LIMITS.headerSection)) {
        this.stats.framingErrors++;
        ws.close(1009, 'header section too large');
        return;
      }
      const parsed = parseSip(data, { maxSize: STREAM_LIMITS.message });
      if (!parsed.ok && parsed.error.code !== 'keepalive' && !parsed.error.canReply) {
        // Not SIP at all: RFC 7118 has no way to say so but closing.
        this.stats.framingErrors++;
        this.onFrame(parsed, data, peer, id);
        ws.close(1002, 'not SIP');
        return;
      }
      if (parsed.ok) entry.proven();
      this.onFrame(parsed, data, peer, id);
    });
    ws.on('close', () => {
      this.silent.delete(ws);
      this.connections.delete(id);
      if (this.byPeer.get(this.key(peer)) === id) this.byPeer.delete(this.key(peer));
      this.onClosed(id);
    });
    // ws reports the peer's protocol faults here (a frame over maxPayload, bad framing), then closes.
    ws.on('error', () => {
      this.stats.framingErrors++;
      ws.terminate();
    });
  }

  /** Sends on `connection`, else on the connection from `to`; false when neither is open (a browser cannot be dialled: nothing is) or the peer stopped reading. */
  send(to: Endpoint, connection: number | null, data: Buffer): boolean {
    let ws = connection !== null ? this.connections.get(connection) : undefined;
    if (ws === undefined) {
      const id = this.byPeer.get(this.key(to));
      ws = id !== undefined ? this.connections.get(id) : undefined;
    }
    if (ws === undefined || ws.readyState !== ws.OPEN) return false;
    // Text frames for UTF-8 messages, as browsers send them; binary for any other (RFC 7118 §5.2).
    ws.send(data, { binary: !isUtf8(data) });
    if (ws.bufferedAmount > STREAM_LIMITS.writeQueue) {
      this.stats.writeQueueOverflows++;
      const held = this.overflowLog.pass();
      if (held !== null) this.log?.warn({ peer: formatEndpoint(to), queued: ws.bufferedAmount, limit: STREAM_LIMITS.writeQueue, alsoClosed: held }, `${this.name} connection closed: the peer does not read`);
      ws.terminate();
      return false;
    }
    return true;
  }

  async close(): Promise<void> {
    clearInterval(this.pinger);
    for (const ws of this.connections.values()) ws.terminate();
    this.connections.clear();
    this.wss.close();
    this.gate.closeAll();
    await new Promise<void>((resolve) => this.listener.close(() => resolve()));
  }
}
