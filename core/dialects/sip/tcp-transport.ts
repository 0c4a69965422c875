import net from 'node:net';
import { canonicalHost, type Endpoint } from '../../lib/address.ts';
import { SwitchyardError } from '../../lib/errors.ts';
import { parseSip, type SipParseResult } from './codec/parse.ts';
import { nextConnectionId, type ConnectionClosed } from './stream-connections.ts';

export type TcpFrameHandler = (parsed: SipParseResult, raw: Buffer, source: Endpoint, connection: number) => void;

/** What makes a stream listener other than plain TCP (TLS): its server, the event that hands it a ready socket, how it dials. */
export interface StreamFlavour {
  readonly name: string;
  readonly server: net.Server;
  readonly acceptEvent: string;
  dial(to: Endpoint): net.Socket;
}

const TCP: () => StreamFlavour = () => ({
  name: 'TCP',
  server: net.createServer({ noDelay: true }),
  acceptEvent: 'connection',
  dial: (to) => net.connect({ host: to.address, port: to.port, noDelay: true }),
});

/** Largest message a connection may carry; beyond it the connection is closed (a stream cannot skip what it cannot frame). */
const MAX_MESSAGE = 65_535;
const IDLE_MS = 10 * 60_000;

/**
 * SIP over TCP: Content-Length framing (RFC 3261 §18.3), connections kept for reuse both
 * ways (a phone that registered over TCP is reached over its connection).
 */
export class SipTcpTransport {
  private readonly connections = new Map<number, net.Socket>();
  private readonly byPeer = new Map<string, number>();
  framingErrors = 0;
  /** Told when a connection closes (a registrar may drop the bindings that named it). */
  onClosed: ConnectionClosed = () => undefined;

  private constructor(private readonly server: net.Server, private readonly onFrame: TcpFrameHandler, private readonly flavour: StreamFlavour) {}

  static async listen(host: string, port: number, onFrame: TcpFrameHandler, flavour: StreamFlavour = TCP()): Promise<SipTcpTransport> {
    const server = flavour.server;
    const t = new SipTcpTransport(server, onFrame, flavour);
    server.on(flavour.acceptEvent, (s: net.Socket) => t.adopt(s));
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

  private adopt(socket: net.Socket, dialled?: Endpoint): number {
    const id = nextConnectionId();
    const peer: Endpoint = dialled ?? { address: socket.remoteAddress ?? '', port: socket.remotePort ?? 0 };
    this.connections.set(id, socket);
    this.byPeer.set(this.key(peer), id);
    socket.setTimeout(IDLE_MS, () => socket.destroy());
    let pending: Buffer = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      while (pending.length > 0) {
        const parsed = parseSip(pending, { stream: true, maxSize: MAX_MESSAGE });
        if (!parsed.ok && parsed.error.code === 'incomplete') {
          if (pending.length > MAX_MESSAGE + 4096) return this.fail(socket);
          return;
        }
        const used = parsed.ok ? parsed.consumed : parsed.error.consumed;
        if (used === undefined || used <= 0) {
          // Unframable (bad Content-Length, oversized...): answer if the request can be, then close.
          this.onFrame(parsed, pending, peer, id);
          return this.fail(socket);
        }
        const raw = pending.subarray(0, used);
        pending = pending.subarray(used);
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
    return id;
  }

  private fail(socket: net.Socket): void {
    this.framingErrors++;
    socket.end();
    setTimeout(() => socket.destroy(), 1000).unref();
  }

  /** Sends on `connection` if it is still open, else on any connection to `to`, else on a new one. */
  send(to: Endpoint, connection: number | null, data: Buffer): boolean {
    let s = connection !== null ? this.connections.get(connection) : undefined;
    if (s === undefined) {
      const id = this.byPeer.get(this.key(to));
      s = id !== undefined ? this.connections.get(id) : undefined;
    }
    if (s === undefined) {
      s = this.flavour.dial(to);
      s.on('error', () => s!.destroy());
      this.adopt(s, to);
    }
    s.write(data);
    return true;
  }

  async close(): Promise<void> {
    for (const s of this.connections.values()) s.destroy();
    this.connections.clear();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
