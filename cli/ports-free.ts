import dgram from 'node:dgram';
import { isIPv4 } from 'node:net';
import net from 'node:net';
import type { LoadedScript, ResolvedListen } from '../core/script/load.ts';
import { SwitchyardError } from '../core/lib/errors.ts';

function udpFree(host: string, port: number): Promise<NodeJS.ErrnoException | null> {
  return new Promise((resolve) => {
    const s = isIPv4(host) ? dgram.createSocket('udp4') : dgram.createSocket({ type: 'udp6', ipv6Only: false });
    s.once('error', (err) => { s.close(); resolve(err); });
    s.bind(port, host, () => s.close(() => resolve(null)));
  });
}

function tcpFree(host: string, port: number): Promise<NodeJS.ErrnoException | null> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', (err) => resolve(err));
    server.listen({ port, host, ipv6Only: false, exclusive: true }, () => server.close(() => resolve(null)));
  });
}

/** Each transport a listener opens on its port, and the socket it takes (TLS and WebSocket listeners take a TCP port). */
function transportsOf(l: ResolvedListen): readonly { readonly name: string; readonly socket: 'udp' | 'tcp' }[] {
  if (l.dialect === 'plain') return [{ name: 'udp', socket: 'udp' }];
  if (l.transport !== undefined) return [{ name: l.transport, socket: 'tcp' }];
  return (l.transports ?? ['udp', 'tcp']).map((t) => ({ name: t, socket: t }));
}

/**
 * Fails with one line naming the first listen port another program holds, before the proxy
 * starts anything (warm-up, media relay, listeners). A port of 0 (any free port) is never busy.
 */
export async function assertPortsFree(script: LoadedScript): Promise<void> {
  for (const l of script.listen) {
    if (l.port === 0) continue;
    for (const t of transportsOf(l)) {
      const err = await (t.socket === 'udp' ? udpFree(l.host, l.port) : tcpFree(l.host, l.port));
      if (err === null) continue;
      const why = err.code === 'EADDRINUSE' ? 'is in use' : err.code === 'EACCES' ? 'may not be opened (permission denied)' : `cannot be opened (${err.code ?? err.message})`;
      throw new SwitchyardError('SY_LISTEN', `port ${l.port} (${l.dialect}, ${t.name.toUpperCase()} on ${l.host}) ${why}`, { port: l.port, dialect: l.dialect, transport: t.name });
    }
  }
}
