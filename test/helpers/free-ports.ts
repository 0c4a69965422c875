/**
 * Ports for processes that must be told theirs in advance (user agents, a relay's range): asked
 * of the kernel (bind 0), checked free on UDP and TCP, then released for the process to take.
 * Another process could take one in between; the helpers that start a UA retry on a bind error.
 */
import dgram from 'node:dgram';
import net from 'node:net';

function tcpFree(host: string, port: number): Promise<number | null> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(null));
    srv.listen({ host, port, exclusive: true }, () => {
      const got = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(got));
    });
  });
}

function udpFree(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = dgram.createSocket(net.isIPv6(host) ? 'udp6' : 'udp4');
    sock.once('error', () => { sock.close(); resolve(false); });
    sock.bind({ address: host, port, exclusive: true }, () => sock.close(() => resolve(true)));
  });
}

/**
 * A port free on `host` for TCP and UDP, and the `span - 1` ports after it too (baresip, for
 * one, listens for TLS on its SIP port + 1). Even, so an RTP port's RTCP neighbour is odd.
 */
export async function freePort(host = '127.0.0.1', span = 1): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    // Linux hands out odd ports to bind(0) (even ones are kept for connect()): take its even neighbour.
    const given = await tcpFree(host, 0);
    if (given === null) continue;
    const first = given & ~1;
    if (first < 1024 || first + span > 65535) continue;
    let ok = true;
    for (let p = first; p < first + span && ok; p++) ok = (await tcpFree(host, p)) !== null && (await udpFree(host, p));
    if (ok) return first;
  }
  throw new Error(`no run of ${span} free ports on ${host}`);
}

/**
 * A range of `size` ports for a media relay or a UA's RTP, outside the product's default range
 * (5000-5999) and the kernel's ephemeral range, whose first and last ports are free now. A
 * relay skips a port it cannot bind, so a port taken later costs nothing but that port.
 */
export async function freePortRange(size: number): Promise<{ min: number; max: number; spec: string }> {
  // Below 22000 and 24000-24999, 28000-28299: the fixed ranges of the older e2e tests. A relay
  // takes its ports at random anywhere in its range, so ranges must not overlap.
  const low = 22000;
  const high = 32000;
  const fixed: readonly (readonly [number, number])[] = [[24000, 24999], [28000, 28299]];
  for (let attempt = 0; attempt < 50; attempt++) {
    const min = low + 2 * Math.floor((Math.random() * (high - low - size)) / 2);
    const max = min + size - 1;
    if (fixed.some(([a, b]) => min <= b && max >= a)) continue;
    if ((await udpFree('::', min)) && (await udpFree('::', max))) return { min, max, spec: `${min}-${max}` };
  }
  throw new Error(`no free range of ${size} ports`);
}
