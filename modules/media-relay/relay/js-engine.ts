import type dgram from 'node:dgram';
import { bindUdp, createUdpSocket } from '../../../core/module.ts';
import type { BoundPort, LegOptions, MediaEngine, PartySpec } from './engine.ts';
import { LegSession } from './leg-session.ts';
import { MediaSession } from './media-session.ts';
import type { SessionKey } from '../session.ts';
import type { PortBinder } from './port-pool.ts';

/** Binds `dgram` sockets for `host` (dual-stack unless an IPv4 literal), peers named by IP literal. */
export function dgramBinder(host: string): PortBinder<dgram.Socket> {
  return {
    async bind(port) {
      const socket = createUdpSocket(host);
      try {
        return await bindUdp(socket, port, host);
      } catch (err) {
        try { socket.close(); } catch { /* a socket whose bind failed may already be closed */ }
        throw err;
      }
    },
    unbind(socket) {
      socket.close();
    },
  };
}

/** A port this engine bound: its socket. */
interface JsBoundPort extends BoundPort {
  readonly socket: dgram.Socket;
}

/** The pure-JS engine: one `dgram` socket per port, forwarded on the event loop. */
export class JsEngine implements MediaEngine {
  readonly kind = 'js';
  readonly workers = 1;
  private readonly binder: PortBinder<dgram.Socket>;

  constructor(host: string) {
    this.binder = dgramBinder(host);
  }

  async bind(port: number): Promise<JsBoundPort> {
    const socket = await this.binder.bind(port);
    return {
      port,
      socket,
      start: (key, a, b) => new MediaSession(key, socket, port, a, b),
      release: () => this.binder.unbind(socket),
    };
  }

  startLegs(key: SessionKey, legA: BoundPort, legB: BoundPort, a: PartySpec, b: PartySpec, opts: LegOptions): LegSession {
    return new LegSession(key, (legA as JsBoundPort).socket, legA.port, (legB as JsBoundPort).socket, legB.port, a, b, opts);
  }

  close(): void {
    // Each session closes its own socket.
  }
}
