/**
 * The signaling sockets, once per UDP engine: node:dgram (`js`) and native/signal.c (`native`,
 * recvmmsg/sendmmsg batches). Without a built addon the native case is skipped, unless
 * SWITCHYARD_REQUIRE_NATIVE=1 (CI), where that is a failure.
 */
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { after, describe, test } from 'node:test';
import type { Endpoint } from '../../core/lib/address.ts';
import type { DatagramSocket, UdpEngine } from '../../core/transport/datagram-socket.ts';
import { openJsSocket } from '../../core/transport/js-socket.ts';
import { loadNativeSignal, NativeSocket } from '../../core/transport/native-socket.ts';
import { UdpPeer } from '../helpers/udp-peer.ts';

const native = loadNativeSignal();
if ('error' in native && process.env.SWITCHYARD_REQUIRE_NATIVE === '1') {
  throw new Error(`SWITCHYARD_REQUIRE_NATIVE=1 but the native signaling socket cannot be loaded: ${native.error}`);
}

type Received = { data: Buffer; source: Endpoint };

/** A socket under test with an inbox of what it received. */
async function open(engine: UdpEngine, host: string, port = 0, onReceive?: (r: Received, socket: DatagramSocket) => void): Promise<{ socket: DatagramSocket; inbox: Received[]; next: () => Promise<Received> }> {
  const inbox: Received[] = [];
  const waiters: ((r: Received) => void)[] = [];
  let socket: DatagramSocket | null = null;
  const receive = (buf: Buffer, source: Endpoint): void => {
    // A copy: the test keeps it past the batch.
    const r = { data: Buffer.from(buf), source };
    onReceive?.(r, socket!);
    const w = waiters.shift();
    if (w !== undefined) w(r);
    else inbox.push(r);
  };
  if (engine === 'js') socket = await openJsSocket(host, port, receive);
  else {
    if ('error' in native) throw new Error(native.error);
    socket = new NativeSocket(native.addon, host, port, receive);
  }
  const next = (): Promise<Received> => {
    const queued = inbox.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no datagram within 2 s')), 2000);
      waiters.push((r) => { clearTimeout(timer); resolve(r); });
    });
  };
  return { socket, inbox, next };
}

const CASES: { engine: UdpEngine; skip: string | false }[] = [
  { engine: 'js', skip: false },
  { engine: 'native', skip: 'error' in native ? `native signaling socket unavailable: ${native.error}` : false },
];

for (const { engine, skip } of CASES) {
  describe(`signaling socket, ${engine} engine`, { skip }, () => {
    const peers: UdpPeer[] = [];
    const sockets: DatagramSocket[] = [];
    const peer = async (family: 4 | 6): Promise<UdpPeer> => { const p = await UdpPeer.open(family); peers.push(p); return p; };
    const track = <T extends { socket: DatagramSocket }>(s: T): T => { sockets.push(s.socket); return s; };
    after(async () => {
      for (const s of sockets) await s.close();
      for (const p of peers) p.close();
    });

    test('dual-stack on ::: IPv4 peers appear as ::ffff:, IPv6 as themselves, and replies reach both', async () => {
      const s = track(await open(engine, '::'));
      assert.equal(s.socket.engine, engine);
      assert.equal(s.socket.dualStack, true);
      assert.ok(s.socket.port > 0);
      for (const [family, seen] of [[4, '::ffff:127.0.0.1'], [6, '::1']] as const) {
        const p = await peer(family);
        await p.send(`hello from IPv${family}`, s.socket.port);
        const got = await s.next();
        assert.equal(got.data.toString(), `hello from IPv${family}`);
        assert.deepEqual(got.source, { address: seen, port: p.port });
        s.socket.send(got.source, Buffer.from('answer'));
        const back = await p.next();
        assert.equal(back.data.toString(), 'answer');
        assert.equal(back.port, s.socket.port);
        // The plain IPv4 form reaches the same peer.
        if (family === 4) {
          s.socket.send({ address: '127.0.0.1', port: p.port }, Buffer.from('unmapped'));
          assert.equal((await p.next()).data.toString(), 'unmapped');
        }
      }
    });

    test('an IPv4 literal makes an IPv4-only socket that takes ::ffff: destinations too', async () => {
      const s = track(await open(engine, '127.0.0.1'));
      assert.equal(s.socket.dualStack, false);
      const p = await peer(4);
      await p.send('v4', s.socket.port);
      const got = await s.next();
      assert.deepEqual(got.source, { address: '127.0.0.1', port: p.port });
      s.socket.send({ address: `::ffff:127.0.0.1`, port: p.port }, Buffer.from('mapped'));
      assert.equal((await p.next()).data.toString(), 'mapped');
    });

    test('bursts of 150 datagrams (several batches) arrive whole and in order, and the answers sent while receiving leave in order', async () => {
      const s = track(await open(engine, '::1', 0, (r, socket) => socket.send(r.source, Buffer.concat([Buffer.from('re:'), r.data]))));
      const p = await peer(6);
      for (let burst = 0; burst < 3; burst++) {
        // Small enough that the test peer's default receive buffer holds a whole burst of answers.
        const sent = Array.from({ length: 150 }, (_, i) => Buffer.alloc(1 + ((i * 977 + burst) % 600), (i + burst) % 251));
        for (const d of sent) p.socket.send(d, s.socket.port, '::1');
        for (let i = 0; i < sent.length; i++) {
          const got = await s.next();
          assert.ok(got.data.equals(sent[i]!), `burst ${burst}: datagram ${i} unchanged`);
          const back = await p.next();
          assert.ok(back.data.equals(Buffer.concat([Buffer.from('re:'), sent[i]!])), `burst ${burst}: answer ${i} in order`);
        }
      }
    });

    test('a 60,000-byte datagram is received and sent whole', async () => {
      const s = track(await open(engine, '::1', 0, (r, socket) => socket.send(r.source, r.data)));
      const p = await peer(6);
      const big = Buffer.alloc(60000);
      for (let i = 0; i < big.length; i++) big[i] = (i * 31) & 0xff;
      await p.send(big, s.socket.port);
      assert.ok((await s.next()).data.equals(big));
      assert.ok((await p.next()).data.equals(big));
    });

    test('`sent` runs after the datagram is ordered: a send from it reaches its peer second', async () => {
      const s = track(await open(engine, '127.0.0.1', 0, (r, socket) => {
        socket.send({ address: '127.0.0.1', port: Number(r.data.toString()) }, Buffer.from('first'), () =>
          socket.send(r.source, Buffer.from('second')));
      }));
      const a = await peer(4);
      const b = await peer(4);
      await b.send(String(a.port), s.socket.port);
      const first = await a.next();
      const second = await b.next();
      assert.equal(first.data.toString(), 'first');
      assert.equal(second.data.toString(), 'second');
      assert.ok(first.seq < second.seq, 'the first send arrived first');
    });

    test('a host name as destination is resolved', async () => {
      const s = track(await open(engine, '127.0.0.1'));
      const p = await peer(4);
      s.socket.send({ address: 'localhost', port: p.port }, Buffer.from('by name'));
      assert.equal((await p.next()).data.toString(), 'by name');
    });

    test('a port in use is refused with EADDRINUSE; a closed socket frees its port and ignores sends', async () => {
      const s = await open(engine, '127.0.0.1');
      const port = s.socket.port;
      await assert.rejects(async () => open(engine, '127.0.0.1', port), /EADDRINUSE/);
      await s.socket.close();
      s.socket.send({ address: '127.0.0.1', port: 9 }, Buffer.from('after close'));
      const again = dgram.createSocket('udp4');
      await new Promise<void>((resolve, reject) => { again.once('error', reject); again.bind(port, '127.0.0.1', () => resolve()); });
      again.close();
    });
  });
}
