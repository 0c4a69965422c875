import tls from 'node:tls';
import type { TlsCredentials } from '../../transport/tls-credentials.ts';
import type { StreamFlavour } from './tcp-transport.ts';

/** How long a peer has to finish its TLS handshake before its connection is dropped. */
export const TLS_HANDSHAKE_MS = 10_000;

export interface TlsStats {
  /** Handshakes that failed or never finished. */
  handshakeFailures: number;
}

/**
 * SIP over TLS (RFC 3261 §26.2, RFC 5630): the TCP framing over a TLS server whose certificate
 * follows the files on disk, and connections of its own dialled with verification of the peer
 * (the listener's `ca`, or Node's roots; `verifyPeer: false` for self-signed test peers).
 */
export function tlsFlavour(credentials: TlsCredentials, stats: TlsStats, handshakeTimeoutMs = TLS_HANDSHAKE_MS): StreamFlavour {
  const server = tls.createServer({ ...credentials.options, handshakeTimeout: handshakeTimeoutMs });
  credentials.onChange((o) => server.setSecureContext(o));
  // As over TCP: a response and the next one go out at once, not held back by Nagle's algorithm.
  server.on('secureConnection', (s: tls.TLSSocket) => s.setNoDelay(true));
  // With a listener here Node leaves the socket open: close it.
  server.on('tlsClientError', (_err, socket) => { stats.handshakeFailures++; socket.destroy(); });
  const verify = credentials.files.verifyPeer !== false;
  return {
    name: 'TLS',
    server,
    acceptEvent: 'secureConnection',
    dial: (to) => {
      const s = tls.connect({ ...credentials.options, host: to.address, port: to.port, rejectUnauthorized: verify });
      s.setNoDelay(true);
      let secured = false;
      s.once('secureConnect', () => { secured = true; });
      s.on('error', () => { if (!secured) stats.handshakeFailures++; });
      return s;
    },
  };
}
