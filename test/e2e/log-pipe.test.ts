/**
 * The log never stops or grows the proxy (issue 17, item 5): a log reader that goes away (EPIPE)
 * does not kill it; one that stops reading does not grow its memory without bound (lines are
 * dropped, and counted in a line once it reads again); SIGTERM still exits. The proxy keeps
 * answering throughout.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import path from 'node:path';
import { describe, test } from 'node:test';
import { rssMb } from '../helpers/legit-call.ts';
import { REPO, writeScript } from '../helpers/proxy-process.ts';

const LOOP = '127.0.0.1';
const PROXY = 62960; // above the kernel's ephemeral ports and the tests' relay ranges (test/helpers/free-ports.ts)

const SCRIPT = `import { defineProxy } from 'switchyard';
export default defineProxy({
  listen: [{ dialect: 'sip', port: ${PROXY} }],
  modules: [],
  routes: { request(ctx) { return ctx.respond(404); } },
});
`;

/** Starts the proxy at debug level (a log line per unparsable datagram), reading its stdout until it has started. */
async function start(): Promise<{ child: ChildProcess; exited: Promise<number | null>; before: string }> {
  const child = spawn(process.execPath, [path.join(REPO, 'bin', 'switchyard.mjs'), '--config', writeScript('log-pipe', SCRIPT), '--log-level', 'debug', '--no-watch'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  let err = '';
  child.stderr!.setEncoding('utf8').on('data', (c: string) => { err += c; });
  let out = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no start within 60 s: ${out}${err}`)), 60_000);
    const on = (c: Buffer): void => {
      out += c.toString();
      if (out.includes('switchyard started')) {
        clearTimeout(timer);
        child.stdout!.off('data', on);
        child.stdout!.pause();
        resolve();
      }
    };
    child.stdout!.on('data', on);
  });
  return { child, exited, before: out };
}

/** Junk datagrams, each worth a debug log line; paced so the proxy reads them. */
async function flood(udp: dgram.Socket, count: number): Promise<void> {
  const junk = Buffer.from(`NOT SIP ${'x'.repeat(900)}`);
  for (let i = 0; i < count; i++) {
    udp.send(junk, PROXY, LOOP);
    if (i % 200 === 199) await new Promise((r) => setTimeout(r, 2));
  }
  await new Promise((r) => setTimeout(r, 300));
}

/** An OPTIONS answered by the route (404): the event loop is serving. */
async function answers(udp: dgram.Socket): Promise<boolean> {
  const callId = `probe-${Math.random().toString(36).slice(2)}`;
  const port = udp.address().port;
  const got = new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => { udp.off('message', on); resolve(false); }, 5000);
    const on = (m: Buffer): void => {
      if (!m.toString('latin1').includes(callId)) return;
      clearTimeout(timer);
      udp.off('message', on);
      resolve(true);
    };
    udp.on('message', on);
  });
  udp.send(Buffer.from([
    `OPTIONS sip:x@${LOOP}:${PROXY} SIP/2.0`, `Via: SIP/2.0/UDP ${LOOP}:${port};branch=z9hG4bK-${callId}`, 'Max-Forwards: 70',
    `From: <sip:p@${LOOP}>;tag=p`, `To: <sip:x@${LOOP}>`, `Call-ID: ${callId}`, 'CSeq: 1 OPTIONS', 'Content-Length: 0', '', '',
  ].join('\r\n')), PROXY, LOOP);
  return got;
}

async function udpSocket(): Promise<dgram.Socket> {
  const udp = dgram.createSocket('udp4');
  await new Promise<void>((r) => udp.bind(0, LOOP, r));
  return udp;
}

describe('the log pipe', () => {
  test('a reader that stops reading: memory stays bounded, lines are dropped and counted, SIGTERM exits', async () => {
    const { child, exited } = await start();
    const udp = await udpSocket();
    try {
      await flood(udp, 30_000);
      const rss1 = rssMb(child.pid!);
      await flood(udp, 60_000);
      const rss2 = rssMb(child.pid!);
      assert.ok(rss2 < rss1 + 30, `memory bounded while nobody reads the log: ${rss1.toFixed(0)} -> ${rss2.toFixed(0)} MB`);
      assert.equal(await answers(udp), true, 'the proxy answers while its log is stuck');
      // The reader comes back: the backlog drains and a line counts what was dropped.
      let out = '';
      child.stdout!.on('data', (c: Buffer) => { out += c.toString(); });
      child.stdout!.resume();
      await new Promise((r) => setTimeout(r, 500));
      await flood(udp, 10);
      const end = Date.now() + 5000;
      while (!out.includes('log lines dropped') && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
      const note = out.split('\n').find((l) => l.includes('log lines dropped'));
      assert.ok(note !== undefined, 'a line reports the dropped lines');
      assert.ok((JSON.parse(note).dropped as number) > 0);
      // And with the reader stuck again, SIGTERM still ends it.
      child.stdout!.pause();
      await flood(udp, 30_000);
      child.kill('SIGTERM');
      const code = await Promise.race([exited, new Promise<'hung'>((r) => setTimeout(() => r('hung'), 10_000))]);
      assert.equal(code, 0, 'SIGTERM exits cleanly though the log reader is stuck');
    } finally {
      udp.close();
      child.kill('SIGKILL');
    }
  });

  test('a reader that goes away (EPIPE) does not kill the proxy', async () => {
    const { child, exited } = await start();
    const udp = await udpSocket();
    try {
      child.stdout!.destroy();
      await flood(udp, 5_000);
      assert.equal(child.exitCode, null, 'still running after writing to a closed pipe');
      assert.equal(await answers(udp), true, 'and answering');
      child.kill('SIGTERM');
      const code = await Promise.race([exited, new Promise<'hung'>((r) => setTimeout(() => r('hung'), 10_000))]);
      assert.equal(code, 0);
    } finally {
      udp.close();
      child.kill('SIGKILL');
    }
  });
});
