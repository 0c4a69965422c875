/**
 * First figures for the plain protocol: calls per second (REGISTER + CALL + ACK_CALL with
 * MEDIA_PORT to both + BYE) and media packets per second through one session.
 * Bounded: each phase runs for a fixed time and stops by itself. Loopback only.
 *
 *   npm run bench:plain [-- --seconds 10 --concurrency 32]
 */
import { parseArgs } from 'node:util';
import { PlainUser } from '../test/helpers/plain-client.ts';
import { ProxyProcess, defaultLikeScript, writeScript } from '../test/helpers/proxy-process.ts';
import { Worker } from 'node:worker_threads';

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '10' }, concurrency: { type: 'string', default: '32' }, size: { type: 'string', default: '172' } } });
const SECONDS = Number(values.seconds);
const CONCURRENCY = Number(values.concurrency);
const SIZE = Number(values.size);
const PORT = 37001;

async function callLoop(worker: number, deadline: number): Promise<number> {
  let done = 0;
  while (Date.now() < deadline) {
    const a = await PlainUser.register(`w${worker}a`, PORT);
    const b = await PlainUser.register(`w${worker}b`, PORT);
    await a.send(`CALL FROM:${a.name} TO:${b.name}\n`);
    await b.next(5000);
    await b.send(`ACK_CALL FROM:${b.name} TO:${a.name}\n`);
    await a.next(5000); // ACK_CALL
    await a.next(5000); // MEDIA_PORT
    await b.next(5000); // MEDIA_PORT
    await a.send(`BYE FROM:${a.name} TO:${b.name}\n`);
    await b.next(5000);
    await Promise.all([a.close(), b.close()]);
    done++;
  }
  return done;
}

/**
 * A paced UDP sender in its own thread (so this process's receiving side is never starved),
 * on one socket for all steps: the relay latched to it and will not latch again.
 */
const SENDER = `
const { parentPort, workerData } = require('node:worker_threads');
const dgram = require('node:dgram');
const { port, size } = workerData;
const s = dgram.createSocket('udp4');
const payload = Buffer.alloc(size, 0x80);
s.bind(0, '127.0.0.1', () => parentPort.postMessage('ready'));
parentPort.on('message', (m) => {
  if (m === 'close') { s.close(); parentPort.close(); return; }
  const { pps, seconds } = m;
  const start = process.hrtime.bigint();
  let sent = 0;
  const tick = () => {
    const elapsed = Number(process.hrtime.bigint() - start) / 1e9;
    if (elapsed >= seconds) { parentPort.postMessage(sent); return; }
    const due = Math.floor(elapsed * pps);
    while (sent < due) { s.send(payload, port, '127.0.0.1'); sent++; }
    setImmediate(tick);
  };
  tick();
});`;

class PacedSender {
  private constructor(private readonly w: Worker) {}
  static async start(port: number): Promise<PacedSender> {
    const w = new Worker(SENDER, { eval: true, workerData: { port, size: SIZE } });
    await new Promise((resolve, reject) => { w.once('message', resolve); w.once('error', reject); });
    return new PacedSender(w);
  }
  run(pps: number, seconds: number): Promise<number> {
    const done = new Promise<number>((resolve) => this.w.once('message', resolve));
    this.w.postMessage({ pps, seconds });
    return done;
  }
  close(): void {
    this.w.postMessage('close');
  }
}

/** Steps the offered rate up; the figure is the highest step relayed with < 0.1 % loss. */
async function mediaLossFree(stepSeconds: number): Promise<{ pps: number; steps: string[] }> {
  const a = await PlainUser.register('mediaa', PORT, 4);
  const b = await PlainUser.register('mediab', PORT, 6);
  await a.send('CALL FROM:mediaa TO:mediab\n');
  await b.next();
  await b.send('ACK_CALL FROM:mediab TO:mediaa\n');
  await a.next();
  const port = Number((await a.next()).trim().split(' ').pop());
  await b.next();
  let received = 0;
  // The sink must not be what drops: give it the same deep queue as the relay's sockets.
  b.peer.socket.setRecvBufferSize(4 * 1024 * 1024);
  b.peer.socket.on('message', () => { received++; });
  const sender = await PacedSender.start(port);
  const steps: string[] = [];
  let best = 0;
  for (const pps of [10_000, 20_000, 40_000, 60_000, 80_000, 100_000, 120_000, 150_000]) {
    received = 0;
    const sent = await sender.run(pps, stepSeconds);
    await new Promise((r) => setTimeout(r, 300));
    const loss = 1 - received / sent;
    steps.push(`${pps / 1000}k: ${(loss * 100).toFixed(2)} %`);
    if (loss < 0.001) best = Math.round(received / stepSeconds);
    else if (loss > 0.05) break;
  }
  sender.close();
  await a.send('BYE FROM:mediaa TO:mediab\n');
  await Promise.all([a.close(), b.close()]);
  return { pps: best, steps };
}

const proxy = await ProxyProcess.start({ configFile: writeScript('bench', defaultLikeScript({ port: PORT, ports: '23000-23999' })), args: ['--log-level', 'info'] });
try {
  const deadline = Date.now() + SECONDS * 1000;
  const t0 = performance.now();
  const counts = await Promise.all(Array.from({ length: CONCURRENCY }, (_, i) => callLoop(i, deadline)));
  const elapsed = (performance.now() - t0) / 1000;
  const calls = counts.reduce((x, y) => x + y, 0);
  console.log(`plain calls: ${calls} complete calls (REGISTER x2, CALL, ACK_CALL, MEDIA_PORT x2, BYE) in ${elapsed.toFixed(1)} s with ${CONCURRENCY} callers = ${(calls / elapsed).toFixed(0)} calls/s`);
  const m = await mediaLossFree(3);
  console.log(`media, one session, ${SIZE}-byte packets one way, offered rate: loss = ${m.steps.join(', ')}`);
  console.log(`media, one session: ${m.pps} packets/s relayed with < 0.1 % loss`);
} finally {
  await proxy.stop();
}
