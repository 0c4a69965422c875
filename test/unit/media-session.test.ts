/**
 * Relay sessions (relaying, latching, counters) and MediaRelay (sessions, idle sweep, ports)
 * over real UDP sockets on loopback, for every engine (test/helpers/media-engines.ts). Media
 * ports used here: 22500-22999 (JS), 26500-26999 (native, 1 worker), 27500-27999 (native, 2).
 */
import { afterEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import { isIPv4 } from 'node:net';
import type { Endpoint } from '../../core/lib/address.ts';
import { bindUdp, createUdpSocket } from '../../core/transport/udp-socket.ts';
import type { MediaEngine, RelaySession } from '../../modules/media-relay/relay/engine.ts';
import type { SessionEndReason, SessionKey, SessionStats } from '../../modules/media-relay/session.ts';
import { MediaRelay } from '../../modules/media-relay/relay/media-relay.ts';
import { ENGINE_CASES, type EngineCase } from '../helpers/media-engines.ts';
import { freeRange } from '../helpers/ports.ts';
import { silentLog, sleep, waitFor } from './_unit-fixtures.ts';

interface Datagram { data: Buffer; address: string; port: number }

/** A test party: a socket on a loopback address with an inbox. */
class Peer {
  private readonly inbox: Datagram[] = [];
  private waiter: ((d: Datagram) => void) | null = null;
  closed = false;

  private constructor(readonly socket: dgram.Socket, readonly host: string) {
    socket.on('message', (data, rinfo) => {
      const d = { data, address: rinfo.address, port: rinfo.port };
      const w = this.waiter;
      if (w !== null) {
        this.waiter = null;
        w(d);
      } else this.inbox.push(d);
    });
  }

  static async open(host: string): Promise<Peer> {
    const socket = isIPv4(host) ? dgram.createSocket('udp4') : dgram.createSocket({ type: 'udp6', ipv6Only: true });
    const p = new Peer(socket, host);
    peers.add(p);
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(0, host, () => { socket.removeListener('error', reject); resolve(); });
    });
    return p;
  }

  get port(): number {
    return this.socket.address().port;
  }

  /** The address a dual-stack relay socket sees this peer at. */
  get seenAs(): Endpoint {
    return { address: isIPv4(this.host) ? `::ffff:${this.host}` : this.host, port: this.port };
  }

  /** Sends to the relay's media port over this peer's own family. */
  send(data: Buffer, mediaPort: number): Promise<void> {
    const to = isIPv4(this.host) ? '127.0.0.1' : '::1';
    return new Promise((resolve, reject) => this.socket.send(data, mediaPort, to, (err) => (err ? reject(err) : resolve())));
  }

  next(timeoutMs = 3000): Promise<Datagram> {
    const queued = this.inbox.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiter = null;
        reject(new Error(`no datagram within ${timeoutMs} ms on ${this.host}:${this.port}`));
      }, timeoutMs);
      this.waiter = (d) => {
        clearTimeout(timer);
        resolve(d);
      };
    });
  }

  /** What arrived within `ms` (normally nothing). */
  async drain(ms: number): Promise<Datagram[]> {
    await sleep(ms);
    return this.inbox.splice(0);
  }

  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.closed = true;
    peers.delete(this);
    return new Promise((resolve) => this.socket.close(() => resolve()));
  }
}

const peers = new Set<Peer>();
const sessions = new Set<RelaySession>();
const relays = new Set<MediaRelay>();
const engines = new Set<MediaEngine>();

afterEach(async () => {
  for (const r of relays) r.close();
  relays.clear();
  for (const s of sessions) s.close();
  sessions.clear();
  for (const e of engines) e.close();
  engines.clear();
  await Promise.all([...peers].map((p) => p.close()));
});

function engineFor(c: EngineCase, host: string): MediaEngine {
  const e = c.make(host);
  engines.add(e);
  return e;
}

/** A session on `port` (dual-stack unless `host` says otherwise, as the proxy opens them) between a and b at their registered addresses. */
async function openSession(c: EngineCase, port: number, a: Peer | Endpoint, b: Peer | Endpoint, host = '::'): Promise<RelaySession> {
  const bound = await engineFor(c, host).bind(port);
  const ea = a instanceof Peer ? a.seenAs : a;
  const eb = b instanceof Peer ? b.seenAs : b;
  const s = bound.start(key(`call-${port}`), { name: 'alice', address: ea }, { name: 'bob', address: eb });
  sessions.add(s);
  return s;
}

/** Sends from `from`, asserts `to` gets the same bytes from the media port. */
async function relays1(from: Peer, to: Peer, port: number, data: Buffer): Promise<void> {
  await from.send(data, port);
  const d = await to.next();
  assert.equal(d.port, port, 'relayed from the media port');
  assert.equal(d.data.length, data.length);
  assert.ok(d.data.equals(data), `payload of ${data.length} bytes changed`);
}

function party(stats: SessionStats, i: 0 | 1) {
  return stats.parties[i]!;
}

/**
 * Proves `port` free again: the system binds it (the relay's close is asynchronous: retry
 * briefly), or, given the relay's engine, the engine binds it: a native engine keeps an ended
 * session's socket bound as the port's spare, for the port's next session only.
 */
async function canBind(port: number, engine?: MediaEngine): Promise<boolean> {
  for (let i = 0; i < 50; i++) {
    try {
      if (engine !== undefined) {
        (await engine.bind(port)).release();
        return true;
      }
      const s = createUdpSocket('::');
      try {
        await bindUdp(s, port, '::');
      } finally {
        await new Promise<void>((r) => s.close(() => r()));
      }
      return true;
    } catch {
      await sleep(20);
    }
  }
  return false;
}

/** The key of a call's one-port session. */
function key(callId: string): SessionKey {
  return { callId, stream: 0, component: 'media' };
}

function newRelay(c: EngineCase, min: number, max: number, idleTimeoutMs: number, relatchAfterSilentMs = 0): { relay: MediaRelay; engine: MediaEngine; ended: { key: SessionKey; reason: SessionEndReason; stats: SessionStats }[] } {
  const engine = engineFor(c, '::');
  const relay = new MediaRelay({ range: { min: min + c.portOffset, max: max + c.portOffset }, idleTimeoutMs, relatchAfterSilentMs }, engine, silentLog);
  relays.add(relay);
  const ended: { key: SessionKey; reason: SessionEndReason; stats: SessionStats }[] = [];
  relay.onEnd((s, reason, stats) => ended.push({ key: s.key, reason, stats }));
  return { relay, engine, ended };
}

/** A two-leg session on `portA` (alice's leg) and `portB` (bob's), as the proxy opens them for SIP. */
async function openLegs(c: EngineCase, portA: number, portB: number, a: Peer | Endpoint, b: Peer | Endpoint, strictSource = false): Promise<RelaySession> {
  const engine = engineFor(c, '::');
  const [la, lb] = await Promise.all([engine.bind(portA), engine.bind(portB)]);
  const ea = a instanceof Peer ? a.seenAs : a;
  const eb = b instanceof Peer ? b.seenAs : b;
  const s = engine.startLegs({ callId: `legs-${portA}`, stream: 0, component: 'rtp' }, la, lb, { name: 'alice', address: ea }, { name: 'bob', address: eb }, { strictSource });
  sessions.add(s);
  return s;
}

/** Sends from `from` to relay port `toPort`; asserts `peer` gets the same bytes from relay port `fromPort`. */
async function relaysVia(from: Peer, toPort: number, peer: Peer, fromPort: number, data: Buffer): Promise<void> {
  await from.send(data, toPort);
  const d = await peer.next();
  assert.equal(d.port, fromPort, `relayed from the receiver's own leg port ${fromPort}`);
  assert.ok(d.data.equals(data), `payload of ${data.length} bytes changed`);
}

const NOWHERE: Endpoint = { address: '', port: 0 };

for (const engine of ENGINE_CASES) {
  describe(`${engine.name}: relaying`, { skip: engine.skip }, () => {
    test('relays both ways between IPv4 parties, bytes unchanged (binary, 1..8000 bytes), from the media port', async () => {
      const port = 22500 + engine.portOffset;
      const a = await Peer.open('127.0.0.1');
      const b = await Peer.open('127.0.0.1');
      const s = await openSession(engine, port, a, b);
      const payloads = [
        Buffer.from([0]), Buffer.from([0xff, 0x00]), Buffer.from('\r\n'), Buffer.from('MEDIA_PORT FROM:a TO:b 1\n'),
        Buffer.alloc(160, 0), randomBytes(13), randomBytes(172), randomBytes(1400), randomBytes(4096), randomBytes(8000),
      ];
      let aBytes = 0;
      let bBytes = 0;
      for (const p of payloads) {
        await relays1(a, b, port, p);
        aBytes += p.length;
      }
      for (const p of payloads.slice(0, 6)) {
        await relays1(b, a, port, p);
        bBytes += p.length;
      }
      const st = s.stats();
      assert.equal(st.port, port);
      assert.deepEqual(party(st, 0), { name: 'alice', role: 'caller', relayPort: port, media: a.seenAs, latched: true, packets: payloads.length, bytes: aBytes });
      assert.deepEqual(party(st, 1), { name: 'bob', role: 'callee', relayPort: port, media: b.seenAs, latched: true, packets: 6, bytes: bBytes });
      assert.equal(st.strangers, 0);
      assert.equal(st.sendErrors, 0);
      assert.equal(s.relayedCount(), payloads.length + 6);
      assert.ok(st.durationMs >= 0);
    });

    test('an IPv4-only media socket relays parties known by their dual-stack signaling address (::ffff:a.b.c.d)', async () => {
      const port = 22520 + engine.portOffset;
      const a = await Peer.open('127.0.0.1');
      const b = await Peer.open('127.0.0.1');
      const mapped = (p: Peer): Endpoint => ({ address: `::ffff:${p.host}`, port: p.socket.address().port });
      const s = await openSession(engine, port, mapped(a), mapped(b), '127.0.0.1');
      await a.send(Buffer.from('to bob'), port);
      assert.deepEqual((await b.next()).data, Buffer.from('to bob'));
      await b.send(Buffer.from('to alice'), port);
      assert.deepEqual((await a.next()).data, Buffer.from('to alice'));
      assert.equal(s.stats().strangers, 0);
    });

    test('random payloads of every size class arrive unchanged', async () => {
      const port = 22501 + engine.portOffset;
      const a = await Peer.open('127.0.0.1');
      const b = await Peer.open('127.0.0.1');
      await openSession(engine, port, a, b);
      for (let i = 0; i < 40; i++) {
        const len = 1 + ((i * 7919) % 8000);
        await relays1(i % 2 === 0 ? a : b, i % 2 === 0 ? b : a, port, randomBytes(len));
      }
    });

    test('relays between IPv6 parties', async () => {
      const port = 22502 + engine.portOffset;
      const a = await Peer.open('::1');
      const b = await Peer.open('::1');
      const s = await openSession(engine, port, a, b);
      await relays1(a, b, port, randomBytes(300));
      await relays1(b, a, port, randomBytes(20));
      assert.equal(party(s.stats(), 0).packets, 1);
      assert.equal(party(s.stats(), 1).bytes, 20);
    });

    test('relays between an IPv4 and an IPv6 party through the dual-stack port', async () => {
      const port = 22503 + engine.portOffset;
      const a = await Peer.open('127.0.0.1');
      const b = await Peer.open('::1');
      await openSession(engine, port, a, b);
      await relays1(a, b, port, randomBytes(500));
      await relays1(b, a, port, randomBytes(500));
      const back = randomBytes(64);
      await b.send(back, port);
      const d = await a.next();
      assert.equal(d.address, '127.0.0.1', 'the IPv4 party hears from an IPv4 address');
      assert.ok(d.data.equals(back));
    });

    test('before the other party has sent, media goes to its registered address', async () => {
      const port = 22504 + engine.portOffset;
      const a = await Peer.open('127.0.0.1');
      const b = await Peer.open('::1');
      const s = await openSession(engine, port, a, b);
      await relays1(a, b, port, Buffer.from('first'));
      assert.equal(party(s.stats(), 1).latched, false);
      assert.deepEqual(party(s.stats(), 1).media, b.seenAs);
    });
  });

  describe(`${engine.name}: one leg per party`, { skip: engine.skip }, () => {
    test('each party sends to its own port and hears the other from it; sources nobody described latch (NAT)', async () => {
      const [pa, pb] = [22700 + engine.portOffset, 22702 + engine.portOffset];
      const alice = await Peer.open('127.0.0.1');
      const bob = await Peer.open('::1');
      // Both SDPs name addresses the parties do not send from (documentation prefixes: behind NAT).
      const s = await openLegs(engine, pa, pb, { address: '192.0.2.2', port: 4000 }, { address: '2001:db8::2', port: 4002 });
      assert.deepEqual(s.ports, [pa, pb]);
      await alice.send(Buffer.from('hello bob'), pa); // latches alice's leg; bob is not reachable yet
      await waitFor(() => s.stats().parties[0].latched, 'alice latched');
      await relaysVia(bob, pb, alice, pa, Buffer.from('hello alice')); // latches bob's leg, reaches alice where she latched
      await relaysVia(alice, pa, bob, pb, Buffer.from('and again'));
      for (const len of [1, 172, 1400, 8000]) {
        await relaysVia(alice, pa, bob, pb, randomBytes(len));
        await relaysVia(bob, pb, alice, pa, randomBytes(len));
      }
      const st = s.stats();
      assert.deepEqual(st.parties.map((p) => [p.role, p.relayPort, p.latched]), [['caller', pa, true], ['callee', pb, true]]);
      assert.deepEqual(party(st, 0).media, alice.seenAs);
      assert.deepEqual(party(st, 1).media, bob.seenAs);
      assert.deepEqual(st.parties.map((p) => p.packets), [6, 5]);
      assert.equal(s.relayedCount(), 11);
    });

    test('both parties on one IP, the callee first (its media before its answer, which does not unlatch it): each is known by its port', async () => {
      const [pa, pb] = [22704 + engine.portOffset, 22706 + engine.portOffset];
      const alice = await Peer.open('127.0.0.1');
      const bob = await Peer.open('127.0.0.1');
      const s = await openLegs(engine, pa, pb, alice, NOWHERE);
      await relaysVia(bob, pb, alice, pa, Buffer.from('early media from bob'));
      // Then bob's answer arrives, naming an address he does not send from: he stays latched.
      s.setExpected('b', { address: '::ffff:127.0.0.1', port: 4002 });
      await relaysVia(alice, pa, bob, pb, Buffer.from('alice answers'));
      assert.deepEqual(await alice.drain(100), [], 'alice never gets her own packets');
      assert.deepEqual(s.stats().parties.map((p) => [p.media.port, p.packets]), [[alice.port, 1], [bob.port, 1]]);
    });

    test('once latched, another source on a leg is a stranger', async () => {
      const [pa, pb] = [22708 + engine.portOffset, 22710 + engine.portOffset];
      const alice = await Peer.open('127.0.0.1');
      const bob = await Peer.open('127.0.0.1');
      const mallory = await Peer.open('127.0.0.1');
      const s = await openLegs(engine, pa, pb, alice, bob);
      await relaysVia(alice, pa, bob, pb, Buffer.from('a'));
      await mallory.send(Buffer.from('let me in'), pa);
      assert.deepEqual(await bob.drain(150), []);
      await relaysVia(bob, pb, alice, pa, Buffer.from('still to alice'));
      assert.deepEqual(await mallory.drain(100), []);
      assert.equal(s.stats().strangers, 1);
    });

    test('strictSource: only the SDP IP or the signaling IP latches a leg', async () => {
      const [pa, pb] = [22712 + engine.portOffset, 22714 + engine.portOffset];
      const alice = await Peer.open('::1'); // her SDP says ::1
      const bob = await Peer.open('127.0.0.1'); // his SDP says 192.0.2.9; his signaling comes from 127.0.0.1
      const stranger = await Peer.open('127.0.0.1');
      const s = await openLegs(engine, pa, pb, { address: '::1', port: 4000 }, { address: '192.0.2.9', port: 4002 }, true);
      await stranger.send(Buffer.from('not alice'), pa);
      await waitFor(() => s.stats().strangers === 1, 'a source of neither IP is a stranger on alice\'s leg');
      assert.equal(s.stats().parties[0].latched, false);
      await alice.send(Buffer.from('alice'), pa);
      await waitFor(() => s.stats().parties[0].latched, 'alice latched from her SDP IP');
      await bob.send(Buffer.from('bob early'), pb);
      await waitFor(() => s.stats().strangers === 2, 'bob\'s source is a stranger while his signaling IP is not known');
      assert.equal(s.stats().parties[1].latched, false);
      s.setSignal('b', '127.0.0.1');
      await relaysVia(bob, pb, alice, pa, Buffer.from('bob from his signaling IP'));
      assert.equal(s.stats().strangers, 2);
    });

    test('a new SDP address re-latches a party; unlatch() lets the next source in', async () => {
      const [pa, pb] = [22716 + engine.portOffset, 22718 + engine.portOffset];
      const alice = await Peer.open('127.0.0.1');
      const alice2 = await Peer.open('127.0.0.1');
      const bob = await Peer.open('127.0.0.1');
      const s = await openLegs(engine, pa, pb, alice, bob);
      await relaysVia(alice, pa, bob, pb, Buffer.from('1'));
      s.setExpected('a', alice2.seenAs);
      await relaysVia(alice2, pa, bob, pb, Buffer.from('2: after a re-INVITE'));
      await relaysVia(bob, pb, alice2, pa, Buffer.from('to her new address'));
      s.unlatch('b');
      const bob2 = await Peer.open('127.0.0.1');
      await relaysVia(bob2, pb, alice2, pa, Buffer.from('bob\'s NAT moved'));
      assert.deepEqual(s.stats().parties[1].media, bob2.seenAs);
    });

    test('MediaRelay.openLegs: two even/odd pairs, RTP on the even ports, RTCP on the odd; ending frees all four', async () => {
      const { relay, engine: relayEngine, ended } = newRelay(engine, 22720, 22727, 60_000);
      const legs = await relay.openLegs('l', 0, { name: 'a', address: { address: '::ffff:127.0.0.1', port: 4000 } }, { name: 'b', address: NOWHERE }, { strictSource: false });
      assert.ok(legs);
      const base = 22720 + engine.portOffset;
      const [pa, pb] = legs.rtp.ports as [number, number];
      assert.ok(pa % 2 === 0 && pb % 2 === 0 && pa !== pb && pa >= base && pb <= base + 6, `RTP on even ports of the range: ${pa}, ${pb}`);
      assert.deepEqual(legs.rtcp.ports, [pa + 1, pb + 1]);
      assert.deepEqual(legs.rtcp.expected('a'), { address: '::ffff:127.0.0.1', port: 4001 });
      assert.equal(relay.sessionOn(pb), legs.rtp);
      assert.equal(relay.count, 2);
      relay.end(legs.rtp, 'bye');
      relay.end(legs.rtcp, 'bye');
      assert.deepEqual(ended.map((e) => [e.key.component, e.stats.parties.map((p) => p.relayPort)]), [['rtp', [pa, pb]], ['rtcp', [pa + 1, pb + 1]]]);
      assert.equal(relay.portsInUse, 0);
      for (const p of [pa, pa + 1, pb, pb + 1]) assert.ok(await canBind(p, relayEngine), `port ${p} is free again`);
    });

    test('MediaRelay.openLegs with room for one pair only: no session, nothing left bound', async () => {
      const { relay, engine: relayEngine } = newRelay(engine, 22730, 22731, 60_000);
      assert.equal(await relay.openLegs('n', 0, { name: 'a', address: NOWHERE }, { name: 'b', address: NOWHERE }, { strictSource: false }), null);
      assert.equal(relay.portsInUse, 0);
      assert.equal(relay.totals.noPortFailures, 1);
      assert.ok(await canBind(22730 + engine.portOffset, relayEngine));
      assert.ok(await canBind(22731 + engine.portOffset, relayEngine));
    });

    test("a port's next session hears nothing its ended session was sent, and latches its own party", async () => {
      const engine0 = engineFor(engine, '::');
      const [pa, pb] = [22740 + engine.portOffset, 22742 + engine.portOffset];
      const a = await Peer.open('127.0.0.1');
      const b = await Peer.open('127.0.0.1');
      const late = await Peer.open('127.0.0.1');
      const first = engine0.startLegs({ callId: 'old', stream: 0, component: 'rtp' }, await engine0.bind(pa), await engine0.bind(pb), { name: 'a', address: NOWHERE }, { name: 'b', address: b.seenAs }, { strictSource: false });
      await relaysVia(late, pa, b, pb, Buffer.from('latched'));
      const droppedSoFar = (): number => engine0.threads?.().reduce((sum, t) => sum + t.noSession, 0) ?? 0;
      const droppedBefore = droppedSoFar();
      first.close();
      // The ended call's party keeps sending: nothing is forwarded, and none of it may latch the port's next session.
      for (let i = 0; i < 20; i++) await late.send(Buffer.from(`late ${i}`), pa);
      assert.deepEqual(await b.drain(100), []);
      const next = engine0.startLegs({ callId: 'new', stream: 0, component: 'rtp' }, await engine0.bind(pa), await engine0.bind(pb), { name: 'a', address: NOWHERE }, { name: 'b', address: b.seenAs }, { strictSource: false });
      sessions.add(next);
      // The native engine counts what it dropped there (its worker, or the next session taking the socket); the JS engine closed the port.
      if (engine0.threads !== undefined) assert.equal(droppedSoFar() - droppedBefore, 20);
      await relaysVia(a, pa, b, pb, Buffer.from('new call'));
      await relaysVia(b, pb, a, pa, Buffer.from('back'));
      const stats = next.stats();
      assert.deepEqual([stats.parties[0]!.packets, stats.parties[1]!.packets, stats.strangers], [1, 1, 0]);
    });

    test('the re-latch rule: a latched party silent while another source sends to its port latches anew', async () => {
      const { relay } = newRelay(engine, 22740, 22743, 60_000, 200);
      const alice = await Peer.open('127.0.0.1');
      const bob = await Peer.open('127.0.0.1');
      const legs = await relay.openLegs('r', 0, { name: 'a', address: alice.seenAs }, { name: 'b', address: bob.seenAs }, { strictSource: false });
      assert.ok(legs);
      const [pa, pb] = legs.rtp.ports as [number, number];
      await relaysVia(alice, pa, bob, pb, Buffer.from('before the NAT rebinds'));
      const moved = await Peer.open('127.0.0.1'); // alice's new NAT mapping
      // Until the rule applies the new source is a stranger; then its next datagram latches.
      let got: Datagram[] = [];
      for (let i = 0; i < 100 && got.length === 0; i++) {
        await moved.send(Buffer.from(`moved ${i}`), pa);
        got = await bob.drain(50);
      }
      assert.ok(got.length > 0, 'the moved source got through within 5 s (the rule applies at the idle sweep, once a second)');
      assert.ok(legs.rtp.stats().strangers >= 1, 'it was a stranger first');
      assert.deepEqual(legs.rtp.stats().parties[0].media, moved.seenAs);
      await relaysVia(bob, pb, moved, pa, Buffer.from('bob reaches her new mapping'));
    });
  });

  describe(`${engine.name}: latching`, { skip: engine.skip }, () => {
    test("a party's new source from its own IP latches before it has sent", async () => {
      const port = 22510 + engine.portOffset;
      const aSignal = await Peer.open('127.0.0.1'); // where alice registered
      const aMedia = await Peer.open('127.0.0.1'); // where her media really comes from (NAT)
      const b = await Peer.open('::1');
      const s = await openSession(engine, port, aSignal, b);

      await relays1(aMedia, b, port, Buffer.from('hello from the NAT port'));
      const st = s.stats();
      assert.deepEqual(party(st, 0).media, aMedia.seenAs, 'alice latched to her real source');
      assert.equal(party(st, 0).latched, true);
      assert.equal(st.strangers, 0);

      // bob's media now goes to the latched address, not to the registered one.
      await relays1(b, aMedia, port, Buffer.from('reply'));
      assert.deepEqual(await aSignal.drain(150), [], 'nothing goes to the registered address any more');

      // The registered address is now a stranger: alice's media address never moves again.
      await aSignal.send(Buffer.from('from the old address'), port);
      assert.deepEqual(await b.drain(150), []);
      assert.equal(s.stats().strangers, 1);
    });

    test('no re-latch once a party has sent', async () => {
      const port = 22511 + engine.portOffset;
      const a = await Peer.open('127.0.0.1');
      const other = await Peer.open('127.0.0.1');
      const b = await Peer.open('::1');
      const s = await openSession(engine, port, a, b);
      await relays1(a, b, port, Buffer.from('a speaks'));

      await other.send(Buffer.from('let me in'), port);
      assert.deepEqual(await b.drain(150), [], 'a new source of the same IP is dropped after alice has sent');
      assert.equal(s.stats().strangers, 1);
      assert.deepEqual(party(s.stats(), 0).media, a.seenAs);

      await relays1(b, a, port, Buffer.from('still to alice'));
      assert.deepEqual(await other.drain(100), []);
      assert.equal(party(s.stats(), 0).packets, 1);
    });

    test('a latch from the same IP is ambiguous while neither party has sent: dropped and counted', async () => {
      const port = 22512 + engine.portOffset;
      const a = await Peer.open('127.0.0.1');
      const b = await Peer.open('127.0.0.1');
      const unknown = await Peer.open('127.0.0.1');
      const s = await openSession(engine, port, a, b);

      await unknown.send(Buffer.from('who am i'), port);
      await unknown.send(Buffer.from('who am i 2'), port);
      assert.deepEqual(await a.drain(150), []);
      assert.deepEqual(await b.drain(0), []);
      assert.equal(s.stats().strangers, 2);
      assert.equal(party(s.stats(), 0).latched, false);
      assert.equal(party(s.stats(), 1).latched, false);
      assert.equal(s.relayedCount(), 0);

      // Once bob has sent, only alice may still latch: the same source is now hers.
      await relays1(b, a, port, Buffer.from('bob speaks'));
      await relays1(unknown, b, port, Buffer.from('alice from a new port'));
      assert.deepEqual(party(s.stats(), 0).media, unknown.seenAs);
      assert.equal(s.stats().strangers, 2);
    });

    test('a source from an IP that is neither party is a stranger, even before anyone has sent', async () => {
      const port = 22513 + engine.portOffset;
      const a = await Peer.open('127.0.0.1');
      const b = await Peer.open('127.0.0.1');
      const v6 = await Peer.open('::1');
      const v4other = await Peer.open('127.0.0.2');
      const s = await openSession(engine, port, a, b);
      await v6.send(Buffer.from('inject'), port);
      // 127.0.0.2 sends to the media port at 127.0.0.1 from its own address.
      await new Promise<void>((resolve, reject) => v4other.socket.send(Buffer.from('inject'), port, '127.0.0.1', (e) => (e ? reject(e) : resolve())));
      assert.deepEqual(await a.drain(150), []);
      assert.deepEqual(await b.drain(0), []);
      assert.equal(s.stats().strangers, 2);
      // The call itself is unaffected.
      await relays1(a, b, port, Buffer.from('ok'));
      await relays1(b, a, port, Buffer.from('ok'));
    });

    test('close is idempotent and stops relaying', async () => {
      const port = 22514 + engine.portOffset;
      const a = await Peer.open('127.0.0.1');
      const b = await Peer.open('::1');
      const s = await openSession(engine, port, a, b);
      s.close();
      s.close();
      assert.equal(s.ended, true);
      await a.send(Buffer.from('anyone?'), port).catch(() => undefined);
      assert.deepEqual(await b.drain(150), []);
    });
  });

  describe(`${engine.name}: MediaRelay`, { skip: engine.skip }, () => {
    test('opens a session on a port of its range and relays through it', async () => {
      const { relay } = newRelay(engine, 22600, 22604, 60_000);
      const a = await Peer.open('127.0.0.1');
      const b = await Peer.open('::1');
      const s = await relay.open(key('call-1'), { name: 'alice', address: a.seenAs }, { name: 'bob', address: b.seenAs });
      assert.ok(s);
      assert.ok(s.port >= 22600 + engine.portOffset && s.port <= 22604 + engine.portOffset, `port ${s.port} of the range`);
      assert.equal(relay.count, 1);
      assert.equal(relay.portsInUse, 1);
      assert.equal(relay.sessionOn(s.port), s);
      assert.equal(relay.totals.sessionsStarted, 1);
      await relays1(a, b, s.port, randomBytes(100));
    });

    test('an idle session is ended with reason "idle", its end listener told, its port freed', async () => {
      const { relay, engine: relayEngine, ended } = newRelay(engine, 22610, 22612, 300);
      const a = await Peer.open('127.0.0.1');
      const b = await Peer.open('::1');
      const s = await relay.open(key('idle-call'), { name: 'alice', address: a.seenAs }, { name: 'bob', address: b.seenAs });
      assert.ok(s);
      await relays1(a, b, s.port, Buffer.from('one packet'));
      const t0 = Date.now();
      await waitFor(() => ended.length > 0, 'the idle session to end', 10_000);
      assert.ok(Date.now() - t0 >= 200, 'not ended before the idle timeout');
      assert.equal(ended.length, 1);
      assert.deepEqual(ended[0]!.key, key('idle-call'));
      assert.equal(ended[0]!.reason, 'idle');
      assert.equal(ended[0]!.stats.parties[0]!.packets, 1);
      assert.equal(s.ended, true);
      assert.equal(relay.count, 0);
      assert.equal(relay.portsInUse, 0);
      assert.equal(relay.sessionOn(s.port), undefined);
      assert.equal(relay.totals.sessionsEnded, 1);
      assert.equal(relay.totals.packetsRelayed, 1);
      assert.equal(relay.totals.bytesRelayed, 'one packet'.length);
      assert.ok(await canBind(s.port, relayEngine), 'the port of the ended session can be bound again');
    });

    test('a session with traffic is not ended while the traffic goes on', async () => {
      const { relay, ended } = newRelay(engine, 22620, 22621, 1000);
      const a = await Peer.open('127.0.0.1');
      const b = await Peer.open('::1');
      const s = await relay.open(key('busy-call'), { name: 'alice', address: a.seenAs }, { name: 'bob', address: b.seenAs });
      assert.ok(s);
      const until = Date.now() + 2000;
      let sent = 0;
      while (Date.now() < until) {
        await a.send(Buffer.from('tick'), s.port);
        sent++;
        await sleep(50);
      }
      assert.equal(ended.length, 0, 'no idle end during 2 s of traffic with a 1 s idle timeout');
      assert.equal(relay.count, 1);
      assert.ok(sent > 5);
      await waitFor(() => ended.length > 0, 'the session to go idle once the traffic stops', 10_000);
      assert.equal(ended[0]!.reason, 'idle');
    });

    test('end() ends the session now, returns its counters, tells listeners and frees the port', async () => {
      const { relay, engine: relayEngine, ended } = newRelay(engine, 22630, 22632, 60_000);
      const a = await Peer.open('127.0.0.1');
      const b = await Peer.open('::1');
      const stranger = await Peer.open('127.0.0.2');
      const s = await relay.open(key('k'), { name: 'alice', address: a.seenAs }, { name: 'bob', address: b.seenAs });
      assert.ok(s);
      await relays1(a, b, s.port, Buffer.alloc(10, 1));
      await relays1(b, a, s.port, Buffer.alloc(30, 2));
      await relays1(b, a, s.port, Buffer.alloc(5, 3));
      await new Promise<void>((resolve, reject) => stranger.socket.send(Buffer.from('x'), s.port, '127.0.0.1', (e) => (e ? reject(e) : resolve())));
      await waitFor(() => s.stats().strangers === 1, 'the stranger to be counted');

      const stats = relay.end(s, 'bye');
      assert.ok(stats);
      assert.equal(stats.port, s.port);
      assert.deepEqual(stats.parties.map((p) => [p.name, p.packets, p.bytes]), [['alice', 1, 10], ['bob', 2, 35]]);
      assert.equal(stats.strangers, 1);
      assert.deepEqual(ended.map((e) => [e.key, e.reason]), [[key('k'), 'bye']]);
      assert.equal(relay.count, 0);
      assert.equal(relay.portsInUse, 0);
      assert.deepEqual(relay.totals, { sessionsStarted: 1, sessionsEnded: 1, packetsRelayed: 3, bytesRelayed: 45, strangersDropped: 1, noPortFailures: 0 });
      assert.equal(relay.end(s, 'bye'), null, 'a second end is a no-op');
      assert.equal(ended.length, 1);

      // No more relaying on the closed port.
      await a.send(Buffer.from('late'), s.port).catch(() => undefined);
      assert.deepEqual(await b.drain(150), []);
      assert.ok(await canBind(s.port, relayEngine), 'the port is free again');
    });

    test('a new session does not reuse the port just freed while others are free', async () => {
      const { relay } = newRelay(engine, 22640, 22643, 60_000);
      const ep = (port: number): Endpoint => ({ address: '::ffff:127.0.0.1', port });
      for (let i = 0; i < 6; i++) {
        const s1 = await relay.open(key(`c${i}`), { name: 'a', address: ep(1) }, { name: 'b', address: ep(2) });
        assert.ok(s1);
        relay.end(s1, 'bye');
        const s2 = await relay.open(key(`d${i}`), { name: 'a', address: ep(1) }, { name: 'b', address: ep(2) });
        assert.ok(s2);
        assert.notEqual(s2.port, s1.port);
        relay.end(s2, 'bye');
      }
    });

    test('an RTP/RTCP pair: even and odd ports, keyed by component, RTCP expected on each party\'s port + 1', async () => {
      const { relay, ended } = newRelay(engine, 22650, 22653, 60_000);
      const ep = (port: number): Endpoint => ({ address: '::ffff:127.0.0.1', port });
      const pair = await relay.openPair('p', 1, { name: 'a', address: ep(4000) }, { name: 'b', address: { address: '', port: 0 } });
      assert.ok(pair);
      assert.ok([22650, 22652].map((p) => p + engine.portOffset).includes(pair.rtp.port), `an even port of the range: ${pair.rtp.port}`);
      assert.equal(pair.rtcp.port, pair.rtp.port + 1);
      assert.deepEqual(pair.rtp.key, { callId: 'p', stream: 1, component: 'rtp' });
      assert.deepEqual(pair.rtcp.key, { callId: 'p', stream: 1, component: 'rtcp' });
      assert.deepEqual(pair.rtcp.expected('a'), ep(4001));
      assert.equal(pair.rtcp.expected('b').port, 0, 'a party not known yet stays unknown');
      assert.equal(relay.count, 2);
      assert.equal(relay.totals.sessionsStarted, 2);
      assert.equal(relay.sessionOn(pair.rtcp.port), pair.rtcp);
      relay.end(pair.rtp, 'bye');
      assert.equal(pair.rtcp.ended, false, 'each session of a pair ends on its own');
      assert.deepEqual(ended.map((e) => e.key.component), ['rtp']);
    });

    test('no free port: open returns null and counts it', async () => {
      const { relay } = newRelay(engine, 22660, 22661, 60_000);
      const ep = (port: number): Endpoint => ({ address: '::ffff:127.0.0.1', port });
      const x1 = await relay.open(key('x1'), { name: 'a', address: ep(1) }, { name: 'b', address: ep(2) });
      assert.ok(x1);
      assert.ok(await relay.open(key('x2'), { name: 'a', address: ep(1) }, { name: 'b', address: ep(2) }));
      assert.equal(await relay.open(key('x3'), { name: 'a', address: ep(1) }, { name: 'b', address: ep(2) }), null);
      assert.equal(relay.totals.noPortFailures, 1);
      assert.equal(relay.count, 2);
      relay.end(x1!, 'bye');
      assert.ok(await relay.open(key('x3'), { name: 'a', address: ep(1) }, { name: 'b', address: ep(2) }), 'a freed port is usable again');
    });

    test('a port held by another program is skipped and counted', async () => {
      const held = createUdpSocket('::');
      await bindUdp(held, 22670 + engine.portOffset, '::');
      try {
        const { relay } = newRelay(engine, 22670, 22671, 60_000);
        const s = await relay.open(key('h'), { name: 'a', address: { address: '::1', port: 1 } }, { name: 'b', address: { address: '::1', port: 2 } });
        assert.equal(s?.port, 22671 + engine.portOffset);
        assert.equal(await relay.open(key('h2'), { name: 'a', address: { address: '::1', port: 1 } }, { name: 'b', address: { address: '::1', port: 2 } }), null);
        assert.ok(relay.portBindFailures >= 1);
      } finally {
        await new Promise<void>((r) => held.close(() => r()));
      }
    });

    test('setIdleTimeout applies to live sessions', async () => {
      const { relay, ended } = newRelay(engine, 22680, 22681, 60_000);
      const ep = (port: number): Endpoint => ({ address: '::ffff:127.0.0.1', port });
      await relay.open(key('slow'), { name: 'a', address: ep(1) }, { name: 'b', address: ep(2) });
      relay.setIdleTimeout(200);
      await waitFor(() => ended.length > 0, 'the session to end after the shorter idle timeout', 10_000);
      assert.equal(ended[0]!.reason, 'idle');
    });

    test('close() ends every session with reason "shutdown" and frees their ports', async () => {
      const { relay, ended } = newRelay(engine, 22690, 22693, 60_000);
      const ep = (port: number): Endpoint => ({ address: '::ffff:127.0.0.1', port });
      const s1 = await relay.open(key('c1'), { name: 'a', address: ep(1) }, { name: 'b', address: ep(2) });
      const s2 = await relay.open(key('c2'), { name: 'a', address: ep(3) }, { name: 'b', address: ep(4) });
      relay.close();
      assert.deepEqual(ended.map((e) => [e.key.callId, e.reason]).sort(), [['c1', 'shutdown'], ['c2', 'shutdown']]);
      assert.equal(relay.count, 0);
      assert.equal(relay.portsInUse, 0);
      assert.ok(s1?.ended && s2?.ended);
      assert.ok(await canBind(22690 + engine.portOffset));
      assert.ok(await canBind(22691 + engine.portOffset));
    });
  });
}

for (const engine of ENGINE_CASES.filter((c) => c.name.startsWith('native'))) {
  describe(`${engine.name}: counters per thread`, { skip: engine.skip }, () => {
    test('every datagram read and sent counts on the thread draining its leg; the legs of a session share a thread', async () => {
      const [lo] = (await freeRange(2)).split('-').map(Number) as [number];
      const [pa, pb] = [lo, lo + 1];
      const alice = await Peer.open('127.0.0.1');
      const bob = await Peer.open('127.0.0.1');
      const mallory = await Peer.open('127.0.0.1');
      const s = await openLegs(engine, pa, pb, alice, bob);
      const native = engines.values().next().value!;
      const before = native.threads!();
      assert.equal(before.length, engine.name.includes('2 workers') ? 2 : 1);
      assert.deepEqual(before.map((t) => t.ports).sort(), before.length === 2 ? [0, 2] : [2], 'both legs on one thread');
      for (let i = 0; i < 10; i++) await relaysVia(alice, pa, bob, pb, Buffer.alloc(100, i));
      for (let i = 0; i < 5; i++) await relaysVia(bob, pb, alice, pa, Buffer.alloc(40, i));
      await mallory.send(Buffer.alloc(7), pa);
      const sum = (k: 'received' | 'receivedBytes' | 'sent'): number => native.threads!().reduce((n, t) => n + t[k], 0);
      // A thread publishes its counts once per wake-up, after the drains that sent what the peers got.
      await waitFor(() => sum('received') === 16, 'the stranger read and counted');
      assert.deepEqual([sum('received'), sum('receivedBytes'), sum('sent')], [16, 10 * 100 + 5 * 40 + 7, 15]);
      const busy = native.threads!().find((t) => t.ports === 2)!;
      assert.equal(busy.received, 16, 'all on the thread that holds the legs');
      assert.ok(busy.wakeups >= 1 && busy.wakeups <= 16);
      assert.ok(busy.cpuSeconds >= 0);
      s.close();
      assert.deepEqual(native.threads!().map((t) => t.ports), before.map(() => 0));
    });
  });
}
