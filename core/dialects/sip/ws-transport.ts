import http from 'node:http';
import https from 'node:https';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { canonicalHost, type Endpoint } from '../../lib/address.ts';
import { SwitchyardError } from '../../lib/errors.ts';
import type { TlsCredentials } from '../../transport/tls-credentials.ts';
import { parseSip } from './codec/parse.ts';
import type { TcpFrameHandler } from './tcp-transport.ts';
import { TLS_HANDSHAKE_MS, type TlsStats } from './tls-transport.ts';
import { nextConnectionId, type ConnectionClosed } from './stream-connections.ts';

/** Largest SIP message one frame may carry (as over TCP); a larger frame closes the connection (1009). */
const MAX_FRAME = 65_535;
/** Bytes queued toward a peer that does not read before its connection is dropped. */
const MAX_QUEUED = 1 << 20;
/** A ping this often; a peer that has not answered the previous one is gone (a closed laptop sends no FIN). */
const PING_MS = 30_000;

export interface WsOptions {
  /** WSS: the listener's certificate; absent: plain WS. */
  readonly credentials?: TlsCredentials;
  /** Origins a browser may connect from; absent or empty: any (and clients that send none). */
  readonly origins?: readonly string[];
  readonly handshakeTimeoutMs?: number;
}

export interface WsStats extends TlsStats {
  /** Frames that were not SIP, connections refused (subprotocol, Origin), readers too slow. */
  badFrames: number;
  refused: number;
  slowReaders: number;
}

/**
 * SIP over WebSocket (RFC 7118): one SIP message per frame, the `sip` subprotocol, browsers
 * from allowed origins only. A browser cannot be dialled: requests for it go on the connection
 * it opened (the one its registration recorded, or any from its address), and when that is
 * gone the send reports it (the caller fails the branch at once).
 */
export class SipWsTransport {
  private readonly connections = new Map<number, WebSocket>();
  private readonly byPeer = new Map<string, number>();
  readonly stats: WsStats = { badFrames: 0, refused: 0, slowReaders: 0, handshakeFailures: 0 };
  onClosed: ConnectionClosed = () => undefined;
  private readonly silent = new Set<WebSocket>();
  private readonly pinger: NodeJS.Timeout;

  private constructor(private readonly server: http.Server, private readonly wss: WebSocketServer, private readonly onFrame: TcpFrameHandler) {
    this.pinger = setInterval(() => {
      for (const ws of this.connections.values()) {
        if (this.silent.has(ws)) ws.terminate();
        else { this.silent.add(ws); ws.ping(); }
      }
    }, PING_MS).unref();
  }

  static async listen(host: string, port: number, onFrame: TcpFrameHandler, opts: WsOptions): Promise<SipWsTransport> {
    const { credentials } = opts;
    const server: http.Server = credentials !== undefined
      ? https.createServer({ ...credentials.options, handshakeTimeout: opts.handshakeTimeoutMs ?? TLS_HANDSHAKE_MS, connectionsCheckingInterval: 1000 })
      : http.createServer({ connectionsCheckingInterval: 1000 });
    // A peer that opens the connection and never finishes its HTTP upgrade is dropped as one that never finishes TLS.
    server.headersTimeout = opts.handshakeTimeoutMs ?? TLS_HANDSHAKE_MS;
    server.requestTimeout = opts.handshakeTimeoutMs ?? TLS_HANDSHAKE_MS;
    const origins = new Set(opts.origins ?? []);
    const wss = new WebSocketServer({
      noServer: true,
      maxPayload: MAX_FRAME,
      perMessageDeflate: false,
      handleProtocols: (protocols) => (protocols.has('sip') ? 'sip' : false),
    });
    const t = new SipWsTransport(server, wss, onFrame);
    if (credentials !== undefined) {
      credentials.onChange((o) => (server as https.Server).setSecureContext(o));
      server.on('tlsClientError', (_err: Error, socket: Duplex) => { t.stats.handshakeFailures++; socket.destroy(); });
    }
    server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
      const origin = req.headers.origin;
      const offered = String(req.headers['sec-websocket-protocol'] ?? '').split(',').map((p) => p.trim().toLowerCase());
      if ((origins.size > 0 && (origin === undefined || !origins.has(origin))) || !offered.includes('sip')) {
        t.stats.refused++;
        socket.end('HTTP/1.1 403 Forbidden\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
        return;
      }
      wss.handleUpgrade(req, socket, head, (ws) => t.adopt(ws, { address: req.socket.remoteAddress ?? '', port: req.socket.remotePort ?? 0 }));
    });
    server.on('request', (_req, res: http.ServerResponse) => { res.writeHead(426, { Connection: 'close' }).end(); });
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err) => reject(new SwitchyardError('SY_LISTEN', `cannot listen on ${credentials ? 'WSS' : 'WS'} ${host} port ${port}: ${err.message}`)));
      server.listen({ host, port, ipv6Only: false }, () => resolve());
    });
    return t;
  }

  get port(): number {
    return (this.server.address() as import('node:net').AddressInfo).port;
  }

  private key(e: Endpoint): string {
    return `${canonicalHost(e.address)}|${e.port}`;
  }

  private adopt(ws: WebSocket, peer: Endpoint): void {
    const id = nextConnectionId();
    this.connections.set(id, ws);
    this.byPeer.set(this.key(peer), id);
    ws.on('pong', () => this.silent.delete(ws));
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      this.silent.delete(ws);
      const frame = isBinary || Buffer.isBuffer(data) ? data : Buffer.from(data);
      const parsed = parseSip(frame, { maxSize: MAX_FRAME });
      if (!parsed.ok && parsed.error.code !== 'keepalive' && !parsed.error.canReply) {
        // Not SIP at all: RFC 7118 has no way to say so but closing.
        this.stats.badFrames++;
        this.onFrame(parsed, frame, peer, id);
        ws.close(1002, 'not SIP');
        return;
      }
      this.onFrame(parsed, frame, peer, id);
    });
    ws.on('close', () => {
      this.silent.delete(ws);
      this.connections.delete(id);
      if (this.byPeer.get(this.key(peer)) === id) this.byPeer.delete(this.key(peer));
      this.onClosed(id);
    });
    ws.on('error', () => ws.terminate());
  }

  /** Sends on `connection`, else on the connection from `to`; false when neither is open (a browser cannot be dialled). */
  send(to: Endpoint, connection: number | null, data: Buffer): boolean {
    let ws = connection !== null ? this.connections.get(connection) : undefined;
    if (ws === undefined) {
      const id = this.byPeer.get(this.key(to));
      ws = id !== undefined ? this.connections.get(id) : undefined;
    }
    if (ws === undefined || ws.readyState !== ws.OPEN) return false;
    if (ws.bufferedAmount > MAX_QUEUED) {
      this.stats.slowReaders++;
      ws.terminate();
      return false;
    }
    ws.send(data.toString('utf8'));
    return true;
  }

  async close(): Promise<void> {
    clearInterval(this.pinger);
    for (const ws of this.connections.values()) ws.terminate();
    this.connections.clear();
    this.wss.close();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
