import type { Endpoint } from '../lib/address.ts';
import type { Dialect } from '../kernel/dialect.ts';
import { SwitchyardError } from '../lib/errors.ts';
import { LogThrottle } from '../lib/log-throttle.ts';
import { SourceRate } from '../lib/source-rate.ts';
import type { Logger } from '../lib/log.ts';
import { answerStun, looksLikeStun } from './stun/binding.ts';
import type { DatagramSocket, SocketRead, UdpEngine, UdpEngineChoice } from './datagram-socket.ts';
import { openDatagramSocket, UdpEngineUnavailableError } from './open-socket.ts';

export interface ListenerConfig {
  readonly name: string;
  readonly dialect: Dialect;
  readonly host: string;
  readonly port: number;
  /** Answer STUN Binding requests on this socket (RFC 5389), so clients learn their public address. */
  readonly stun?: boolean;
  /** STUN answers per second per source IP, twice that in a burst (default 5). */
  readonly stunRatePerSource?: number;
  readonly udpEngine?: UdpEngineChoice;
}

export type DatagramHandler = (dialect: Dialect, listener: string, buf: Buffer, source: Endpoint) => void;

/** The end of one read of the listener's socket (see ReadEnd). */
export type ReadEndHandler = (listener: string, read: SocketRead) => void;

/** A signaling socket: dual-stack UDP on `::` unless configured with an IPv4 literal. */
export class UdpListener {
  private constructor(readonly config: ListenerConfig, private readonly socket: DatagramSocket) {}

  static async open(config: ListenerConfig, onDatagram: DatagramHandler, log: Logger, onReadEnd?: ReadEndHandler): Promise<UdpListener> {
    const { dialect, name } = config;
    let listener: UdpListener | null = null;
    const stunRate = new SourceRate(config.stunRatePerSource ?? 5);
    const stunHeld = new LogThrottle(10_000);
    const receive = (buf: Buffer, source: Endpoint): void => {
      // STUN starts with two zero bits and the magic cookie: never a plain or SIP message.
      if (config.stun === true && looksLikeStun(buf)) {
        const answer = answerStun(buf, source);
        if (answer === null) return;
        if (stunRate.allow(source.address)) listener?.send(source, answer);
        else if (stunHeld.pass() !== null) log.warn({ listener: name, src: source.address, refusedTotal: stunRate.refused }, 'STUN answers held back: a source past its rate');
        return;
      }
      onDatagram(dialect, name, buf, source);
    };
    let socket: DatagramSocket;
    try {
      const readEnd = onReadEnd === undefined ? undefined : (read: SocketRead): void => onReadEnd(name, read);
      socket = await openDatagramSocket(config.udpEngine ?? 'auto', config.host, config.port, receive, log, readEnd);
    } catch (err) {
      const reason = err instanceof UdpEngineUnavailableError ? `${config.name}: ${err.message}` : `cannot listen on ${config.host} port ${config.port} (${config.name}): ${(err as Error).message}`;
      throw new SwitchyardError('SY_LISTEN', reason, { listener: config.name });
    }
    listener = new UdpListener(config, socket);
    return listener;
  }

  get port(): number {
    return this.socket.port;
  }

  get engine(): UdpEngine {
    return this.socket.engine;
  }

  send(to: Endpoint, data: Buffer, sent?: () => void): void {
    this.socket.send(to, data, sent);
  }

  close(): Promise<void> {
    return this.socket.close();
  }
}
