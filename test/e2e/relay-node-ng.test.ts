/**
 * A switchyard relay node (its own process) over NG: dual-stack answers (an IPv4 offer gets the
 * IPv4 relay address, an IPv6 one the IPv6 address), media relayed and counted per leg, delete
 * returning the counters, the idle timeout ending a call, `relay --help`, and malformed or
 * fuzzed NG input answered with an error (or, for a mutation that stayed valid, a result) while the node keeps relaying.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import dgram from 'node:dgram';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { decodeBencode, encodeBencode } from '../../modules/media-relay/ng/bencode.ts';
import { NgClient } from '../../modules/media-relay/ng/client.ts';
import { REPO } from '../helpers/proxy-process.ts';
import { startRelayNode, type RelayNodeProcess } from '../helpers/relay-node.ts';
import { UdpPeer } from '../helpers/udp-peer.ts';
import { waitUntil } from '../helpers/sipp.ts';

const sdp = (family: 4 | 6, address: string, port: number): string =>
  `v=0\r\no=- 1 1 IN IP${family} ${address}\r\ns=-\r\nc=IN IP${family} ${address}\r\nt=0 0\r\nm=audio ${port} RTP/AVP 0 8\r\na=rtpmap:0 PCMU/8000\r\na=candidate:1 1 UDP 2130706431 ${address} ${port} typ host\r\na=ice-ufrag:abcd\r\na=ice-pwd:0123456789abcdef0123456789\r\n`;

const relayPort = (s: Buffer): number => Number(/\nm=audio (\d+) /.exec(s.toString())![1]);
const relayAddress = (s: Buffer): string => /\nc=IN IP[46] (\S+)/.exec(s.toString())![1]!;

let node: RelayNodeProcess;
let ng: NgClient;

before(async () => {
  node = await startRelayNode(['--advertise', '127.0.0.1', '--advertise', '::1', '--idle-timeout', '1']);
  ng = await NgClient.open({ host: '127.0.0.1', port: node.ngPort, timeoutMs: 1000, tries: 3 });
});

after(async () => {
  await ng?.close();
  const code = await node?.stop();
  assert.equal(code, 0, `the node exits cleanly on SIGTERM:\n${node?.log()}`);
});

/** One call between two peers through the node; returns the relay port each side was given. */
async function call(callId: string, a: UdpPeer, b: UdpPeer): Promise<{ toA: number; toB: number; addressToA: string; addressToB: string }> {
  const offer = await ng.offer({ callId, fromTag: 'from-a', sdp: sdp(a.family, a.host, a.port), flags: ['trust-address'], replace: ['origin', 'session-connection'], ice: 'remove' });
  assert.ok(offer.ok, JSON.stringify(offer));
  const answer = await ng.answer({ callId, fromTag: 'from-a', toTag: 'to-b', sdp: sdp(b.family, b.host, b.port), flags: ['trust-address'], ice: 'remove' });
  assert.ok(answer.ok, JSON.stringify(answer));
  assert.doesNotMatch(offer.value.sdp.toString(), /a=candidate|a=ice-/, 'ICE=remove strips the candidates and credentials');
  return { toB: relayPort(offer.value.sdp), addressToB: relayAddress(offer.value.sdp), toA: relayPort(answer.value.sdp), addressToA: relayAddress(answer.value.sdp) };
}

describe('a switchyard relay node over NG', () => {
  test('relay --help describes its options', () => {
    const r = spawnSync(process.execPath, [path.join(REPO, 'bin', 'switchyard.mjs'), 'relay', '--help'], { encoding: 'utf8' });
    assert.equal(r.status, 0);
    for (const opt of ['--ng', '--ports', '--advertise', '--idle-timeout']) assert.ok(r.stdout.includes(opt), `help names ${opt}`);
    const bad = spawnSync(process.execPath, [path.join(REPO, 'bin', 'switchyard.mjs'), 'relay', '--ports', '10-20'], { encoding: 'utf8' });
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /--ng <host:port> is required/);
  });

  test('IPv4 and IPv6 offers get the relay address of their own family; media flows and delete returns the counters', async () => {
    for (const family of [4, 6] as const) {
      const [a, b] = [await UdpPeer.open(family), await UdpPeer.open(family)];
      try {
        const callId = `dual-${family}`;
        const c = await call(callId, a, b);
        assert.equal(c.addressToA, family === 4 ? '127.0.0.1' : '::1');
        assert.equal(c.addressToB, c.addressToA);
        for (let i = 0; i < 10; i++) {
          await a.send(Buffer.alloc(60, i), c.toA);
          await b.send(Buffer.alloc(80, i), c.toB);
        }
        for (let i = 0; i < 10; i++) {
          const [atB, atA] = [await b.next(), await a.next()];
          assert.equal(atB.data.length, 60);
          assert.equal(atA.data.length, 80);
          assert.equal(atB.port, c.toB, 'media comes from the relay port');
        }
        const del = await ng.delete({ callId, fromTag: 'from-a' });
        assert.ok(del.ok && del.value.stats !== undefined, JSON.stringify(del));
        const legs = new Map(del.value.stats.tags.map((t) => [t.tag, t.medias[0]!.streams.find((s) => s.flags.includes('RTP'))!.stats]));
        assert.deepEqual(legs.get('from-a'), { packets: 10, bytes: 600, errors: 0 });
        assert.deepEqual(legs.get('to-b'), { packets: 10, bytes: 800, errors: 0 });
        const again = await ng.query({ callId });
        assert.ok(!again.ok && again.error.reason === 'Unknown call-id');
      } finally {
        await a.close();
        await b.close();
      }
    }
  });

  test('each leg has a port pair of its own; an IPv4 party and an IPv6 party are bridged, each told the relay in its own family (address-family)', async () => {
    const [a, b] = [await UdpPeer.open(4), await UdpPeer.open(6)];
    try {
      const callId = 'bridge-4-6';
      const offer = await ng.offer({ callId, fromTag: 'from-a', sdp: sdp(4, a.host, a.port), flags: ['trust-address'], addressFamily: 'IP6', ice: 'remove' });
      assert.ok(offer.ok, JSON.stringify(offer));
      const answer = await ng.answer({ callId, fromTag: 'from-a', toTag: 'to-b', sdp: sdp(6, b.host, b.port), flags: ['trust-address'], addressFamily: 'IP4', ice: 'remove' });
      assert.ok(answer.ok, JSON.stringify(answer));
      const [toB, toA] = [relayPort(offer.value.sdp), relayPort(answer.value.sdp)];
      assert.equal(relayAddress(offer.value.sdp), '::1', 'the IPv6 party reads an IPv6 relay address');
      assert.equal(relayAddress(answer.value.sdp), '127.0.0.1', 'the IPv4 party an IPv4 one');
      assert.notEqual(toA, toB, 'each leg its own port');
      for (let i = 0; i < 5; i++) {
        await a.send(Buffer.alloc(40, i), toA, '127.0.0.1');
        await b.send(Buffer.alloc(50, i), toB, '::1');
      }
      for (let i = 0; i < 5; i++) {
        const [atB, atA] = [await b.next(), await a.next()];
        assert.equal(atB.data.length, 40);
        assert.equal(atA.data.length, 50);
        assert.equal(atB.port, toB, 'B hears the relay from the port it sends to');
        assert.equal(atA.port, toA, 'and A from its own');
      }
      const del = await ng.delete({ callId, fromTag: 'from-a' });
      assert.ok(del.ok && del.value.stats !== undefined, JSON.stringify(del));
      const rtp = (tag: string) => del.value.stats!.tags.find((t) => t.tag === tag)!.medias[0]!.streams.find((x) => x.flags.includes('RTP'))!;
      assert.equal(rtp('from-a').localPort, toA, 'a leg\'s local port is the one its party sends to');
      assert.equal(rtp('to-b').localPort, toB);
      assert.deepEqual(rtp('from-a').stats, { packets: 5, bytes: 200, errors: 0 });
      assert.deepEqual(rtp('to-b').stats, { packets: 5, bytes: 250, errors: 0 });
    } finally {
      await a.close();
      await b.close();
    }
  });

  test('strict-source on a call: a leg latches only to its SDP or received-from IP; without it, to the first datagram from anywhere', async () => {
    const stranger = dgram.createSocket('udp4');
    await new Promise<void>((resolve, reject) => {
      stranger.once('error', reject);
      stranger.bind(0, '127.0.0.2', () => resolve());
    });
    const fromStranger = (port: number): Promise<void> => new Promise((resolve, reject) => stranger.send(Buffer.alloc(33), port, '127.0.0.1', (err) => (err ? reject(err) : resolve())));
    try {
      for (const strict of [false, true]) {
        const [a, b] = [await UdpPeer.open(4), await UdpPeer.open(4)];
        try {
          const callId = `strict-${strict}`;
          const flags = strict ? ['trust-address', 'strict-source'] : ['trust-address'];
          const receivedFrom = { family: 'IP4' as const, address: '127.0.0.1' };
          const offer = await ng.offer({ callId, fromTag: 'from-a', sdp: sdp(4, a.host, a.port), flags, receivedFrom, ice: 'remove' });
          const answer = await ng.answer({ callId, fromTag: 'from-a', toTag: 'to-b', sdp: sdp(4, b.host, b.port), flags, receivedFrom, ice: 'remove' });
          assert.ok(offer.ok && answer.ok);
          const toA = relayPort(answer.value.sdp);
          // The stranger is first at A's leg; then A itself.
          await fromStranger(toA);
          await a.send(Buffer.alloc(44), toA);
          const first = await b.next();
          assert.equal(first.data.length, strict ? 44 : 33, strict ? 'the stranger was dropped, A latched' : 'the first datagram latched, from anywhere');
          await ng.delete({ callId, fromTag: 'from-a' });
        } finally {
          await a.close();
          await b.close();
        }
      }
    } finally {
      stranger.close();
    }
  });

  test('a call whose media stops is ended by the idle timeout', async () => {
    const [a, b] = [await UdpPeer.open(4), await UdpPeer.open(4)];
    try {
      await call('idle-call', a, b);
      const listed = await ng.list();
      assert.ok(listed.ok && listed.value.includes('idle-call'));
      // --idle-timeout 1: the sweep ends it within about 1.25 s of the last packet (here: none).
      const deadline = Date.now() + 5000;
      let gone = false;
      while (!gone && Date.now() < deadline) {
        const l = await ng.list();
        gone = l.ok && !l.value.includes('idle-call');
        if (!gone) await new Promise((r) => setTimeout(r, 100));
      }
      assert.ok(gone, 'the idle call was ended');
      const st = await ng.statistics();
      assert.ok(st.ok && (st.value.get('totalstatistics') as Map<string, number>).get('timeoutsessions')! >= 1);
    } finally {
      await a.close();
      await b.close();
    }
  });

  test('malformed NG gets an NG error, fuzzed NG an error or a result; the node keeps relaying', async () => {
    const sock = dgram.createSocket('udp4');
    await new Promise<void>((r) => sock.bind(0, '127.0.0.1', r));
    const answers = new Map<string, Buffer>();
    sock.on('message', (m) => {
      const sp = m.indexOf(0x20);
      if (sp > 0) answers.set(m.subarray(0, sp).toString('latin1'), m.subarray(sp + 1));
    });
    const ask = (cookie: string, body: Buffer | string): void => sock.send(Buffer.concat([Buffer.from(`${cookie} `), Buffer.from(body)]), node.ngPort, '127.0.0.1');
    const reasonOf = (body: Buffer | undefined): string | undefined => {
      if (body === undefined) return undefined;
      const d = decodeBencode(body);
      assert.ok(d.ok && d.value instanceof Map, 'every answer is a bencoded dictionary');
      return (d.value.get('error-reason') as Buffer | undefined)?.toString();
    };
    try {
      ask('bad1', 'd7:command4:pi');
      ask('bad2', 'd7:command5:dance7:call-id1:xe');
      const dict = (d: Parameters<typeof encodeBencode>[0]): Buffer => {
        const e = encodeBencode(d);
        assert.ok(e.ok);
        return e.bytes;
      };
      ask('bad3', dict({ command: 'offer', sdp: 'v=0', 'from-tag': 'a' }));
      ask('bad4', dict({ command: 'answer', 'call-id': 'no', sdp: 'v=0', 'from-tag': 'a', 'to-tag': 'b' }));
      ask('bad5', dict({ command: 'offer', 'call-id': 'x', 'from-tag': 'a', sdp: 'not sdp!' }));
      await waitUntil(() => ['bad1', 'bad2', 'bad3', 'bad4', 'bad5'].every((c) => answers.has(c)), 3000, 'answers to the malformed commands');
      assert.equal(reasonOf(answers.get('bad1')), 'Could not decode bencode dictionary');
      assert.equal(reasonOf(answers.get('bad2')), 'Unrecognized command');
      assert.equal(reasonOf(answers.get('bad3')), 'No call-id in message');
      assert.equal(reasonOf(answers.get('bad4')), 'Unknown call-id');
      assert.equal(reasonOf(answers.get('bad5')), 'Failed to parse SDP');

      // A seeded stream of random bytes and of valid commands with bytes flipped, cut or repeated.
      let seed = 0x5eed;
      const rand = (n: number): number => {
        seed = (seed * 1103515245 + 12345) & 0x7fffffff;
        return seed % n;
      };
      const valid = [
        encodeBencode({ command: 'offer', 'call-id': 'fz', 'from-tag': 'a', sdp: sdp(4, '127.0.0.1', 4000), flags: ['trust-address'], replace: ['origin'] }),
        encodeBencode({ command: 'query', 'call-id': 'fz' }),
        encodeBencode({ command: 'delete', 'call-id': 'fz', 'from-tag': 'a' }),
        encodeBencode({ command: 'list', limit: 5 }),
        encodeBencode({ command: 'statistics' }),
      ].map((e) => { assert.ok(e.ok); return e.bytes; });
      const FUZZ = 400;
      for (let i = 0; i < FUZZ; i++) {
        let body: Buffer;
        if (i % 4 === 0) {
          body = Buffer.alloc(1 + rand(300));
          for (let k = 0; k < body.length; k++) body[k] = rand(256);
        } else {
          body = Buffer.from(valid[rand(valid.length)]!);
          const edits = 1 + rand(4);
          for (let e = 0; e < edits; e++) {
            const at = rand(body.length);
            const kind = rand(3);
            if (kind === 0) body[at] = rand(256);
            else if (kind === 1) body = body.subarray(0, at);
            else body = Buffer.concat([body.subarray(0, at), body.subarray(at, at + 1 + rand(8)), body.subarray(at)]);
            if (body.length === 0) body = Buffer.from('e');
          }
        }
        ask(`fz${i}`, body);
        // In windows of 20, so that neither side's socket buffer overflows: every one has a cookie and is answered.
        if (i % 20 === 19) {
          const from = i - 19;
          await waitUntil(() => Array.from({ length: 20 }, (_, k) => answers.has(`fz${from + k}`)).every(Boolean), 3000, `answers to fuzz ${from}-${i}:\n${node.log().slice(-2000)}`);
        }
      }
      ask('last', 'd7:command4:pinge');
      await waitUntil(() => answers.has('last'), 3000, 'the ping after the fuzz');
      let errors = 0;
      for (let i = 0; i < FUZZ; i++) {
        const body = answers.get(`fz${i}`)!;
        const d = decodeBencode(body);
        assert.ok(d.ok && d.value instanceof Map, `answer ${i} is a dictionary`);
        const result = (d.value.get('result') as Buffer).toString();
        assert.ok(['ok', 'error', 'pong'].includes(result), `answer ${i}: ${result}`);
        if (result === 'error') errors++;
      }
      assert.ok(errors > FUZZ / 4, `most fuzzed commands were refused (${errors})`);

      // Still relaying.
      const [a, b] = [await UdpPeer.open(4), await UdpPeer.open(4)];
      try {
        const c = await call('after-fuzz', a, b);
        await a.send('still here', c.toA);
        assert.equal((await b.next()).data.toString(), 'still here');
        await ng.delete({ callId: 'after-fuzz', fromTag: 'from-a' });
      } finally {
        await a.close();
        await b.close();
      }
    } finally {
      sock.close();
    }
  });
});
