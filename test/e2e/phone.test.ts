/**
 * `switchyard phone`, run as an operator runs it (bin/switchyard.mjs phone ...), against a proxy
 * on ephemeral ports: two phones (separate processes, one over IPv6, one over IPv4) register, one
 * calls the other, media flows both ways with no loss on loopback, one hangs up; a rejected call,
 * hang-up from either side, a call cancelled while it rings; scripts that fail; and a phone fed
 * nonsense by a fake proxy and a stranger.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import path from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import { ProxyProcess, REPO, defaultLikeScript, writeScript } from '../helpers/proxy-process.ts';
import { UdpPeer } from '../helpers/udp-peer.ts';

/** One line of `--json` output. */
type PhoneLine = Record<string, unknown> & { event: string };

interface Received {
  received: number;
  expected: number;
  lost: number;
  duplicates: number;
  reordered: number;
  discarded: number;
  latency: { minMs: number; avgMs: number; maxMs: number } | null;
}
interface Ended {
  peer: string;
  role: string;
  outcome: string;
  endedBy: string;
  reason: string;
  mediaPort: number | null;
  sent: { packets: number };
  received: Received | null;
}

/** The command line, from the built package (npm test builds dist/ first). */
const SWITCHYARD = path.join(REPO, 'bin', 'switchyard.mjs');

const running = new Set<Phone>();

class Phone {
  readonly lines: PhoneLine[] = [];
  stdout = '';
  stderr = '';
  readonly exited: Promise<number | null>;
  private readonly waiters: { pred: (l: PhoneLine) => boolean; resolve: (l: PhoneLine) => void }[] = [];

  private constructor(readonly child: ChildProcess) {
    let buf = '';
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      this.stdout += chunk;
      buf += chunk;
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const text = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        let line: PhoneLine;
        try { line = JSON.parse(text) as PhoneLine; } catch { line = { event: 'text', text }; }
        this.lines.push(line);
        for (const w of [...this.waiters]) {
          if (w.pred(line)) {
            this.waiters.splice(this.waiters.indexOf(w), 1);
            w.resolve(line);
          }
        }
      }
    });
    child.stderr!.setEncoding('utf8').on('data', (c: string) => { this.stderr += c; });
    this.exited = new Promise((resolve) => child.once('exit', (code) => {
      running.delete(this);
      resolve(code);
    }));
  }

  /** `stdin`: a script for `--script -`, written and closed; otherwise stdin stays open for commands. */
  static start(args: readonly string[], stdin?: string): Phone {
    const child = spawn(process.execPath, [SWITCHYARD, 'phone', ...args], { cwd: REPO, stdio: ['pipe', 'pipe', 'pipe'] });
    const phone = new Phone(child);
    running.add(phone);
    if (stdin !== undefined) child.stdin!.end(stdin);
    return phone;
  }

  /** The first line (already printed or to come) that matches. */
  waitFor(pred: (l: PhoneLine) => boolean, what: string, timeoutMs = 15_000): Promise<PhoneLine> {
    const seen = this.lines.find(pred);
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.splice(this.waiters.findIndex((w) => w.resolve === done), 1);
        reject(new Error(`phone printed no ${what} within ${timeoutMs} ms:\n${this.stdout}\n${this.stderr}`));
      }, timeoutMs);
      const done = (l: PhoneLine): void => {
        clearTimeout(timer);
        resolve(l);
      };
      this.waiters.push({ pred, resolve: done });
    });
  }

  event(name: string, timeoutMs?: number): Promise<PhoneLine> {
    return this.waitFor((l) => l.event === name, name, timeoutMs);
  }

  command(line: string): void {
    this.child.stdin!.write(`${line}\n`);
  }

  /** The exit status; the process is killed if it has not exited within the time. */
  async exit(timeoutMs = 20_000): Promise<number | null> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((resolve) => { timer = setTimeout(() => resolve('timeout'), timeoutMs); });
    const code = await Promise.race([this.exited, timeout]);
    clearTimeout(timer);
    if (code === 'timeout') {
      this.child.kill('SIGKILL');
      throw new Error(`phone did not exit within ${timeoutMs} ms:\n${this.stdout}\n${this.stderr}`);
    }
    return code;
  }

  ended(): Ended {
    const e = this.lines.filter((l) => l.event === 'ended');
    assert.equal(e.length, 1, `one call ended:\n${this.stdout}`);
    return e[0] as unknown as Ended;
  }
}

async function bindable(port: number): Promise<dgram.Socket | null> {
  const s = dgram.createSocket({ type: 'udp6', ipv6Only: false });
  return new Promise((resolve) => {
    s.once('error', () => { s.close(); resolve(null); });
    s.bind(port, '::', () => resolve(s));
  });
}

/** `n` consecutive ports that are free right now, starting at one the kernel hands out. */
async function freePorts(n: number): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const probe = await bindable(0);
    if (probe === null) continue;
    const base = probe.address().port;
    probe.close();
    if (base + n > 65_535) continue;
    const held = await Promise.all(Array.from({ length: n }, (_, i) => bindable(base + i)));
    for (const s of held) s?.close();
    if (held.every((s) => s !== null)) return base;
  }
  throw new Error(`no ${n} consecutive free UDP ports`);
}

let proxy: ProxyProcess;
let port: number;
let mediaBase: number;
const MEDIA_PORTS = 6;

before(async () => {
  port = await freePorts(1);
  mediaBase = await freePorts(MEDIA_PORTS);
  proxy = await ProxyProcess.start({
    configFile: writeScript('phone', defaultLikeScript({ port, ports: `${mediaBase}-${mediaBase + MEDIA_PORTS - 1}`, answerTimeoutSec: 10 })),
    args: ['--no-warm-up'],
  });
});
after(async () => {
  await proxy.stop();
});
afterEach(() => {
  for (const p of running) p.child.kill('SIGKILL');
});

const v4 = (): string => `127.0.0.1:${port}`;
const v6 = (): string => `[::1]:${port}`;

describe('a call between two phones', () => {
  test('media flows both ways, RTP-shaped, with loss 0 on loopback; each side sums up what it received', async () => {
    const bob = Phone.start(['--proxy', v6(), '--json', '--rate', '100', '--script', '-'], [
      'register bob', 'wait registered', 'wait incoming within 10', 'answer', 'wait connected',
      'wait media 100 within 10', 'wait bye within 20', 'expect loss 0', 'expect duplicates 0', 'expect received >= 100', 'expect latency < 1000',
    ].join('\n'));
    await bob.event('registered');
    const alice = Phone.start(['--proxy', v4(), '--json', '--rate', '100', '--size', '200', '--user', 'alice']);
    await alice.event('registered');
    alice.command('call bob');
    // Hang up once each side has had 100 packets (the statistics come once a second).
    const hundred = (l: PhoneLine): boolean => l.event === 'stats' && (l.received as Received).received >= 100;
    await Promise.all([alice.waitFor(hundred, '100 packets received'), bob.waitFor(hundred, '100 packets received')]);
    alice.command('stats');
    alice.command('hangup');
    alice.command('quit');
    assert.equal(await alice.exit(), 0, alice.stderr);
    assert.equal(await bob.exit(), 0, bob.stderr);

    const a = alice.ended();
    const b = bob.ended();
    assert.deepEqual([a.peer, a.role, a.outcome, a.endedBy], ['bob', 'caller', 'completed', 'local']);
    assert.deepEqual([b.peer, b.role, b.outcome, b.endedBy, b.reason], ['alice', 'callee', 'completed', 'remote', 'BYE from alice']);
    assert.equal(a.mediaPort, b.mediaPort, 'both used the one relay port');
    assert.ok(a.mediaPort! >= mediaBase && a.mediaPort! < mediaBase + MEDIA_PORTS);
    for (const [who, r, peerSent] of [['alice', a.received!, b.sent.packets], ['bob', b.received!, a.sent.packets]] as const) {
      assert.ok(r.received >= 100, `${who} received ${r.received}`);
      assert.equal(r.lost, 0, `${who} lost nothing`);
      assert.equal(r.expected, r.received);
      assert.deepEqual([r.duplicates, r.discarded], [0, 0], `${who}: no duplicates, nothing out of sequence`);
      assert.ok(r.received <= peerSent, `${who} received no more than was sent`);
      assert.ok(r.latency !== null && r.latency.minMs >= 0 && r.latency.minMs <= r.latency.avgMs && r.latency.avgMs <= r.latency.maxMs, `${who} measured latency on the shared clock`);
    }
    assert.deepEqual(alice.lines.filter((l) => l.event === 'sent').map((l) => l.text), ['REGISTER alice', 'CALL FROM:alice TO:bob', 'BYE FROM:alice TO:bob']);
    assert.ok(proxy.logs.every((l) => (l.level ?? 0) < 50), 'the proxy logged no error');
  });

  test('the callee hangs up: the caller gets the BYE', async () => {
    const bob = Phone.start(['--proxy', v4(), '--json', '--rate', '100', '--script', '-'], [
      'register bob2', 'wait registered', 'wait incoming within 10', 'answer', 'wait media 30', 'hangup',
    ].join('\n'));
    await bob.event('registered');
    const alice = Phone.start(['--proxy', v4(), '--json', '--rate', '100', '--script', '-'], [
      'register alice2', 'wait registered', 'call bob2', 'wait connected', 'wait bye within 10', 'expect loss 0',
    ].join('\n'));
    assert.equal(await bob.exit(), 0, bob.stderr);
    assert.equal(await alice.exit(), 0, alice.stderr);
    assert.deepEqual([alice.ended().endedBy, alice.ended().reason], ['remote', 'BYE from bob2']);
    assert.deepEqual([bob.ended().endedBy, bob.ended().outcome], ['local', 'completed']);
  });

  test('--reject: the caller is told CALL_FAILED ... declined', async () => {
    const bob = Phone.start(['--proxy', v4(), '--json', '--user', 'bob3', '--reject']);
    await bob.event('registered');
    const alice = Phone.start(['--proxy', v4(), '--json', '--script', '-'], [
      'register alice3', 'wait registered', 'call bob3', 'wait failed declined', 'wait ended',
    ].join('\n'));
    assert.equal(await alice.exit(), 0, alice.stderr);
    assert.deepEqual([alice.ended().outcome, alice.ended().reason, alice.ended().received], ['failed', 'declined', null]);
    const rejected = await bob.event('ended');
    assert.deepEqual([rejected.outcome, rejected.endedBy], ['rejected', 'local']);
    assert.ok(bob.lines.some((l) => l.event === 'sent' && l.text === 'CALL_FAILED FROM:bob3 TO:alice3 declined'));
    bob.command('quit');
    assert.equal(await bob.exit(), 0);
  });

  test('at the prompt: a caller who hangs up while it rings cancels the call', async () => {
    const bob = Phone.start(['--proxy', v4(), '--json', '--script', '-'], [
      'register bob4', 'wait registered', 'wait incoming within 10', 'wait ended within 10',
    ].join('\n'));
    await bob.event('registered');
    const alice = Phone.start(['--proxy', v4(), '--json', '--user', 'alice4']);
    await alice.event('registered');
    alice.command('call bob4');
    await bob.event('incoming');
    alice.command('hangup');
    assert.equal(await bob.exit(), 0, bob.stderr);
    assert.deepEqual([bob.ended().outcome, bob.ended().endedBy, bob.ended().reason], ['cancelled', 'remote', 'BYE from alice4']);
    alice.command('quit');
    assert.equal(await alice.exit(), 0);
    assert.equal(alice.ended().outcome, 'cancelled');
  });

  test('--call with --duration against --auto-answer: statistics once a second, exit 0 when the call is done', async () => {
    const bob = Phone.start(['--proxy', v4(), '--json', '--user', 'bob5', '--auto-answer']);
    await bob.event('registered');
    const alice = Phone.start(['--proxy', v6(), '--json', '--user', 'alice5', '--call', 'bob5', '--duration', '1.5']);
    assert.equal(await alice.exit(), 0, alice.stderr);
    const a = alice.ended();
    assert.equal(a.reason, '--duration 1.5 s reached');
    assert.ok(a.received!.received > 0 && a.received!.lost === 0, JSON.stringify(a.received));
    assert.ok(alice.lines.some((l) => l.event === 'stats'), 'a statistics line within the call');
    const b = await bob.event('ended');
    assert.equal(b.endedBy, 'remote');
    // The auto-answering phone is still there for the next call; SIGTERM ends it cleanly.
    bob.child.kill('SIGTERM');
    assert.equal(await bob.exit(), 0);
  });
});

describe('scripts that fail', () => {
  test('a failed step exits 1 and names the line and the reason', async () => {
    const alice = Phone.start(['--proxy', v4(), '--script', '-'], ['register alice6', 'wait registered', 'call nobody', 'wait connected'].join('\n'));
    assert.equal(await alice.exit(), 1);
    assert.match(alice.stderr, /line 4 \(wait connected\): waited for connected, but the call failed: unknown peer/);
  });

  test('an expectation that does not hold exits 1', async () => {
    const alice = Phone.start(['--proxy', v4(), '--script', '-'], ['register alice7', 'wait registered', 'expect loss 0'].join('\n'));
    assert.equal(await alice.exit(), 1);
    assert.match(alice.stderr, /line 3 \(expect loss 0\): no call has had media/);
  });

  test('a wait that meets its deadline exits 1; nobody listening is not a crash', async () => {
    const silent = await freePorts(1);
    const alice = Phone.start(['--proxy', `127.0.0.1:${silent}`, '--script', '-'], ['register alice8', 'wait registered within 0.5'].join('\n'));
    assert.equal(await alice.exit(), 1);
    assert.match(alice.stderr, /no registered within 0.5 s/);
  });

  test('a script with mistakes does not run: exit 2, every bad line listed', async () => {
    const alice = Phone.start(['--proxy', v4(), '--script', '-'], ['register alice9', 'dial bob', 'wait forever'].join('\n'));
    assert.equal(await alice.exit(), 2);
    assert.match(alice.stderr, /stdin line 2: unknown command 'dial'\nstdin line 3: wait for what/);
  });
});

test('nonsense from the proxy, its relay port and a stranger is printed and ignored, never a crash', async () => {
  const fakeProxy = await UdpPeer.open(4);
  const fakeRelay = await UdpPeer.open(4);
  const samehost = await UdpPeer.open(4);
  // Another address of the loopback network: a host that is not the proxy.
  const stranger = dgram.createSocket('udp4');
  await new Promise<void>((resolve, reject) => { stranger.once('error', reject); stranger.bind(0, '127.0.0.2', () => resolve()); });
  // Closed whatever happens: an open socket would keep the test process alive after a failure.
  try {
    const alice = Phone.start(['--proxy', `127.0.0.1:${fakeProxy.port}`, '--json', '--auto-answer', '--rate', '100', '--script', '-'], [
      'register alice', 'wait registered', 'wait connected within 10', 'wait media 20', 'wait bye within 10', 'expect received 20', 'expect duplicates 1', 'expect loss 0',
    ].join('\n'));
    const register = await fakeProxy.next(15_000);
    assert.equal(register.data.toString(), 'REGISTER alice\n');
    const phonePort = register.port;
    const toPhone = (peer: UdpPeer, data: string | Buffer): Promise<void> => peer.send(data, phonePort);
    await new Promise<void>((resolve, reject) => stranger.send('ACK_REGISTER alice\n', phonePort, '127.0.0.1', (err) => (err ? reject(err) : resolve())));
    await toPhone(samehost, 'ACK_REGISTER alice\n');
    for (const junk of [
      Buffer.from([0x00, 0xff, 0x1b, 0x5b, 0x32, 0x4a]), 'ACK_REGISTER', 'ACK_REGISTER mallory\n', 'A'.repeat(1500),
      'MEDIA_PORT FROM:alice TO:bob 99999\n', 'BYE FROM:eve TO:alice\n', 'ACK_CALL FROM:bob TO:alice\n', 'CALL FROM:eve TO:mallory\n',
    ]) await toPhone(fakeProxy, junk);
    await toPhone(fakeProxy, 'ACK_REGISTER alice\n');
    await alice.event('registered');

    await toPhone(fakeProxy, 'CALL FROM:bob TO:alice\n');
    assert.equal((await fakeProxy.next()).data.toString(), 'ACK_CALL FROM:alice TO:bob\n');
    await toPhone(fakeProxy, `MEDIA_PORT FROM:bob TO:alice ${fakeRelay.port}\n`);
    // The phone sends its media from its signaling socket to the relay port.
    const first = await fakeRelay.next();
    assert.equal(first.port, phonePort);
    assert.equal(first.data[0], 0x80);

    // From the relay port: non-RTP, then 20 packets of one source with a duplicate, then another source.
    const rtp = (n: number, ssrc: number): Buffer => {
      const b = Buffer.alloc(40);
      b[0] = 0x80;
      b[1] = 96;
      b.writeUInt16BE((65_530 + n) & 0xffff, 2); // across the wrap
      b.writeUInt32BE(n * 480, 4);
      b.writeUInt32BE(ssrc, 8);
      return b;
    };
    await toPhone(fakeRelay, 'not media');
    for (let n = 0; n < 20; n++) await toPhone(fakeRelay, rtp(n, 0xabc));
    await toPhone(fakeRelay, rtp(1, 0xabc));
    await toPhone(fakeRelay, rtp(7, 0xdef));
    await alice.waitFor((l) => l.event === 'stats' && (l.received as { otherSource: number }).otherSource === 1, 'statistics with the other source counted');
    await toPhone(fakeProxy, 'BYE FROM:bob TO:alice\n');
    assert.equal(await alice.exit(), 0, `${alice.stderr}\n${alice.stdout}`);

    // At most five a second are printed; the rest are counted.
    const ignored = alice.lines.filter((l) => l.event === 'ignored');
    const suppressed = alice.lines.filter((l) => l.event === 'suppressed').reduce((n, l) => n + (l.ignored as number), 0);
    assert.ok(ignored.length >= 5, `${ignored.length} ignored datagrams printed`);
    assert.equal(ignored.length + suppressed, 12, `${ignored.length} printed and ${suppressed} counted of the 12 ignored`);
    assert.ok(ignored.some((l) => l.reason === 'not from the proxy'));
    assert.ok(ignored.some((l) => String(l.reason).startsWith('not from the signaling port')));
    assert.ok(ignored.some((l) => String(l.text).includes('\\x1b')), 'control bytes are escaped, not printed');
    const received = alice.ended().received! as Received & { malformed: number; otherSource: number };
    assert.deepEqual([received.received, received.lost, received.duplicates, received.latency, received.malformed, received.otherSource], [20, 0, 1, null, 1, 1]);
  } finally {
    await Promise.all([fakeProxy.close(), fakeRelay.close(), samehost.close(), new Promise<void>((resolve) => stranger.close(() => resolve()))]);
  }
});
