import type dgram from 'node:dgram';
import { asSeenBy, type Endpoint } from '../address.ts';
import type { Dialect } from '../dialect.ts';
import { SwitchyardError } from '../errors.ts';
import { bindUdp, createUdpSocket } from './udp-socket.ts';

export interface ListenerConfig {
  readonly name: string;
  readonly dialect: Dialect;
  readonly host: string;
  readonly port: number;
}

export type DatagramHandler = (dialect: Dialect, listener: string, buf: Buffer, source: Endpoint) => void;

/** A signaling socket: dual-stack UDP on `::` unless configured with an IPv4 literal. */
export class UdpListener {
  private readonly dualStack: boolean;

  private constructor(readonly config: ListenerConfig, private readonly socket: dgram.Socket) {
    this.dualStack = socket.address().family === 'IPv6';
  }

  static async open(config: ListenerConfig, onDatagram: DatagramHandler): Promise<UdpListener> {
    const socket = createUdpSocket(config.host);
    try {
      await bindUdp(socket, config.port, config.host);
    } catch (err) {
      throw new SwitchyardError('SY_LISTEN', `cannot listen on ${config.host} port ${config.port} (${config.name}): ${(err as Error).message}`, { listener: config.name });
    }
    const { dialect, name } = config;
    socket.on('message', (buf, rinfo) => onDatagram(dialect, name, buf, { address: rinfo.address, port: rinfo.port }));
    // A send to an unreachable peer surfaces here on some systems; it must not take the proxy down.
    socket.on('error', () => undefined);
    return new UdpListener(config, socket);
  }

  get port(): number {
    return this.socket.address().port;
  }

  send(to: Endpoint, data: Buffer, sent?: () => void): void {
    this.socket.send(data, to.port, asSeenBy(to.address, this.dualStack), sent);
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.socket.close(() => resolve()));
  }
}
