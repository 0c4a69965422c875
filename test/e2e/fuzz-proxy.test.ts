/**
 * A stateful fuzz of a running proxy (issue 17): fast-check draws sequences of requests, valid
 * and broken (bytes cut, flipped, inserted; lines dropped, repeated, moved; garbage; a message
 * cut off on a TCP connection), SIP over UDP and TCP and the plain protocol, against the default
 * script. Every valid request gets its final answer; after each sequence the proxy is alive and
 * answers; at the end no transaction is left open, memory stayed bounded, nothing was logged as
 * an error, and a SIPp call goes through. Bounded: at most 60 sequences of 50 commands, 90 s.
 */
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import net from 'node:net';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import { adminPort } from '../helpers/admin.ts';
import { legitCall, rssMb } from '../helpers/legit-call.ts';
import { mutate, mutation, type Mutation } from '../helpers/mutations.ts';
import { freePort, freeRange } from '../helpers/ports.ts';
import { ProxyProcess, REPO, writeScript } from '../helpers/proxy-process.ts';
import { sippVersion } from '../helpers/sipp.ts';

const LOOP = '127.0.0.1';
const SIP = await freePort();
const PLAIN = await freePort();
const MEDIA = await freeRange(100);

/** The default script's routes and modules, on the test's ports, its relay advertising loopback, an unanswered call given up after 5 s. */
const SCRIPT = writeScript('fuzz-proxy', `import { defineProxy } from 'switchyard';
import { callRouting, dialog, floodLimits, mediaRelay, registrar } from 'switchyard/modules';
import base from '${path.join(REPO, 'proxy.config.ts')}';

export default defineProxy({
  listen: [{ dialect: 'plain', port: ${PLAIN} }, { dialect: 'sip', port: ${SIP}, advertise: '${LOOP}' }],
  modules: [
    registrar(), dialog(), callRouting({ answerTimeoutSec: 5 }), mediaRelay({ ports: '${MEDIA}', idleTimeoutSec: 60, advertise: '${LOOP}' }),
    floodLimits({ maxMessages: 60, intervalSec: 2, banSec: 300, trustedPeers: ['127.0.0.0/8', '::1'] }),
  ],
  routes: base.routes,
});
`);

let proxy: ProxyProcess;
let admin: number;
let world: World;

/** The header named `name` of a message's text (first one). */
function header(text: string, name: string): string {
  return new RegExp(`\\r\\n${name}:[ \\t]*([^\\r\\n]*)`, 'i').exec(text)?.[1] ?? '';
}

/** A phone that answers every request it gets: 486 to an INVITE, 200 to the rest, nothing to an ACK. */
function answering(socket: dgram.Socket): void {
  socket.on('message', (buf, from) => {
    const m = buf.toString('latin1');
    if (m.startsWith('SIP/2.0') || m.startsWith('ACK ')) return;
    const vias = m.split('\r\n').filter((l) => /^(via|v):/i.test(l));
    const status = m.startsWith('INVITE ') ? '486 Busy Here' : '200 OK';
    socket.send(Buffer.from([
      `SIP/2.0 ${status}`, ...vias, `From: ${header(m, 'from')}`, `To: ${header(m, 'to')};tag=bob`, `Call-ID: ${header(m, 'call-id')}`,
      `CSeq: ${header(m, 'cseq')}`, 'Content-Length: 0', '', '',
    ].join('\r\n'), 'latin1'), from.port, from.address);
  });
}

/** Where the fuzz sends from, and how it waits for answers (by Call-ID). */
class World {
  private readonly waiting = new Map<string, (status: number) => void>();
  private tcp: net.Socket | null = null;
  private tcpBuffer = '';
  sent = 0;

  private constructor(readonly udp: dgram.Socket, readonly bob: dgram.Socket, readonly plainCaller: dgram.Socket, readonly plainCallee: dgram.Socket) {
    udp.on('message', (buf) => this.answer(buf.toString('latin1')));
  }

  static async open(): Promise<World> {
    const sockets = await Promise.all([0, 1, 2, 3].map(() => new Promise<dgram.Socket>((resolve) => {
      const s = dgram.createSocket('udp4');
      s.bind(0, LOOP, () => resolve(s));
    })));
    const w = new World(sockets[0]!, sockets[1]!, sockets[2]!, sockets[3]!);
    answering(w.bob);
    w.plainCallee.on('message', (buf) => {
      const m = /^CALL FROM:(\w+) TO:(\w+)/.exec(buf.toString('latin1'));
      if (m !== null) w.plainCallee.send(`CALL_FAILED FROM:${m[2]} TO:${m[1]} busy\n`, PLAIN, LOOP);
    });
    return w;
  }

  /** An answer from the proxy: a final response resolves whoever waits for its Call-ID. */
  private answer(text: string): void {
    const status = /^SIP\/2\.0 (\d{3}) /.exec(text);
    if (status === null || Number(status[1]) < 200) return;
    const callId = header(text, 'call-id');
    const done = this.waiting.get(callId);
    if (done === undefined) return;
    this.waiting.delete(callId);
    done(Number(status[1]));
  }

  /** Sends `bytes` over `transport`; with `callId`, resolves with the final status of the answer (rejects after 5 s). */
  send(transport: 'udp' | 'tcp', bytes: Buffer, callId?: string): Promise<number | null> {
    this.sent++;
    const answered = callId === undefined ? Promise.resolve(null) : new Promise<number | null>((resolve, reject) => {
      const timer = setTimeout(() => { this.waiting.delete(callId); reject(new Error(`no final answer for ${callId} over ${transport}`)); }, 5000);
      this.waiting.set(callId, (s) => { clearTimeout(timer); resolve(s); });
    });
    if (transport === 'udp') this.udp.send(bytes, SIP, LOOP);
    else if (callId !== undefined) this.connection().write(bytes);
    else this.once(bytes);
    return answered;
  }

  /**
   * Broken bytes go over TCP on a connection of their own, closed after them: on a stream, a
   * message whose length is wrong takes the next one's bytes as its own, which no peer can undo.
   */
  private once(bytes: Buffer): void {
    const s = net.connect({ host: LOOP, port: SIP }, () => s.end(bytes));
    s.on('error', () => undefined);
    s.resume();
  }

  /** The fuzz's TCP connection, opened again when the proxy closed it (it does, on a stream it cannot frame). */
  private connection(): net.Socket {
    if (this.tcp !== null && !this.tcp.destroyed) return this.tcp;
    const s = net.connect({ host: LOOP, port: SIP });
    s.on('error', () => undefined);
    this.tcpBuffer = '';
    s.setEncoding('latin1').on('data', (d: string) => {
      this.tcpBuffer += d;
      for (let end = this.tcpBuffer.indexOf('\r\n\r\n'); end >= 0; end = this.tcpBuffer.indexOf('\r\n\r\n')) {
        const head = this.tcpBuffer.slice(0, end + 4);
        const length = Number(header(head, 'content-length') || header(head, 'l') || 0);
        if (this.tcpBuffer.length < head.length + length) break;
        this.tcpBuffer = this.tcpBuffer.slice(head.length + length);
        this.answer(head);
      }
    });
    this.tcp = s;
    return s;
  }

  get udpHostport(): string {
    return `${LOOP}:${this.udp.address().port}`;
  }

  close(): void {
    this.tcp?.destroy();
    for (const s of [this.udp, this.bob, this.plainCaller, this.plainCallee]) s.close();
  }
}

let seq = 0;

/** A request of the fuzz: to bob (who answers), to a user nobody registered, or to the proxy itself. */
function sipRequest(method: string, target: 'bob' | 'nobody' | 'self', transport: 'udp' | 'tcp'): { bytes: Buffer; callId: string } {
  const n = ++seq;
  const callId = `fuzz-${n}@test`;
  const ruri = target === 'self' ? `sip:${LOOP}:${SIP}` : `sip:${target}@${LOOP}:${SIP}`;
  const via = transport === 'udp' ? `SIP/2.0/UDP ${world.udpHostport};branch=z9hG4bK-fz${n};rport` : `SIP/2.0/TCP ${LOOP}:9;branch=z9hG4bK-fz${n}`;
  const body = method === 'INVITE'
    ? ['v=0', `o=- ${n} 1 IN IP4 ${LOOP}`, 's=-', `c=IN IP4 ${LOOP}`, 't=0 0', 'm=audio 40000 RTP/AVP 0', 'a=rtpmap:0 PCMU/8000', ''].join('\r\n') : '';
  const lines = [
    // A REGISTER registers the fuzz itself, whatever its Request-URI: never a contact of bob's that does not answer.
    `${method} ${ruri} SIP/2.0`, `Via: ${via}`, 'Max-Forwards: 70', `From: <sip:fuzz@${LOOP}>;tag=fz${n}`,
    `To: <${method === 'REGISTER' ? `sip:fuzz@${LOOP}` : target === 'self' ? ruri : `sip:${target}@${LOOP}`}>`,
    `Call-ID: ${callId}`, `CSeq: ${n} ${method}`, `Contact: <sip:fuzz@${transport === 'udp' ? world.udpHostport : `${LOOP}:9;transport=tcp`}>`,
    ...(method === 'REGISTER' ? ['Expires: 60'] : []),
    ...(body === '' ? ['Content-Length: 0'] : ['Content-Type: application/sdp', `Content-Length: ${body.length}`]),
  ];
  return { bytes: Buffer.from(`${lines.join('\r\n')}\r\n\r\n${body}`, 'latin1'), callId };
}

/** What the proxy may answer a valid request of the fuzz. */
function expected(method: string, target: 'bob' | 'nobody' | 'self'): readonly number[] {
  if (method === 'REGISTER') return [200];
  if (target === 'nobody') return [404];
  if (target === 'bob') return method === 'INVITE' ? [486] : [200];
  return [200, 404, 482, 483]; // the proxy itself: OPTIONS is answered, others find no user or loop
}

type Transport = 'udp' | 'tcp';

class SipCommand implements fc.AsyncCommand<object, World> {
  constructor(readonly method: string, readonly target: 'bob' | 'nobody' | 'self', readonly transport: Transport, readonly mutations: readonly Mutation[]) {}
  check = (): boolean => true;
  async run(): Promise<void> {
    const { bytes, callId } = sipRequest(this.method, this.target, this.transport);
    if (this.mutations.length > 0) {
      await world.send(this.transport, mutate(bytes, this.mutations));
      return;
    }
    const status = await world.send(this.transport, bytes, callId);
    assert.ok(expected(this.method, this.target).includes(status!), `${this.method} to ${this.target} over ${this.transport}: ${status}`);
    if (this.method === 'INVITE') {
      // The ACK of a failure, hop by hop to the proxy.
      const ack = bytes.toString('latin1').split('\r\n\r\n')[0]!.replace(/^INVITE /, 'ACK ').replace(/CSeq: (\d+) INVITE/, 'CSeq: $1 ACK')
        .replace(/\r\nContent-Type:[^\r]*/, '').replace(/Content-Length: \d+/, 'Content-Length: 0').replace(/\r\nTo: ([^\r]*)/, `\r\nTo: $1;tag=x`);
      await world.send(this.transport, Buffer.from(`${ack}\r\n\r\n`, 'latin1'));
    }
  }
  toString = (): string => `${this.method}→${this.target}/${this.transport}${this.mutations.length > 0 ? ` mutated ${JSON.stringify(this.mutations)}` : ''}`;
}

class GarbageCommand implements fc.AsyncCommand<object, World> {
  constructor(readonly transport: Transport, readonly bytes: Uint8Array) {}
  check = (): boolean => true;
  async run(): Promise<void> {
    await world.send(this.transport, Buffer.from(this.bytes));
  }
  toString = (): string => `garbage/${this.transport} ${Buffer.from(this.bytes).toString('hex').slice(0, 40)}`;
}

/** A request cut off on a connection of its own, which is then closed. */
class CutCommand implements fc.AsyncCommand<object, World> {
  constructor(readonly keep: number) {}
  check = (): boolean => true;
  async run(): Promise<void> {
    const { bytes } = sipRequest('INVITE', 'bob', 'tcp');
    const s = net.connect({ host: LOOP, port: SIP });
    s.on('error', () => undefined);
    await new Promise<void>((resolve) => s.once('connect', () => resolve()).once('error', () => resolve()));
    await new Promise<void>((resolve) => s.end(bytes.subarray(0, this.keep % bytes.length), () => resolve()));
    s.destroy();
    world.sent++;
  }
  toString = (): string => `cut tcp at ${this.keep}`;
}

class PlainCommand implements fc.AsyncCommand<object, World> {
  constructor(readonly valid: boolean, readonly mutations: readonly Mutation[]) {}
  check = (): boolean => true;
  async run(): Promise<void> {
    const call = Buffer.from('CALL FROM:pa TO:pb\n', 'latin1');
    world.sent++;
    if (!this.valid) {
      world.plainCaller.send(mutate(call, this.mutations), PLAIN, LOOP);
      return;
    }
    // pb's answer, passed on (answers to broken CALLs sent before may still be on their way).
    const answer = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no answer to a plain CALL')), 5000);
      const on = (buf: Buffer): void => {
        if (buf.toString('latin1') !== 'CALL_FAILED FROM:pb TO:pa busy\n') return;
        clearTimeout(timer);
        world.plainCaller.off('message', on);
        resolve();
      };
      world.plainCaller.on('message', on);
    });
    world.plainCaller.send(call, PLAIN, LOOP);
    await answer;
  }
  toString = (): string => (this.valid ? 'plain CALL' : `plain CALL mutated ${JSON.stringify(this.mutations)}`);
}

const transport = fc.constantFrom<Transport>('udp', 'tcp');
const target = fc.constantFrom<'bob' | 'nobody' | 'self'>('bob', 'nobody', 'self');
const method = fc.constantFrom('INVITE', 'OPTIONS', 'MESSAGE', 'REGISTER', 'INFO', 'SUBSCRIBE');
const commands = [
  fc.tuple(method, target, transport).map(([m, t, tr]) => new SipCommand(m, t, tr, [])),
  fc.tuple(method, target, transport, fc.array(mutation, { minLength: 1, maxLength: 4 })).map(([m, t, tr, ms]) => new SipCommand(m, t, tr, ms)),
  fc.tuple(transport, fc.uint8Array({ minLength: 1, maxLength: 600 })).map(([tr, b]) => new GarbageCommand(tr, b)),
  fc.nat().map((n) => new CutCommand(n)),
  fc.constant(new PlainCommand(true, [])),
  fc.array(mutation, { minLength: 1, maxLength: 3 }).map((ms) => new PlainCommand(false, ms)),
];

async function stats(): Promise<{ overload: { pending: number; heapMB: number } }> {
  return (await fetch(`http://${LOOP}:${admin}/api/stats`)).json() as Promise<{ overload: { pending: number; heapMB: number } }>;
}

/** The proxy answers an OPTIONS for itself. */
async function answers(): Promise<void> {
  const { bytes, callId } = sipRequest('OPTIONS', 'self', 'udp');
  assert.equal(await world.send('udp', bytes, callId), 200);
}

before(async () => {
  sippVersion();
  proxy = await ProxyProcess.start({ configFile: SCRIPT, args: ['--admin', `${LOOP}:0`, '--no-warm-up'] });
  admin = await adminPort(proxy);
  world = await World.open();
  // bob (SIP, UDP) and pb (plain) answer; pa calls from the plain caller's socket.
  const bob = `${LOOP}:${world.bob.address().port}`;
  world.bob.send(Buffer.from([
    `REGISTER sip:${LOOP}:${SIP} SIP/2.0`, `Via: SIP/2.0/UDP ${bob};branch=z9hG4bK-bobreg;rport`, 'Max-Forwards: 70', `From: <sip:bob@${LOOP}>;tag=b1`,
    `To: <sip:bob@${LOOP}>`, 'Call-ID: bob-reg@test', 'CSeq: 1 REGISTER', `Contact: <sip:bob@${bob}>`, 'Expires: 3600', 'Content-Length: 0', '', '',
  ].join('\r\n'), 'latin1'), SIP, LOOP);
  world.plainCaller.send('REGISTER pa\n', PLAIN, LOOP);
  world.plainCallee.send('REGISTER pb\n', PLAIN, LOOP);
  await proxy.waitForLog((l) => l.msg === 'registered' && l.aor === 'bob');
  await proxy.waitForLog((l) => l.msg === 'REGISTER answered' && l.aor === 'pb');
});
after(async () => {
  world?.close();
  assert.equal(await proxy.stop(), 0);
});

describe('the proxy under a stateful fuzz', () => {
  test('random sequences of valid and broken requests, UDP, TCP and plain: no crash, every valid request answered, then none left open', async (t) => {
    const rssBefore = rssMb(proxy.child.pid!);
    await fc.assert(fc.asyncProperty(fc.commands(commands, { maxCommands: 50, size: 'max' }), async (cmds) => {
      await fc.asyncModelRun(() => ({ model: {}, real: world }), cmds);
      assert.equal(proxy.child.exitCode, null, 'the proxy runs');
      await answers();
    }), { numRuns: 60, interruptAfterTimeLimit: 90_000 }).catch((err: Error) => {
      // The reporter shows the message only: add what failed inside the run.
      throw new Error(`${err.message}\n${(err.cause as Error | undefined)?.stack ?? ''}`);
    });
    // Every transaction ends: with its final answer, or (a broken Request-URI can name a host where
    // nothing answers) with 408 when its timer runs out: 5 s for an INVITE here, 32 s (64·T1) for the others.
    const deadline = Date.now() + 40_000;
    let pending = (await stats()).overload.pending;
    while (pending > 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 500));
      pending = (await stats()).overload.pending;
    }
    assert.equal(pending, 0, 'no transaction left without its final answer');
    const rssAfter = rssMb(proxy.child.pid!);
    assert.ok(rssAfter - rssBefore < 150, `memory bounded: ${Math.round(rssBefore)} → ${Math.round(rssAfter)} MB after ${world.sent} messages`);
    const errors = proxy.logs.filter((l) => (l.level ?? 0) >= 50);
    assert.deepEqual(errors.map((l) => l.msg), [], 'nothing logged as an error');
    assert.ok(world.sent >= 500, `the fuzz sent ${world.sent} messages`);
    t.diagnostic(`${world.sent} messages, RSS ${Math.round(rssBefore)} → ${Math.round(rssAfter)} MB`);
  });

  test('a legitimate call goes through afterwards', async () => {
    await legitCall(SIP, { uas: await freePort(), uac: await freePort(), media: Number((await freeRange(4)).split('-')[0]) });
  });
});
