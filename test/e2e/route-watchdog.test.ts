/**
 * A route that blocks the event loop (issue 17, item 6): the watchdog reports it with the route
 * script's file:line while it runs, and ends a process whose loop never returns so that a
 * supervisor can start a fresh one (here the test plays the supervisor), which serves again.
 */
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { after, describe, test } from 'node:test';
import { ProxyProcess, writeScript } from '../helpers/proxy-process.ts';

const LOOP = '127.0.0.1';
const PROXY = 62160;

const SCRIPT = `import { defineProxy } from 'switchyard';

export default defineProxy({
  listen: [{ dialect: 'sip', port: ${PROXY}, transports: ['udp'] }],
  modules: [],
  routes: {
    request(ctx) {
      if (ctx.msg.method === 'MESSAGE') {
        while (Date.now() > 0) { /* a route that never returns */ }
      }
      return ctx.respond(480, 'served');
    },
  },
});
`;
const LOOP_LINE = 9;
const env = { ...process.env, SWITCHYARD_BLOCKED_MS: '500' };

let udp: dgram.Socket | undefined;
let proxy: ProxyProcess | undefined;
after(async () => {
  udp?.close();
  if (proxy !== undefined) await proxy.stop();
});

function send(method: string): string {
  const callId = `w-${Math.random().toString(36).slice(2)}`;
  udp!.send(Buffer.from([
    `${method} sip:x@${LOOP}:${PROXY} SIP/2.0`, `Via: SIP/2.0/UDP ${LOOP}:${udp!.address().port};branch=z9hG4bK-${callId}`, 'Max-Forwards: 70',
    `From: <sip:p@${LOOP}>;tag=p`, `To: <sip:x@${LOOP}>`, `Call-ID: ${callId}`, `CSeq: 1 ${method}`, 'Content-Length: 0', '', '',
  ].join('\r\n')), PROXY, LOOP);
  return callId;
}

function served(): Promise<boolean> {
  const callId = send('OPTIONS');
  return new Promise((resolve) => {
    const timer = setTimeout(() => { udp!.off('message', on); resolve(false); }, 5000);
    const on = (m: Buffer): void => {
      if (!m.toString('latin1').includes(callId)) return;
      clearTimeout(timer);
      udp!.off('message', on);
      resolve(true);
    };
    udp!.on('message', on);
  });
}

describe('a route that blocks the event loop', () => {
  test('is reported with the script\'s file:line; a loop that never returns ends the process; a fresh one serves', async () => {
    const file = writeScript('route-watchdog', SCRIPT);
    proxy = await ProxyProcess.start({ configFile: file, env });
    udp = dgram.createSocket('udp4');
    await new Promise<void>((r) => udp!.bind(0, LOOP, r));
    assert.equal(await served(), true);
    const exited = new Promise<NodeJS.Signals | null>((r) => proxy!.child.once('exit', (_code, signal) => r(signal)));
    send('MESSAGE');
    const blocked = await proxy.waitForLog((l) => typeof l.msg === 'string' && l.msg.startsWith('event loop blocked:'), 10_000);
    assert.equal(blocked.at, `${file}:${LOOP_LINE}`, `the report names the looping line: ${JSON.stringify(blocked.stack)}`);
    await proxy.waitForLog((l) => typeof l.msg === 'string' && l.msg.startsWith('event loop blocked for good'), 10_000);
    assert.equal(await Promise.race([exited, new Promise((r) => setTimeout(() => r('still running'), 10_000))]), 'SIGKILL');
    // The supervisor's part: a fresh process on the same script serves at once.
    proxy = await ProxyProcess.start({ configFile: file, env });
    assert.equal(await served(), true);
  });
});
