/**
 * A route script that never returns (issue 17, item 6): a reload whose script loops or awaits
 * forever at its top level is refused within the load bound while the old script keeps serving,
 * and later reloads still work.
 */
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { writeFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { ProxyProcess, writeScript } from '../helpers/proxy-process.ts';

const LOOP = '127.0.0.1';
const PROXY = 62060;

const script = (reason: string, top = ''): string => `import { defineProxy } from 'switchyard';
${top}
export default defineProxy({
  listen: [{ dialect: 'sip', port: ${PROXY}, transports: ['udp'] }],
  modules: [],
  routes: { request(ctx) { return ctx.respond(480, '${reason}'); } },
});
`;

let proxy: ProxyProcess;
let file: string;
let udp: dgram.Socket;

before(async () => {
  file = writeScript('script-bounds', script('first'));
  proxy = await ProxyProcess.start({ configFile: file, env: { ...process.env, SWITCHYARD_LOAD_TIMEOUT_MS: '3000' } });
  udp = dgram.createSocket('udp4');
  await new Promise<void>((r) => udp.bind(0, LOOP, r));
});
after(async () => {
  udp.close();
  assert.equal(await proxy.stop(), 0);
});

/** The reason phrase the serving script answers with. */
async function answer(): Promise<string> {
  const callId = `b-${Math.random().toString(36).slice(2)}`;
  const got = new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no answer')), 5000);
    const on = (m: Buffer): void => {
      const text = m.toString('latin1');
      if (!text.includes(callId) || !/^SIP\/2\.0 480 /.test(text)) return;
      clearTimeout(timer);
      udp.off('message', on);
      resolve(text.split('\r\n')[0]!.slice(12));
    };
    udp.on('message', on);
  });
  udp.send(Buffer.from([
    `OPTIONS sip:x@${LOOP}:${PROXY} SIP/2.0`, `Via: SIP/2.0/UDP ${LOOP}:${udp.address().port};branch=z9hG4bK-${callId}`, 'Max-Forwards: 70',
    `From: <sip:p@${LOOP}>;tag=p`, `To: <sip:x@${LOOP}>`, `Call-ID: ${callId}`, 'CSeq: 1 OPTIONS', 'Content-Length: 0', '', '',
  ].join('\r\n')), PROXY, LOOP);
  return got;
}

async function rewrite(source: string, outcome: 'refused' | 'script reloaded'): Promise<string> {
  const from = proxy.logs.length;
  writeFileSync(file, source);
  const line = await proxy.waitForLog((l) => (outcome === 'refused' ? typeof l.msg === 'string' && l.msg.startsWith('reload refused') : l.msg === outcome), 15_000, from);
  return String(line.msg);
}

describe('script loads are bounded', () => {
  test('a script that loops at its top level is refused; the old one keeps serving', async () => {
    assert.equal(await answer(), 'first');
    const msg = await rewrite(script('looping', 'while (Date.now() > 0) { /* never ends */ }'), 'refused');
    assert.match(msg, /did not finish loading within 3 s/);
    assert.equal(await answer(), 'first');
  });

  test('a script whose top-level await never settles is refused; later reloads still work', async () => {
    const msg = await rewrite(script('stuck', 'await new Promise(() => undefined);'), 'refused');
    assert.match(msg, /did not finish loading within 3 s/);
    assert.equal(await answer(), 'first');
    await rewrite(script('second'), 'script reloaded');
    assert.equal(await answer(), 'second');
  });
});
