import type dgram from 'node:dgram';
import { asSeenBy, type Endpoint } from '../address.ts';
import type { Dialect } from '../dialect.ts';
import { SwitchyardError } from '../errors.ts';
import { answerStun, looksLikeStun } from '../stun/binding.ts';
import { bindUdp, createUdpSocket } from './udp-socket.ts';

export interface ListenerConfig {
  readonly name: string;
  readonly dialect: Dialect;
  readonly host: string;
  readonly port: number;
  /** Answer STUN Binding requests on this socket (RFC 5389), so clients learn their public address. */
  readonly stun?: boolean;
}

const SOCKET_BUFFER_BYTES = 4 * 1024 * 1024;

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
    // A deep receive queue rides out bursts (and the first cold seconds) without the kernel dropping
    // signaling; the kernel caps it at net.core.rmem_max.
    for (const set of [(n: number) => socket.setRecvBufferSize(n), (n: number) => socket.setSendBufferSize(n)]) {
      try { set(SOCKET_BUFFER_BYTES); } catch { /* the default stays */ }
    }
    const { dialect, name } = config;
    const listener = new UdpListener(config, socket);
    socket.on('message', (buf, rinfo) => {
      const source = { address: rinfo.address, port: rinfo.port };
      // STUN starts with two zero bits and the magic cookie: never a plain or SIP message.
      if (config.stun === true && looksLikeStun(buf)) {
        const answer = answerStun(buf, source);
        if (answer !== null) listener.send(source, answer);
        return;
      }
      onDatagram(dialect, name, buf, source);
    });
    // A send to an unreachable peer surfaces here on some systems; it must not take the proxy down.
    socket.on('error', () => undefined);
    return listener;
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
