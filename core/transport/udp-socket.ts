import dgram from 'node:dgram';
import { lookup as dnsLookup } from 'node:dns';
import { isIPv4 } from 'node:net';

/**
 * For sockets that only ever name peers by IP literal (the media relay): dgram resolves every
 * destination before each send, and the default resolver tests the address with a regular
 * expression and defers to the next tick; this one hands the literal straight back.
 */
function literalLookup(address: string, family: unknown, callback: (err: Error | null, address: string, family: number) => void): void {
  callback(null, address, family === 4 ? 4 : 6);
}

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
 * For sockets whose peers are nearly always IP literals (the signaling listeners): a literal is
 * handed straight back, a name goes to the resolver as before.
 */
function mostlyLiteralLookup(address: string, family: unknown, callback: (err: Error | null, address: string, family: number) => void): void {
  if (looksLiteral(address)) {
    callback(null, address, address.includes(':') ? 6 : 4);
    return;
  }
  dnsLookup(address, { family: family === 4 ? 4 : family === 6 ? 6 : 0 }, (err, found, fam) => callback(err, found, fam));
}

/**
 * A UDP socket for `host`: dual-stack AF_INET6 (IPV6_V6ONLY off) unless the host is an
 * IPv4 literal, which is a deliberate IPv4-only choice. `literalPeers`: every destination is
 * an IP literal in the socket's own form (IPv4 as ::ffff:a.b.c.d on a dual-stack socket).
 * `mostlyLiteralPeers`: literals skip the resolver, names still resolve.
 */
export function createUdpSocket(host: string, opts: { literalPeers?: boolean; mostlyLiteralPeers?: boolean } = {}): dgram.Socket {
  const fn = opts.literalPeers === true ? literalLookup : opts.mostlyLiteralPeers === true ? mostlyLiteralLookup : undefined;
  const lookup = fn !== undefined ? { lookup: fn as unknown as dgram.SocketOptions['lookup'] } : {};
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
