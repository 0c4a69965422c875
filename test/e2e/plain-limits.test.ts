/** Timeouts and media-port limits, with short values set in the test's own script. */
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { after, before, describe, test } from 'node:test';
import { PlainUser, establishCall } from '../helpers/plain-client.ts';
import { ProxyProcess, defaultLikeScript, writeScript } from '../helpers/proxy-process.ts';

describe('answer and idle timeouts', () => {
  let PORT: number;
  let proxy: ProxyProcess;
  before(async () => {
    proxy = await ProxyProcess.start({ configFile: writeScript('timeouts', defaultLikeScript({ port: 0, ports: '20000-20009', answerTimeoutSec: 0.5, idleTimeoutSec: 0.6 })) });
    PORT = proxy.portOf('plain');
  });
  after(async () => { await proxy.stop(); });

  test('an unanswered call fails with CALL_FAILED ... no answer', async () => {
    const a = await PlainUser.register('ta', PORT);
    const b = await PlainUser.register('tb', PORT);
    await a.send('CALL FROM:ta TO:tb\r\n');
    await b.next();
    const t0 = Date.now();
    assert.equal(await a.next(3000), 'CALL_FAILED FROM:tb TO:ta no answer\r\n');
    assert.ok(Date.now() - t0 >= 400, 'not before the answer timeout');
    await b.send('ACK_CALL FROM:tb TO:ta\n');
    assert.equal(await b.next(), 'ERROR no matching call\n', 'a late answer finds no call');
    await proxy.waitForLog((l) => l.msg === 'call failed' && l.status === 408);
    await Promise.all([a.close(), b.close()]);
  });

  test('a media session idle for the timeout is ended and its port freed', async () => {
    const a = await PlainUser.register('ia', PORT);
    const b = await PlainUser.register('ib', PORT);
    const from = proxy.logs.length; // a port may have served an earlier call: its end lines come after this
    const port = await establishCall(a, b);
    // Keep it alive past one timeout with traffic...
    for (let i = 0; i < 6; i++) {
      await a.media(port, Buffer.from([i]));
      assert.deepEqual((await b.peer.next()).data, Buffer.from([i]));
      await new Promise((r) => setTimeout(r, 150));
    }
    assert.ok(!proxy.logs.slice(from).some((l) => l.msg === 'media session ended' && l.port === port), 'traffic keeps the session');
    // ...then go quiet.
    const ended = await proxy.waitForLog((l) => l.msg === 'media session ended' && l.port === port, 5000, from);
    assert.equal(ended.reason, 'idle');
    // The call is over, and both parties were told so: BYE FROM:<caller> TO:<callee>, the caller first.
    const toCaller = await a.peer.next();
    const toCallee = await b.peer.next();
    assert.equal(toCaller.data.toString(), 'BYE FROM:ia TO:ib\n');
    assert.equal(toCallee.data.toString(), 'BYE FROM:ia TO:ib\n');
    assert.ok(toCaller.seq < toCallee.seq, 'the caller is told first');
    assert.equal(toCaller.port, PORT, 'from the signaling port');
    await a.media(port, Buffer.from('late'));
    assert.deepEqual(await b.peer.drain(150), [], 'nothing relayed after the idle timeout');
    await a.send('BYE FROM:ia TO:ib\n');
    assert.match(await a.next(), /^ERROR [\x20-\x7e]+\n$/, 'a BYE for the ended call is refused');
    await b.quiet('nothing more for the callee');
    await Promise.all([a.close(), b.close()]);
  });

  test('a call cancelled by BYE while it rings does not time out', async () => {
    const a = await PlainUser.register('ca', PORT);
    const b = await PlainUser.register('cb', PORT);
    await a.send('CALL FROM:ca TO:cb\n');
    await b.next();
    await a.send('BYE FROM:ca TO:cb\n');
    assert.equal(await b.next(), 'BYE FROM:ca TO:cb\n');
    await a.quiet('no CALL_FAILED ... no answer after the answer timeout', 1200);
    assert.ok(!proxy.logs.some((l) => l.msg === 'call failed' && l.status === 408 && typeof l.callId === 'string' && l.callId.includes('ca|cb')), 'no failure route ran');
    await Promise.all([a.close(), b.close()]);
  });
});

describe('media port range', () => {
  let PORT: number;
  let proxy: ProxyProcess;
  let squatter: dgram.Socket;
  before(async () => {
    // Another program holds the middle port of a three-port range.
    squatter = dgram.createSocket({ type: 'udp6', ipv6Only: false });
    await new Promise<void>((resolve, reject) => { squatter.once('error', reject); squatter.bind(20051, '::', () => resolve()); });
    proxy = await ProxyProcess.start({ configFile: writeScript('ports', defaultLikeScript({ port: 0, ports: '20050-20052' })) });
    PORT = proxy.portOf('plain');
  });
  after(async () => {
    await proxy.stop();
    await new Promise<void>((r) => squatter.close(() => r()));
  });

  test('a port that cannot be bound is skipped; with no port free the ACK_CALL is withheld and both get CALL_FAILED', async () => {
    const u = await Promise.all(['pa', 'pb', 'pc', 'pd', 'pe', 'pf'].map((n) => PlainUser.register(n, PORT)));
    const [a, b, c, d, e, f] = u as [PlainUser, PlainUser, PlainUser, PlainUser, PlainUser, PlainUser];
    const first = await establishCall(a, b);
    const second = await establishCall(c, d);
    assert.deepEqual([first, second].sort(), [20050, 20052], '20051 is held by another program: skipped');
    await e.send('CALL FROM:pe TO:pf\n');
    await f.next();
    await f.send('ACK_CALL FROM:pf TO:pe\n');
    assert.equal(await e.next(), 'CALL_FAILED FROM:pf TO:pe no media port\n');
    assert.equal(await f.next(), 'CALL_FAILED FROM:pf TO:pe no media port\n');
    assert.deepEqual(await e.peer.drain(100), [], 'the ACK_CALL was not passed on');
    // Freeing a port makes the next call work again.
    await a.send('BYE FROM:pa TO:pb\n');
    await b.next();
    await proxy.waitForLog((l) => l.msg === 'media session ended' && l.port === first);
    assert.equal(await establishCall(e, f), first);
    await Promise.all(u.map((x) => x.close()));
  });
});
