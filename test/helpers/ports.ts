import dgram from 'node:dgram';
import net from 'node:net';

/**
 * A port free now on `host` for UDP and TCP both (a SIP listener opens both), chosen by the
 * system; the default `::` (dual-stack) checks every address. For a listener or a peer that
 * must be told its port up front (SIPp).
 */
export async function freePort(host = '::'): Promise<number> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const server = net.createServer();
    const port = await new Promise<number>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, host, () => resolve((server.address() as net.AddressInfo).port));
    });
    const udp = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
    const free = await new Promise<boolean>((resolve) => {
      udp.once('error', () => resolve(false));
      udp.bind(port, host, () => resolve(true));
    });
    await Promise.all([new Promise((resolve) => server.close(resolve)), free ? new Promise<void>((resolve) => udp.close(() => resolve())) : undefined]);
    if (free) return port;
  }
  throw new Error(`no port free for UDP and TCP on ${host} in 20 tries`);
}

/** `size` consecutive UDP ports free on :: (dual-stack) now, as a media range `lo-hi`. */
export async function freeRange(size: number): Promise<string> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const min = 40000 + 2 * Math.floor(Math.random() * 9000);
    const held: dgram.Socket[] = [];
    let ok = true;
    for (let port = min; port < min + size && ok; port++) {
      const s = dgram.createSocket({ type: 'udp6', ipv6Only: false });
      ok = await new Promise<boolean>((resolve) => {
        s.once('error', () => resolve(false));
        s.bind(port, '::', () => resolve(true));
      });
      if (ok) held.push(s);
    }
    await Promise.all(held.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
    if (ok) return `${min}-${min + size - 1}`;
  }
  throw new Error(`no ${size} consecutive free UDP ports`);
}
