import dgram from 'node:dgram';

export interface Datagram {
  readonly data: Buffer;
  readonly address: string;
  readonly port: number;
  /** Global arrival order across all peers of a test, to check who got what first. */
  readonly seq: number;
}

let arrivals = 0;

/** A UDP endpoint for tests: a socket with an inbox and awaitable receives. */
export class UdpPeer {
  private readonly inbox: Datagram[] = [];
  private waiters: ((d: Datagram) => void)[] = [];

  private constructor(readonly socket: dgram.Socket, readonly family: 4 | 6) {
    socket.on('message', (data, rinfo) => {
      const d = { data, address: rinfo.address, port: rinfo.port, seq: ++arrivals };
      const w = this.waiters.shift();
      if (w !== undefined) w(d);
      else this.inbox.push(d);
    });
  }

  /** Binds to an ephemeral port on 127.0.0.1 (family 4) or ::1 (family 6). */
  static open(family: 4 | 6 = 4): Promise<UdpPeer> {
    const socket = family === 4 ? dgram.createSocket('udp4') : dgram.createSocket({ type: 'udp6', ipv6Only: true });
    return new Promise((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(0, family === 4 ? '127.0.0.1' : '::1', () => resolve(new UdpPeer(socket, family)));
    });
  }

  get host(): string {
    return this.family === 4 ? '127.0.0.1' : '::1';
  }

  get port(): number {
    return this.socket.address().port;
  }

  send(data: string | Buffer, port: number, host = this.host): Promise<void> {
    return new Promise((resolve, reject) => this.socket.send(typeof data === 'string' ? Buffer.from(data, 'latin1') : data, port, host, (err) => (err ? reject(err) : resolve())));
  }

  /** The next datagram, or a rejection after `timeoutMs`. */
  next(timeoutMs = 2000): Promise<Datagram> {
    const queued = this.inbox.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new Error(`no datagram within ${timeoutMs} ms on ${this.host}:${this.port}`));
      }, timeoutMs);
      const waiter = (d: Datagram): void => {
        clearTimeout(timer);
        resolve(d);
      };
      this.waiters.push(waiter);
    });
  }

  async nextText(timeoutMs = 2000): Promise<string> {
    return (await this.next(timeoutMs)).data.toString('latin1');
  }

  /** Resolves with what arrived within `ms` (normally nothing). */
  async drain(ms: number): Promise<Datagram[]> {
    await new Promise((r) => setTimeout(r, ms));
    return this.inbox.splice(0);
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.socket.close(() => resolve()));
  }
}
