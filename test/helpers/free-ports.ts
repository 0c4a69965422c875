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
 * (5000-5999), the kernel's ephemeral range (from 32768) and the fixed ports of other tests,
 * whose first and last ports are free now. A relay skips a port it cannot bind, so a port
 * taken later costs nothing but that port.
 */
export async function freePortRange(size: number): Promise<{ min: number; max: number; spec: string }> {
  // 20000-28299 holds the fixed ports of the older tests (unit tests bind theirs too), and a
  // relay takes its ports at random anywhere in its range: the ranges drawn stay above them.
  const low = 28400;
  const high = 32600;
  for (let attempt = 0; attempt < 50; attempt++) {
    const min = low + 2 * Math.floor((Math.random() * (high - low - size)) / 2);
    const max = min + size - 1;
    if ((await udpFree('::', min)) && (await udpFree('::', max))) return { min, max, spec: `${min}-${max}` };
  }
  throw new Error(`no free range of ${size} ports`);
}
