import dgram from 'node:dgram';

/** A UDP port free now on `host` (bound, then closed), for a peer that must be told its port up front (SIPp). */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  const s = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
  await new Promise<void>((resolve) => s.bind(0, host, () => resolve()));
  const port = s.address().port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
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
