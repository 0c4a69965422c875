import type dgram from 'node:dgram';
import { bindUdp, createUdpSocket } from '../../../core/module.ts';
import type { BoundPort, MediaEngine } from './engine.ts';
import { MediaSession } from './media-session.ts';
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

/** The pure-JS engine: one `dgram` socket per session, forwarded on the event loop. */
export class JsEngine implements MediaEngine {
  readonly kind = 'js';
  readonly workers = 1;
  private readonly binder: PortBinder<dgram.Socket>;

  constructor(host: string) {
    this.binder = dgramBinder(host);
  }

  async bind(port: number): Promise<BoundPort> {
    const socket = await this.binder.bind(port);
    return {
      port,
      start: (key, a, b) => new MediaSession(key, socket, port, a, b),
      release: () => this.binder.unbind(socket),
    };
  }

  close(): void {
    // Each session closes its own socket.
  }
}
