import dgram from 'node:dgram';
import { isIPv4 } from 'node:net';

/**
 * For sockets that only ever name peers by IP literal (the media relay): dgram resolves every
 * destination before each send, and the default resolver tests the address with a regular
 * expression and defers to the next tick; this one hands the literal straight back.
 */
function literalLookup(address: string, family: unknown, callback: (err: Error | null, address: string, family: number) => void): void {
  callback(null, address, family === 4 ? 4 : 6);
}

/**
 * A UDP socket for `host`: dual-stack AF_INET6 (IPV6_V6ONLY off) unless the host is an
 * IPv4 literal, which is a deliberate IPv4-only choice. `literalPeers`: every destination is
 * an IP literal in the socket's own form (IPv4 as ::ffff:a.b.c.d on a dual-stack socket).
 */
export function createUdpSocket(host: string, opts: { literalPeers?: boolean } = {}): dgram.Socket {
  const lookup = opts.literalPeers === true ? { lookup: literalLookup as unknown as dgram.SocketOptions['lookup'] } : {};
  return isIPv4(host)
    ? dgram.createSocket({ type: 'udp4', ...lookup })
    : dgram.createSocket({ type: 'udp6', ipv6Only: false, ...lookup });
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
