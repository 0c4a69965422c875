import dgram from 'node:dgram';
import { isIPv4 } from 'node:net';

/**
 * A UDP socket for `host`: dual-stack AF_INET6 (IPV6_V6ONLY off) unless the host is an
 * IPv4 literal, which is a deliberate IPv4-only choice.
 */
export function createUdpSocket(host: string): dgram.Socket {
  return isIPv4(host)
    ? dgram.createSocket({ type: 'udp4' })
    : dgram.createSocket({ type: 'udp6', ipv6Only: false });
}

/** Binds, resolving with the socket or rejecting with the bind error (EADDRINUSE...). */
export function bindUdp(socket: dgram.Socket, port: number, host: string): Promise<dgram.Socket> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => {
      socket.removeListener('listening', onListening);
      reject(err);
    };
    const onListening = (): void => {
      socket.removeListener('error', onError);
      resolve(socket);
    };
    socket.once('error', onError);
    socket.once('listening', onListening);
    socket.bind({ port, address: host, exclusive: true });
  });
}
