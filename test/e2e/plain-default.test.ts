/**
 * Every MUST of the plain call protocol, end to end, against the proxy started as
 * `npm start` starts it with the repository's proxy.config.ts, its ports overridden on the
 * command line (a free signaling port, media 25000-25199) so the suite runs beside a proxy
 * on the product's defaults.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import { after, before, describe, test } from 'node:test';
import { PlainUser, establishCall } from '../helpers/plain-client.ts';
import { ProxyProcess } from '../helpers/proxy-process.ts';
import { SipUa } from '../helpers/sip-ua.ts';
import { UdpPeer } from '../helpers/udp-peer.ts';

const MEDIA = { min: 25000, max: 25199 };
let PORT: number;
let proxy: ProxyProcess;
let userSeq = 0;
const uniq = (base: string): string => `${base}${++userSeq}`;

before(async () => {
  proxy = await ProxyProcess.start({ args: ['--plain-port', '0', '--sip-port', '0', '--media-ports', `${MEDIA.min}-${MEDIA.max}`] });
  PORT = proxy.portOf('plain');
});
after(async () => {
  assert.equal(await proxy.stop(), 0, 'graceful shutdown exits 0');
});

/** Sends `n` media datagrams of the given sizes from `from` and checks `to` receives them unchanged, from the media port. */
async function mediaFlows(from: UdpPeer, to: UdpPeer, port: number, sizes: number[]): Promise<void> {
  for (const size of sizes) {
    const payload = randomBytes(size);
    await from.send(payload, port);
    const got = await to.next();
    assert.equal(got.port, port, 'media arrives from the media port');
    assert.ok(got.data.equals(payload), `payload of ${size} bytes arrives unchanged`);
  }
}

describe('registration', () => {
  test('IPv4 and IPv6 clients register on the one dual-stack port', async () => {
    const v4 = await UdpPeer.open(4);
    const v6 = await UdpPeer.open(6);
    await v4.send('REGISTER alice4\n', PORT);
    await v6.send('REGISTER bob6\r\n', PORT);
    const a = await v4.next();
    const b = await v6.next();
    assert.equal(a.data.toString(), 'ACK_REGISTER alice4\n');
    assert.equal(b.data.toString(), 'ACK_REGISTER bob6\r\n');
    assert.equal(a.port, PORT);
    assert.equal(b.port, PORT);
    await v4.send('REGISTER nocrlf', PORT);
    assert.equal(await v4.nextText(), 'ACK_REGISTER nocrlf', 'reply has no terminator when the request had none');
    await v4.close();
    await v6.close();
  });

  test('a later REGISTER from another address replaces the binding', async () => {
    const name = uniq('rereg');
    const oldSock = await PlainUser.register(name, PORT);
    const newSock = await UdpPeer.open(6);
    await newSock.send(`REGISTER ${name}\n`, PORT);
    assert.equal(await newSock.nextText(), `ACK_REGISTER ${name}\n`);
    const caller = await PlainUser.register(uniq('caller'), PORT);
    await caller.send(`CALL FROM:${caller.name} TO:${name}\n`);
    assert.equal(await newSock.nextText(), `CALL FROM:${caller.name} TO:${name}\n`);
    assert.deepEqual(await oldSock.peer.drain(200), [], 'the old address gets nothing');
    await Promise.all([oldSock.close(), newSock.close(), caller.close()]);
  });
});

describe('calls', () => {
  test('a call to an unknown peer fails with CALL_FAILED unknown peer', async () => {
    const a = await PlainUser.register(uniq('lonely'), PORT);
    await a.send(`CALL FROM:${a.name} TO:nobody${userSeq}\r\n`);
    assert.equal(await a.next(), 'CALL_FAILED unknown peer\r\n');
    await a.close();
  });

  test('CALL is forwarded byte for byte, terminator and spacing included', async () => {
    const a = await PlainUser.register(uniq('fa'), PORT);
    const b = await PlainUser.register(uniq('fb'), PORT);
    const raw = `CALL   FROM:${a.name}  TO:${b.name}\r\n`;
    await a.send(raw);
    const got = await b.peer.next();
    assert.equal(got.data.toString('latin1'), raw);
    assert.equal(got.port, PORT, 'forwarded from the signaling port');
    await b.send(`CALL_FAILED FROM:${b.name} TO:${a.name} not now`);
    assert.equal(await a.next(), `CALL_FAILED FROM:${b.name} TO:${a.name} not now`);
    await Promise.all([a.close(), b.close()]);
  });

  test('rejection passes CALL_FAILED as-is and ends the pending call', async () => {
    const a = await PlainUser.register(uniq('ra'), PORT);
    const b = await PlainUser.register(uniq('rb'), PORT);
    await a.send(`CALL FROM:${a.name} TO:${b.name}\n`);
    await b.next();
    const failed = `CALL_FAILED FROM:${b.name} TO:${a.name} busy   right now\n`;
    await b.send(failed);
    assert.equal(await a.next(), failed);
    await b.send(`ACK_CALL FROM:${b.name} TO:${a.name}\n`);
    assert.match(await b.next(), /^ERROR .*\n$/, 'no pending call any more');
    assert.deepEqual(await a.peer.drain(150), []);
    await Promise.all([a.close(), b.close()]);
  });

  test('acceptance: ACK_CALL as-is to the caller, then MEDIA_PORT to both, caller first', async () => {
    const a = await PlainUser.register(uniq('aa'), PORT);
    const b = await PlainUser.register(uniq('ab'), PORT, 6);
    await a.send(`CALL FROM:${a.name} TO:${b.name}\n`);
    await b.next();
    await b.send(`ACK_CALL FROM:${b.name} TO:${a.name}\r\n`);
    const ack = await a.peer.next();
    const mpA = await a.peer.next();
    const mpB = await b.peer.next();
    assert.equal(ack.data.toString(), `ACK_CALL FROM:${b.name} TO:${a.name}\r\n`, 'ACK_CALL passed byte for byte');
    assert.match(mpA.data.toString(), new RegExp(`^MEDIA_PORT FROM:${a.name} TO:${b.name} \\d+\\n$`));
    assert.equal(mpB.data.toString().trimEnd(), mpA.data.toString().trimEnd(), 'the same MEDIA_PORT text to each');
    assert.ok(ack.seq < mpA.seq, 'ACK_CALL before MEDIA_PORT');
    const port = Number(mpA.data.toString().trim().split(' ').pop());
    assert.ok(port >= MEDIA.min && port <= MEDIA.max, `media port ${port} in the range given on the command line`);
    await a.send(`BYE FROM:${a.name} TO:${b.name}\n`);
    assert.equal(await b.next(), `BYE FROM:${a.name} TO:${b.name}\n`);
    await Promise.all([a.close(), b.close()]);
  });

  test('MEDIA_PORT goes to the caller first: seen on one socket that hosts both users', async () => {
    // Two users registered from one socket: its datagrams arrive in the order the proxy sent them,
    // and the terminators tell the copies apart (the caller's reuses CALL's, the callee's ACK_CALL's).
    const sock = await UdpPeer.open(4);
    const [caller, callee] = [uniq('oa'), uniq('ob')];
    for (const u of [caller, callee]) {
      await sock.send(`REGISTER ${u}\n`, PORT);
      assert.equal(await sock.nextText(), `ACK_REGISTER ${u}\n`);
    }
    await sock.send(`CALL FROM:${caller} TO:${callee}\n`, PORT);
    assert.equal(await sock.nextText(), `CALL FROM:${caller} TO:${callee}\n`);
    await sock.send(`ACK_CALL FROM:${callee} TO:${caller}\r\n`, PORT);
    assert.equal(await sock.nextText(), `ACK_CALL FROM:${callee} TO:${caller}\r\n`);
    const first = await sock.nextText();
    const second = await sock.nextText();
    assert.match(first, new RegExp(`^MEDIA_PORT FROM:${caller} TO:${callee} \\d+\\n$`), 'the caller\'s copy first');
    assert.equal(second, first.replace(/\n$/, '\r\n'), 'then the callee\'s');
    await sock.send(`BYE FROM:${caller} TO:${callee}\n`, PORT);
    await sock.nextText();
    await sock.close();
  });
});

describe('media', () => {
  test('binary payloads of 1 to 8000 bytes both ways, across address families', async () => {
    const a = await PlainUser.register(uniq('ma'), PORT, 4);
    const b = await PlainUser.register(uniq('mb'), PORT, 6);
    const from = proxy.logs.length; // a port may have served an earlier call: its end lines come after this
    const port = await establishCall(a, b);
    const sizes = [1, 2, 3, 12, 160, 172, 1000, 1472, 1500, 4096, 7999, 8000, ...Array.from({ length: 8 }, () => 1 + Math.floor(Math.random() * 8000))];
    await mediaFlows(a.peer, b.peer, port, sizes);
    await mediaFlows(b.peer, a.peer, port, sizes);
    await a.send(`BYE FROM:${a.name} TO:${b.name}\n`);
    await b.next();
    const ended = await proxy.waitForLog((l) => l.msg === 'media session ended' && l.port === port, 5000, from);
    const parties = ended.parties as { packets: number; bytes: number }[];
    assert.equal(parties[0]!.packets, sizes.length);
    assert.equal(parties[1]!.packets, sizes.length);
    assert.equal(parties[0]!.bytes, sizes.reduce((x, y) => x + y, 0));
    await Promise.all([a.close(), b.close()]);
  });

  test('latching: a party sending from a new port on its own IP is learnt; strangers are dropped and counted', async () => {
    const a = await PlainUser.register(uniq('la'), PORT, 4);
    const b = await PlainUser.register(uniq('lb'), PORT, 6);
    const from = proxy.logs.length; // a port may have served an earlier call: its end lines come after this
    const port = await establishCall(a, b);
    // a sends media from its signaling socket: exact match.
    await mediaFlows(a.peer, b.peer, port, [20]);
    // b's media comes from another socket on ::1: b has not sent yet and is the only party on ::1.
    const bMedia = await UdpPeer.open(6);
    await mediaFlows(bMedia, a.peer, port, [30]);
    // a's media now goes to b's latched address, not its signaling socket.
    await mediaFlows(a.peer, bMedia, port, [40]);
    assert.deepEqual(await b.peer.drain(100), [], 'the signaling socket of b gets no media after the latch');
    // A stranger on ::1 (b has latched; a is on 127.0.0.1) and one on 127.0.0.1 (a has sent) are dropped.
    const stranger6 = await UdpPeer.open(6);
    const stranger4 = await UdpPeer.open(4);
    await stranger6.send(Buffer.from('inject6'), port);
    await stranger4.send(Buffer.from('inject4'), port);
    assert.deepEqual(await a.peer.drain(150), [], 'nothing injected to a');
    assert.deepEqual(await bMedia.drain(10), [], 'nothing injected to b');
    // The call still works both ways.
    await mediaFlows(bMedia, a.peer, port, [50]);
    await b.send(`BYE FROM:${b.name} TO:${a.name}\n`);
    assert.equal(await a.next(), `BYE FROM:${b.name} TO:${a.name}\n`);
    const ended = await proxy.waitForLog((l) => l.msg === 'media session ended' && l.port === port, 5000, from);
    assert.equal(ended.strangers, 2);
    await Promise.all([a.close(), b.close(), bMedia.close(), stranger4.close(), stranger6.close()]);
  });

  test('50 concurrent calls without cross-talk', async () => {
    const calls = await Promise.all(Array.from({ length: 50 }, async (_, i) => {
      const a = await PlainUser.register(uniq('ca'), PORT, i % 2 === 0 ? 4 : 6);
      const b = await PlainUser.register(uniq('cb'), PORT, i % 3 === 0 ? 6 : 4);
      return { a, b, port: await establishCall(a, b), i };
    }));
    assert.equal(new Set(calls.map((c) => c.port)).size, 50, 'every call has its own port');
    const rounds = 5;
    await Promise.all(calls.map(async ({ a, b, port, i }) => {
      for (let r = 0; r < rounds; r++) {
        await a.media(port, Buffer.from(`call${i}-a-${r}`));
        await b.media(port, Buffer.from(`call${i}-b-${r}`));
      }
    }));
    await Promise.all(calls.map(async ({ a, b, i }) => {
      const toB = new Set<string>();
      const toA = new Set<string>();
      for (let r = 0; r < rounds; r++) {
        toB.add((await b.peer.next()).data.toString());
        toA.add((await a.peer.next()).data.toString());
      }
      assert.deepEqual([...toB].sort(), Array.from({ length: rounds }, (_, r) => `call${i}-a-${r}`).sort());
      assert.deepEqual([...toA].sort(), Array.from({ length: rounds }, (_, r) => `call${i}-b-${r}`).sort());
    }));
    await Promise.all(calls.map(async ({ a, b }) => {
      await a.send(`BYE FROM:${a.name} TO:${b.name}\n`);
      await b.next();
      await a.close();
      await b.close();
    }));
  });

  test('BYE passes as-is and ends the media session: its port relays nothing more; a freed port is not the next one handed out', async () => {
    const a = await PlainUser.register(uniq('ba'), PORT);
    const b = await PlainUser.register(uniq('bb'), PORT);
    const from = proxy.logs.length; // a port may have served an earlier call: its end lines come after this
    const p1 = await establishCall(a, b);
    await a.send(`BYE  FROM:${a.name} TO:${b.name}\r\n`);
    assert.equal(await b.next(), `BYE  FROM:${a.name} TO:${b.name}\r\n`);
    await proxy.waitForLog((l) => l.msg === 'media session ended' && l.port === p1, 5000, from);
    await a.media(p1, Buffer.from('after bye'));
    assert.deepEqual(await b.peer.drain(150), [], 'no media relayed after BYE');
    const p2 = await establishCall(a, b);
    assert.notEqual(p2, p1, 'a freed port is not reused at once');
    assert.ok(p2 >= MEDIA.min && p2 <= MEDIA.max, 'a port of the range');
    await b.send(`BYE FROM:${b.name} TO:${a.name}\n`);
    await a.next();
    // An ended session's port relays nothing, whoever sends to it (the relay may keep it bound for its next session).
    await proxy.waitForLog((l) => l.msg === 'media session ended' && l.port === p2, 5000, from);
    await b.media(p2, Buffer.from('after the second bye'));
    await a.media(p1, Buffer.from('to the first port again'));
    assert.deepEqual([await a.peer.drain(150), await b.peer.drain(0)], [[], []], 'no media relayed on either freed port');
    await Promise.all([a.close(), b.close()]);
  });
});

describe('errors', () => {
  test('garbage gets a short ERROR or silence, and nothing is lost', async () => {
    const a = await PlainUser.register(uniq('ga'), PORT);
    const b = await PlainUser.register(uniq('gb'), PORT);
    const port = await establishCall(a, b);
    const g = await UdpPeer.open(4);
    const inputs: Buffer[] = [
      Buffer.alloc(0), randomBytes(2000), Buffer.alloc(60000, 0x41), Buffer.from('CALL FROM:alice'),
      Buffer.from([0x52, 0x45, 0x47, 0xff, 0xfe, 0x20, 0xc3, 0x28]), Buffer.from('REGISTER'), Buffer.from('REGISTER bad_user!'),
      Buffer.from('register lower'), Buffer.from('MEDIA_PORT FROM:a TO:b 5000'), Buffer.from(`REGISTER ${'x'.repeat(65)}`),
    ];
    for (const input of inputs) {
      await g.send(input, PORT);
      const answers = await g.drain(60);
      assert.ok(answers.length <= 1, 'at most one answer per datagram');
      for (const ans of answers) {
        const text = ans.data.toString('latin1');
        assert.match(text, /^ERROR [\x20-\x7e]+$/, `short ERROR, got ${JSON.stringify(text)}`);
        assert.ok(ans.data.length <= input.length + 64, `ERROR of ${ans.data.length} bytes for a request of ${input.length}`);
      }
    }
    // Nothing lost: the live call still relays and the registrations still hold.
    await mediaFlows(a.peer, b.peer, port, [100]);
    await mediaFlows(b.peer, a.peer, port, [100]);
    const c = await PlainUser.register(uniq('gc'), PORT);
    await c.send(`CALL FROM:${c.name} TO:${a.name}\n`);
    assert.equal(await a.next(), `CALL FROM:${c.name} TO:${a.name}\n`);
    await a.send(`CALL_FAILED FROM:${a.name} TO:${c.name} busy\n`);
    await c.next();
    await a.send(`BYE FROM:${a.name} TO:${b.name}\n`);
    await b.next();
    await Promise.all([a.close(), b.close(), c.close(), g.close()]);
  });

  test('ERROR replies are rate-limited per source', async () => {
    const g = await UdpPeer.open(6);
    for (let i = 0; i < 200; i++) await g.send('nonsense', PORT);
    const answers = await g.drain(300);
    assert.ok(answers.length >= 5, `some ERRORs are sent (${answers.length})`);
    assert.ok(answers.length <= 40, `at most the burst plus refill, got ${answers.length} for 200 bad datagrams`);
    await g.close();
  });

  test('protocol errors: stray ACK_CALL, CALL from an unregistered address, invalid user', async () => {
    const a = await PlainUser.register(uniq('pa'), PORT);
    const b = await PlainUser.register(uniq('pb'), PORT);
    await b.send(`ACK_CALL FROM:${b.name} TO:${a.name}\n`);
    assert.equal(await b.next(), 'ERROR no matching call\n');
    await b.send(`CALL_FAILED FROM:${b.name} TO:${a.name} x\n`);
    assert.equal(await b.next(), 'ERROR no matching call\n');
    const impostor = await UdpPeer.open(4);
    await impostor.send(`CALL FROM:${a.name} TO:${b.name}\n`, PORT);
    assert.match(await impostor.nextText(), /^ERROR caller not registered at this address\n$/);
    assert.deepEqual(await b.peer.drain(100), [], 'the impostor call is not forwarded');
    await a.send(`CALL FROM:${a.name} TO:bad-user\n`);
    assert.equal(await a.next(), 'ERROR invalid user id\n');
    await Promise.all([a.close(), b.close(), impostor.close()]);
  });
});

describe('ending a call: BYE', () => {
  test('a BYE from neither party\'s binding gets ERROR and changes nothing: the call and its media go on', async () => {
    const a = await PlainUser.register(uniq('xa'), PORT);
    const b = await PlainUser.register(uniq('xb'), PORT);
    const c = await PlainUser.register(uniq('xc'), PORT);
    const from = proxy.logs.length; // a port may have served an earlier call: its end lines come after this
    const port = await establishCall(a, b);
    const stranger = await UdpPeer.open(4);
    await stranger.send(`BYE FROM:${a.name} TO:${b.name}\n`, PORT);
    assert.match(await stranger.nextText(), /^ERROR [\x20-\x7e]+\n$/, 'an unregistered sender');
    await c.send(`BYE FROM:${a.name} TO:${b.name}\n`);
    assert.match(await c.next(), /^ERROR [\x20-\x7e]+\n$/, 'a registered user who is not a party');
    await c.send(`BYE FROM:${c.name} TO:${b.name}\n`);
    assert.match(await c.next(), /^ERROR [\x20-\x7e]+\n$/, 'a user with no call with b');
    await b.quiet('no BYE reached b', 200);
    await a.quiet('no BYE reached a', 0);
    await mediaFlows(a.peer, b.peer, port, [64]);
    await mediaFlows(b.peer, a.peer, port, [64]);
    assert.ok(!proxy.logs.slice(from).some((l) => l.msg === 'media session ended' && l.port === port), 'the media session lives');
    await b.send(`BYE FROM:${b.name} TO:${a.name}\n`);
    assert.equal(await a.next(), `BYE FROM:${b.name} TO:${a.name}\n`, 'a party\'s BYE still ends it');
    await Promise.all([a.close(), b.close(), c.close(), stranger.close()]);
  });

  test('a BYE between two users with no call gets ERROR; so does a second BYE after the call ended', async () => {
    const a = await PlainUser.register(uniq('na'), PORT);
    const b = await PlainUser.register(uniq('nb'), PORT);
    await a.send(`BYE FROM:${a.name} TO:${b.name}\r\n`);
    assert.match(await a.next(), /^ERROR [\x20-\x7e]+\r\n$/);
    await b.quiet('nothing passed on');
    await establishCall(a, b);
    await a.send(`BYE FROM:${a.name} TO:${b.name}\n`);
    assert.equal(await b.next(), `BYE FROM:${a.name} TO:${b.name}\n`);
    await b.send(`BYE FROM:${b.name} TO:${a.name}\n`);
    assert.match(await b.next(), /^ERROR [\x20-\x7e]+\n$/, 'the call is over');
    await a.quiet('the second BYE is not passed on');
    await Promise.all([a.close(), b.close()]);
  });

  test('a BYE goes to the party other than its sender, whichever user it names first', async () => {
    const a = await PlainUser.register(uniq('oa'), PORT);
    const b = await PlainUser.register(uniq('ob'), PORT);
    await establishCall(a, b);
    await b.send(`BYE FROM:${a.name} TO:${b.name}\n`);
    assert.equal(await a.next(), `BYE FROM:${a.name} TO:${b.name}\n`, 'from b\'s binding: to a, as-is');
    await b.quiet('nothing back to the sender');
    await Promise.all([a.close(), b.close()]);
  });

  for (const side of ['caller', 'callee'] as const) {
    test(`a BYE from the ${side} while the call rings cancels it: the answer gets ERROR, nobody gets MEDIA_PORT`, async () => {
      const a = await PlainUser.register(uniq('ka'), PORT);
      const b = await PlainUser.register(uniq('kb'), PORT);
      await a.send(`CALL FROM:${a.name} TO:${b.name}\n`);
      assert.equal(await b.next(), `CALL FROM:${a.name} TO:${b.name}\n`);
      const [from, to] = side === 'caller' ? [a, b] : [b, a];
      await from.send(`BYE FROM:${from.name} TO:${to.name}\n`);
      assert.equal(await to.next(), `BYE FROM:${from.name} TO:${to.name}\n`, 'passed as-is to the other party');
      await b.send(`ACK_CALL FROM:${b.name} TO:${a.name}\n`);
      assert.equal(await b.next(), 'ERROR no matching call\n', 'the cancelled call takes no answer');
      await a.quiet('no ACK_CALL, no MEDIA_PORT for the caller');
      await b.quiet('no MEDIA_PORT for the callee', 0);
      // The two may call again.
      const port = await establishCall(a, b);
      await mediaFlows(a.peer, b.peer, port, [10]);
      await a.send(`BYE FROM:${a.name} TO:${b.name}\n`);
      await b.next();
      await Promise.all([a.close(), b.close()]);
    });
  }
});

describe('registrations per source IP', () => {
  test('one source IP holds 1000 users: one more gets ERROR too many users, one it holds may register again', async () => {
    const sock = dgram.createSocket('udp4');
    await new Promise<void>((resolve, reject) => { sock.once('error', reject); sock.bind(0, '127.0.0.7', () => resolve()); });
    const replies: string[] = [];
    let waiting: (() => void) | null = null;
    sock.on('message', (m) => { replies.push(m.toString('latin1')); waiting?.(); });
    const ask = async (text: string): Promise<string> => {
      const arrived = new Promise<void>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`no answer to ${text.trim()}`)), 5000);
        waiting = () => { clearTimeout(t); waiting = null; resolve(); };
      });
      sock.send(text, PORT, '127.0.0.1');
      await arrived;
      return replies.shift()!;
    };
    const base = uniq('many');
    for (let i = 0; i < 1000; i++) assert.equal(await ask(`REGISTER ${base}x${i}\n`), `ACK_REGISTER ${base}x${i}\n`);
    assert.equal(await ask(`REGISTER ${base}x1000\n`), 'ERROR too many users\n');
    assert.equal(await ask(`REGISTER ${base}x7\n`), `ACK_REGISTER ${base}x7\n`, 'a user the IP holds is not refused');
    // Nothing changed: the refused user is unknown, and another IP may register it.
    const caller = await PlainUser.register(uniq('mc'), PORT);
    await caller.send(`CALL FROM:${caller.name} TO:${base}x1000\n`);
    assert.equal(await caller.next(), 'CALL_FAILED unknown peer\n');
    const elsewhere = await PlainUser.register(`${base}x1000`, PORT);
    await Promise.all([caller.close(), elsewhere.close(), new Promise<void>((r) => sock.close(() => r()))]);
  });
});

describe('plain and SIP users are apart', () => {
  const sipRequest = (ua: SipUa, method: string, user: string, sipPort: number, extra: string[]): string => [
    `${method} sip:${user}@127.0.0.1:${sipPort} SIP/2.0`,
    `Via: SIP/2.0/UDP ${ua.hostport};branch=z9hG4bK-${method}-${user};rport`,
    'Max-Forwards: 70',
    `From: <sip:caller@127.0.0.1>;tag=t-${user}`,
    `To: <sip:${user}@127.0.0.1>`,
    `Call-ID: ${method}-${user}@test`,
    `CSeq: 1 ${method}`,
    ...extra,
    'Content-Length: 0', '', '',
  ].join('\r\n');

  test('a plain CALL to a user registered only over SIP is CALL_FAILED unknown peer, and the SIP phone gets nothing', async () => {
    const sipPort = proxy.portOf('sip');
    const phone = await SipUa.open('127.0.0.1');
    const user = uniq('siponly');
    phone.send(sipRequest(phone, 'REGISTER', user, sipPort, [`Contact: <sip:${user}@${phone.hostport}>`, 'Expires: 60']), sipPort);
    assert.match(await phone.next(/^SIP\/2\.0 /), /^SIP\/2\.0 200 OK/);
    const a = await PlainUser.register(uniq('pc'), PORT);
    await a.send(`CALL FROM:${a.name} TO:${user}\n`);
    assert.equal(await a.next(), 'CALL_FAILED unknown peer\n');
    await a.quiet('nothing else', 300);
    assert.deepEqual(phone.inbox, [], 'no plain bytes reached the SIP phone');
    await a.close();
    phone.close();
  });

  test('an INVITE to a user registered only over the plain protocol gets 404, and the plain client gets nothing', async () => {
    const sipPort = proxy.portOf('sip');
    const b = await PlainUser.register(uniq('plainonly'), PORT);
    const caller = await SipUa.open('127.0.0.1');
    caller.send(sipRequest(caller, 'INVITE', b.name, sipPort, [`Contact: <sip:caller@${caller.hostport}>`]), sipPort);
    assert.match(await caller.next(/^SIP\/2\.0 [2-6]\d\d /), /^SIP\/2\.0 404 /);
    await b.quiet('no SIP bytes reached the plain client');
    await b.close();
    caller.close();
  });
});
