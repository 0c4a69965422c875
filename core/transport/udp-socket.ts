import dgram from 'node:dgram';
import { lookup as dnsLookup } from 'node:dns';
import { isIPv4 } from 'node:net';

/** An IP literal, told by a scan of its characters (no regular expression): IPv6 has a colon, IPv4 only digits and dots. */
function looksLiteral(address: string): boolean {
  if (address.includes(':')) return true;
  for (let i = 0; i < address.length; i++) {
    const c = address.charCodeAt(i);
    if (c !== 0x2e && (c < 0x30 || c > 0x39)) return false;
  }
  return address.length > 0;
}

/**
 * dgram resolves every destination before each send, and its default resolver tests the
 * address with a regular expression and defers to the next tick. Peers here are nearly always
 * IP literals (the media relay's always are): a literal is handed straight back, a name still
 * goes to the resolver.
 */
function literalFirstLookup(address: string, family: unknown, callback: (err: Error | null, address: string, family: number) => void): void {
  if (looksLiteral(address)) {
    callback(null, address, address.includes(':') ? 6 : 4);
    return;
  }
  dnsLookup(address, { family: family === 4 ? 4 : family === 6 ? 6 : 0 }, (err, found, fam) => callback(err, found, fam));
}

/**
 * A UDP socket for `host`: dual-stack AF_INET6 (IPV6_V6ONLY off) unless the host is an
 * IPv4 literal, which is a deliberate IPv4-only choice. A dual-stack socket names IPv4 peers
 * in its own form, ::ffff:a.b.c.d.
 */
export function createUdpSocket(host: string): dgram.Socket {
  const lookup = literalFirstLookup as unknown as dgram.SocketOptions['lookup'];
  return isIPv4(host)
    ? dgram.createSocket({ type: 'udp4', lookup })
    : dgram.createSocket({ type: 'udp6', ipv6Only: false, lookup });
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
