import { asSeenBy } from '../lib/address.ts';
import type { DatagramReceiver, DatagramSocket, ReadEnd } from './datagram-socket.ts';
import { SIGNALING_SOCKET_BUFFER_BYTES } from './datagram-socket.ts';
import { bindUdp, createUdpSocket } from './udp-socket.ts';

const DRAINED = { drained: true } as const;

/** A signaling socket on node:dgram: one callback per datagram, one system call per send. */
export async function openJsSocket(host: string, port: number, receive: DatagramReceiver, readEnd?: ReadEnd): Promise<DatagramSocket> {
  const socket = createUdpSocket(host);
  await bindUdp(socket, port, host);
  for (const set of [(n: number) => socket.setRecvBufferSize(n), (n: number) => socket.setSendBufferSize(n)]) {
    try { set(SIGNALING_SOCKET_BUFFER_BYTES); } catch { /* the default stays */ }
  }
  socket.on('message', (buf, rinfo) => {
    try {
      receive(buf, { address: rinfo.address, port: rinfo.port });
    } finally {
      readEnd?.(DRAINED);
    }
  });
  // A send to an unreachable peer surfaces here on some systems; it must not take the proxy down.
  socket.on('error', () => undefined);
  const dualStack = socket.address().family === 'IPv6';
  const boundPort = socket.address().port;
  let closed = false;
  return {
    engine: 'js',
    port: boundPort,
    dualStack,
    send: (to, data, sent) => {
      if (!closed) socket.send(data, to.port, asSeenBy(to.address, dualStack), sent);
    },
    close: () => {
      if (closed) return Promise.resolve();
      closed = true;
      return new Promise((resolve) => socket.close(() => resolve()));
    },
  };
}
