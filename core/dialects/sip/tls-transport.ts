import tls from 'node:tls';
import type { TlsCredentials } from '../../transport/tls-credentials.ts';
import type { StreamStats } from './stream-limits.ts';
import type { StreamFlavour } from './tcp-transport.ts';

/**
 * SIP over TLS (RFC 3261 §26.2, RFC 5630): the TCP framing over TLS. Accepted connections are
 * handed by the TCP listener (after its per-source and total checks) to a TLS server that never
 * listens itself, whose certificate follows the files on disk; connections of its own are dialled
 * with verification of the peer (the listener's `ca`, or Node's roots; `verifyPeer: false` for
 * self-signed test peers).
 */
export function tlsFlavour(credentials: TlsCredentials): (stats: StreamStats) => StreamFlavour {
  return (stats) => {
    const server = tls.createServer({ ...credentials.options });
    credentials.onChange((o) => server.setSecureContext(o));
    // With a listener here Node leaves the socket open: close it. One the gate closed for its deadline was counted there.
    server.on('tlsClientError', (_err, socket) => {
      if (!socket.destroyed) stats.handshakeFailures++;
      socket.destroy();
    });
    const verify = credentials.files.verifyPeer !== false;
    return {
      name: 'TLS',
      handshake: true,
      serve: (ready) => {
        server.on('secureConnection', (s: tls.TLSSocket) => {
          // As over TCP: a response and the next one go out at once, not held back by Nagle's algorithm.
          s.setNoDelay(true);
          ready(s);
        });
        return (raw) => server.emit('connection', raw);
      },
      dial: (to, name) => {
        const s = tls.connect({ ...credentials.options, host: to.address, port: to.port, rejectUnauthorized: verify, ...(name !== undefined ? { servername: name } : {}) });
        s.setNoDelay(true);
        let secured = false;
        s.once('secureConnect', () => { secured = true; });
        s.on('error', () => { if (!secured) stats.handshakeFailures++; });
        return s;
      },
      connected: 'secureConnect',
    };
  };
}
