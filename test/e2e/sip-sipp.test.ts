/**
 * Real SIP through switchyard with SIPp as caller and callee: registration, a record-routed
 * call whose ACK and BYE follow the route set, rejection, CANCEL, and media through the relay.
 */
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { after, before, describe, test } from 'node:test';
import { freePort, freePortRange } from '../helpers/free-ports.ts';
import { ProxyProcess, writeScript } from '../helpers/proxy-process.ts';
import { received, receivedMediaPort, runSipp, sentMessage, sippVersion, startSipp, traceOf, waitUntil } from '../helpers/sipp.ts';

// Ports the kernel hands out now, so that the file runs beside anything else on this host.
const PROXY = await freePort('127.0.0.1');
const UAS = await freePort('127.0.0.1', 32);
const UAC = await freePort('127.0.0.1', 32);
const RELAY = await freePortRange(100);
const LOOP = '127.0.0.1';
const LOOP6 = '::1';

const SCRIPT = `import { defineProxy } from 'switchyard';
import { callRouting, dialog, mediaRelay, registrar } from 'switchyard/modules';

export default defineProxy({
  listen: [{ dialect: 'sip', port: ${PROXY}, advertise: '${LOOP}', advertiseIPv6: '::1' }],
  modules: [registrar(), dialog(), callRouting(), mediaRelay({ ports: '${RELAY.min}-${RELAY.max}', advertise: '${LOOP}', advertiseIPv6: '::1' })],
  routes: {
    async request(ctx) {
      const { msg } = ctx;
      if (msg.method === 'REGISTER') return ctx.register();
      if (msg.inDialog) {
        if (msg.method === 'BYE') ctx.endMediaSession();
        return ctx.forwardCall();
      }
      if (msg.method === 'INVITE') {
        ctx.engageMediaProxy();
        ctx.recordRoute();
        return ctx.forwardCall({ onFailure: 'failed' });
      }
      return ctx.forwardCall();
    },
    failure: {
      failed(ctx) {
        ctx.log.info({ status: ctx.reply.status }, 'call failed');
      },
    },
  },
});
`;

let proxy: ProxyProcess;
const remote = `${LOOP}:${PROXY}`;

before(async () => {
  sippVersion();
  proxy = await ProxyProcess.start({ configFile: writeScript('sip-sipp', SCRIPT) });
});
after(async () => {
  assert.equal(await proxy.stop(), 0);
});

async function registerBob(): Promise<void> {
  const r = await runSipp('register.xml', [remote, '-s', 'bob', '-i', LOOP, '-p', String(UAS), '-m', '1', '-key', 'expires', '3600']);
  assert.equal(r.code, 0, r.output);
}

describe('SIP through SIPp', () => {
  test('REGISTER: 200 lists the contact; a too brief expiry gets 423 with Min-Expires', async () => {
    await registerBob();
  });

  test('a record-routed call with media both ways through the relay; ACK and BYE follow the route set', async () => {
    await registerBob();
    // The two parties' media sockets: at the addresses their SDP announce.
    const caller = dgram.createSocket('udp4');
    const callee = dgram.createSocket('udp4');
    await Promise.all([new Promise<void>((r) => caller.bind(0, LOOP, r)), new Promise<void>((r) => callee.bind(0, LOOP, r))]);
    const uas = startSipp('uas.xml', ['-i', LOOP, '-p', String(UAS), '-m', '1', '-key', 'mport', String(callee.address().port)]);
    await new Promise((r) => setTimeout(r, 300));
    const from = proxy.logs.length; // a port may have served an earlier call: its end lines come after this
    const uac = startSipp('uac.xml', [remote, '-s', 'bob', '-i', LOOP, '-p', String(UAC), '-m', '1', '-d', '2500', '-key', 'mport', String(caller.address().port)]);
    try {
      await waitUntil(() => /ACK sip:/.test(uac.messages()), 10_000, 'the caller to send its ACK');
      const toCaller = receivedMediaPort(uac.messages(), /^SIP\/2\.0 200/);
      const toCallee = receivedMediaPort(uas.messages(), /^INVITE/);
      assert.ok(toCaller !== null && toCaller >= RELAY.min && toCaller <= RELAY.max, `the caller's SDP points at the relay (${toCaller})`);
      assert.ok(toCallee !== null && toCallee >= RELAY.min && toCallee <= RELAY.max, `the callee's SDP points at the relay (${toCallee})`);
      const got = { caller: [] as Buffer[], callee: [] as Buffer[] };
      caller.on('message', (m) => got.caller.push(m));
      callee.on('message', (m) => got.callee.push(m));
      for (let i = 0; i < 20; i++) {
        const rtp = Buffer.alloc(172, i);
        rtp[0] = 0x80;
        caller.send(rtp, toCaller!, LOOP);
        callee.send(Buffer.from(rtp).fill(100 + i, 12), toCallee!, LOOP);
        await new Promise((r) => setTimeout(r, 5));
      }
      await waitUntil(() => got.caller.length === 20 && got.callee.length === 20, 3000, 'RTP both ways');
      assert.equal(got.callee[7]![1], 7, 'the callee gets the caller\'s packets unchanged');
      assert.equal(got.caller[7]![20], 107, 'the caller gets the callee\'s packets unchanged');
      const [c, s] = await Promise.all([uac.done, uas.done]);
      assert.equal(c.code, 0, `caller: ${c.output}`);
      assert.equal(s.code, 0, `callee: ${s.output}`);
      const ended = await proxy.waitForLog((l) => l.msg === 'media session ended' && l.port === toCaller, 5000, from);
      assert.equal(ended.reason, 'ended', 'BYE ended the media session');
      const bye = sentMessage(uac.messages(), /^BYE /)!;
      assert.match(bye, new RegExp(`\\nRoute: <sip:127\\.0\\.0\\.1:${PROXY};lr;mark=[A-Za-z0-9_-]{12}>`), 'the BYE carries the proxy\'s Record-Route (with its dialog mark) as Route');
    } finally {
      uac.kill();
      uas.kill();
      caller.close();
      callee.close();
    }
  });

  test('a call the callee rejects: the caller gets 486 and the proxy absorbs both ACKs', async () => {
    await registerBob();
    const uas = startSipp('uas_busy.xml', ['-i', LOOP, '-p', String(UAS), '-m', '1']);
    await new Promise((r) => setTimeout(r, 300));
    const uac = await runSipp('uac_rejected.xml', [remote, '-s', 'bob', '-i', LOOP, '-p', String(UAC), '-m', '1', '-key', 'mport', '24904']);
    const s = await uas.done;
    assert.equal(uac.code, 0, uac.output);
    assert.equal(s.code, 0, s.output);
    await proxy.waitForLog((l) => l.msg === 'call failed' && l.status === 486);
  });

  test('a call the caller cancels before the answer: CANCEL reaches the callee, the caller gets 487', async () => {
    await registerBob();
    const uas = startSipp('uas_cancelled.xml', ['-i', LOOP, '-p', String(UAS), '-m', '1']);
    await new Promise((r) => setTimeout(r, 300));
    const uac = await runSipp('uac_cancel.xml', [remote, '-s', 'bob', '-i', LOOP, '-p', String(UAC), '-m', '1', '-key', 'mport', '24906']);
    const s = await uas.done;
    assert.equal(uac.code, 0, uac.output);
    assert.equal(s.code, 0, s.output);
  });

  test('the same call over TCP: registration, INVITE, ACK and BYE on TCP connections', async () => {
    const reg = await runSipp('register_once.xml', [remote, '-t', 't1', '-s', 'tcpbob', '-i', LOOP, '-p', String(UAS + 10), '-m', '1']);
    assert.equal(reg.code, 0, reg.output);
    const uas = startSipp('uas.xml', ['-t', 't1', '-i', LOOP, '-p', String(UAS + 10), '-m', '1', '-key', 'mport', '24920']);
    await new Promise((r) => setTimeout(r, 300));
    const uac = await runSipp('uac.xml', [remote, '-t', 't1', '-s', 'tcpbob', '-i', LOOP, '-p', String(UAC + 10), '-m', '1', '-d', '100', '-key', 'mport', '24922']);
    const s = await uas.done;
    assert.equal(uac.code, 0, `caller: ${uac.output}`);
    assert.equal(s.code, 0, `callee: ${s.output}`);
    assert.match(sentMessage(traceOf(uac.dir), /^BYE /) ?? '', new RegExp(`\\nRoute: <sip:127\\.0\\.0\\.1:${PROXY};lr;mark=[A-Za-z0-9_-]{12};transport=tcp>`), 'a TCP Record-Route');
  });

  test('keepalive OPTIONS to the proxy itself, over UDP and TCP: 200', async () => {
    for (const transport of ['u1', 't1']) {
      const r = await runSipp('options_ping.xml', [remote, '-t', transport, '-i', LOOP, '-p', String(UAC + 20), '-m', '3']);
      assert.equal(r.code, 0, `${transport}: ${r.output}`);
    }
  });

  test('a call to a user nobody registered gets 404', async () => {
    const sock = dgram.createSocket('udp4');
    await new Promise<void>((r) => sock.bind(0, LOOP, r));
    const port = sock.address().port;
    const invite = [
      `INVITE sip:nobody@${remote} SIP/2.0`, `Via: SIP/2.0/UDP ${LOOP}:${port};branch=z9hG4bK-nobody;rport`, 'Max-Forwards: 70',
      `From: <sip:a@${LOOP}>;tag=1`, `To: <sip:nobody@${remote}>`, 'Call-ID: nobody-1', 'CSeq: 1 INVITE', 'Content-Length: 0', '', '',
    ].join('\r\n');
    const replies: string[] = [];
    sock.on('message', (m) => replies.push(m.toString()));
    sock.send(invite, PROXY, LOOP);
    await waitUntil(() => replies.some((r) => r.startsWith('SIP/2.0 404')), 3000, '404');
    assert.match(replies.find((r) => r.startsWith('SIP/2.0 404'))!, new RegExp(`\\r\\nTo: <sip:nobody@127\\.0\\.0\\.1:${PROXY}>;tag=[\\w.!%*+\`'~-]+\\r\\n`));
    sock.close();
  });
});

/** A media socket on `host`, port `port` (0: any), with what it received. */
async function mediaSocket(host: string, port = 0): Promise<{ socket: dgram.Socket; got: { data: Buffer; port: number }[]; port: number }> {
  const socket = host.includes(':') ? dgram.createSocket({ type: 'udp6', ipv6Only: true }) : dgram.createSocket('udp4');
  await new Promise<void>((r) => socket.bind(port, host, r));
  const got: { data: Buffer; port: number }[] = [];
  socket.on('message', (data, rinfo) => got.push({ data, port: rinfo.port }));
  return { socket, got, port: socket.address().port };
}

function rtp(marker: number): Buffer {
  const b = Buffer.alloc(172, marker);
  b[0] = 0x80;
  return b;
}

describe('SIPp: each party on a relay port of its own', () => {
  test('shared IP, media from neither SDP port, the callee\'s media before its 200: each party latched by the port it sends to', async () => {
    const reg = await runSipp('register_once.xml', [remote, '-s', 'early', '-i', LOOP, '-p', String(UAS + 30), '-m', '1']);
    assert.equal(reg.code, 0, reg.output);
    // The callee's SDP will say 24930, the caller's 24932; both send from other ports of 127.0.0.1 (as behind NAT).
    const from = proxy.logs.length; // a port may have served an earlier call: its end lines come after this
    const uas = startSipp('uas_late_answer.xml', ['-i', LOOP, '-p', String(UAS + 30), '-m', '1', '-d', '1500', '-key', 'mport', '24930']);
    const caller = await mediaSocket(LOOP);
    const callee = await mediaSocket(LOOP);
    const uac = startSipp('uac.xml', [remote, '-s', 'early', '-i', LOOP, '-p', String(UAC + 30), '-m', '1', '-d', '1000', '-key', 'mport', '24932']);
    try {
      await waitUntil(() => receivedMediaPort(uas.messages(), /^INVITE/) !== null, 10_000, 'the INVITE at the callee');
      const toCallee = receivedMediaPort(uas.messages(), /^INVITE/)!;
      assert.ok(toCallee >= RELAY.min && toCallee <= RELAY.max, `the callee is told a relay port (${toCallee})`);
      // Early media: the callee speaks while its 200 is still being held back.
      for (let i = 0; i < 5; i++) callee.socket.send(rtp(100 + i), toCallee, LOOP);
      await waitUntil(() => /^SIP\/2\.0 200/m.test(uac.messages()), 10_000, 'the 200 at the caller');
      const toCaller = receivedMediaPort(uac.messages(), /^SIP\/2\.0 200/)!;
      assert.ok(toCaller >= RELAY.min && toCaller <= RELAY.max && toCaller !== toCallee, `the caller is told a relay port of its own (${toCaller}, the callee's ${toCallee})`);
      for (let i = 0; i < 5; i++) caller.socket.send(rtp(i), toCaller, LOOP);
      await waitUntil(() => callee.got.length === 5, 3000, 'the caller\'s media at the callee');
      assert.deepEqual(callee.got.map((d) => [d.data[1], d.port]), [0, 1, 2, 3, 4].map((i) => [i, toCallee]), 'the callee gets the caller\'s packets, from its own relay port');
      for (let i = 5; i < 10; i++) callee.socket.send(rtp(100 + i), toCallee, LOOP);
      await waitUntil(() => caller.got.length === 5, 3000, 'the callee\'s media at the caller');
      assert.deepEqual(caller.got.map((d) => [d.data[1], d.port]), [5, 6, 7, 8, 9].map((i) => [100 + i, toCaller]), 'the caller gets the callee\'s later packets, from its own relay port, never its own');
      const [c, s] = await Promise.all([uac.done, uas.done]);
      assert.equal(c.code, 0, `caller: ${c.output}`);
      assert.equal(s.code, 0, `callee: ${s.output}`);
      const ended = await proxy.waitForLog((l) => l.msg === 'media session ended' && l.port === toCaller && l.component === 'rtp', 5000, from);
      const parties = ended.parties as { role: string; relayPort: number; media: { port: number }; latched: boolean; packets: number }[];
      assert.deepEqual(parties.map((p) => [p.role, p.relayPort, p.media.port, p.latched, p.packets]), [
        ['caller', toCaller, caller.port, true, 5],
        ['callee', toCallee, callee.port, true, 10],
      ]);
    } finally {
      uac.kill();
      uas.kill();
      caller.socket.close();
      callee.socket.close();
    }
  });

  test('an IPv4 caller and an IPv6 callee: each is told the relay in its own family, media both ways', async () => {
    const remote6 = `[${LOOP6}]:${PROXY}`;
    const reg = await runSipp('register_once.xml', [remote6, '-s', 'bob6', '-i', LOOP6, '-p', String(UAS + 31), '-m', '1']);
    assert.equal(reg.code, 0, reg.output);
    const caller = await mediaSocket(LOOP);
    const callee = await mediaSocket(LOOP6);
    const uas = startSipp('uas_late_answer.xml', ['-i', LOOP6, '-p', String(UAS + 31), '-m', '1', '-d', '100', '-key', 'mport', String(callee.port)]);
    // uac.xml checks that the 200 it gets names the relay at 127.0.0.1.
    const uac = startSipp('uac.xml', [remote, '-s', 'bob6', '-i', LOOP, '-p', String(UAC + 31), '-m', '1', '-d', '1500', '-key', 'mport', String(caller.port)]);
    try {
      await waitUntil(() => /^SIP\/2\.0 200/m.test(uac.messages()), 10_000, 'the 200 at the caller');
      const invite = received(traceOf(uas.dir)).find((m) => m.startsWith('INVITE'))!;
      assert.match(invite, /\nc=IN IP6 ::1\r?\n/, 'the IPv6 callee is told the relay\'s IPv6 address');
      assert.match(invite, /\no=caller 1 1 IN IP6 ::1\r?\n/, 'and the origin in its family');
      const toCallee = receivedMediaPort(uas.messages(), /^INVITE/)!;
      const toCaller = receivedMediaPort(uac.messages(), /^SIP\/2\.0 200/)!;
      for (let i = 0; i < 5; i++) {
        caller.socket.send(rtp(i), toCaller, LOOP);
        callee.socket.send(rtp(100 + i), toCallee, LOOP6);
      }
      await waitUntil(() => caller.got.length === 5 && callee.got.length === 5, 3000, 'media both ways');
      assert.deepEqual(callee.got.map((d) => d.data[1]).sort(), [0, 1, 2, 3, 4]);
      assert.deepEqual(caller.got.map((d) => d.data[1]).sort(), [100, 101, 102, 103, 104]);
      const [c, s] = await Promise.all([uac.done, uas.done]);
      assert.equal(c.code, 0, `caller: ${c.output}`);
      assert.equal(s.code, 0, `callee: ${s.output}`);
    } finally {
      uac.kill();
      uas.kill();
      caller.socket.close();
      callee.socket.close();
    }
  });
});
