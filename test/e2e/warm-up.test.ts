/**
 * The start-up warm-up (cli/warm-up): whole calls through a private proxy before the real one
 * listens. It must complete its calls, use the operator's media port range, leave nothing of
 * itself in the real proxy (no registration, no transaction), and never stop a start.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Writable } from 'node:stream';
import { Switchyard } from '../../core/boot/switchyard.ts';
import { createLogger } from '../../core/lib/log.ts';
import { loadScript } from '../../core/script/load.ts';
import { warmUp } from '../../cli/warm-up/warm-up.ts';
import { startProxy } from '../../cli/start.ts';
import { playCalls } from '../../cli/warm-up/call-player.ts';
import { writeScript, type LogLine } from '../helpers/proxy-process.ts';
import { SipUa } from '../helpers/sip-ua.ts';
import { freePort, freeRange } from '../helpers/ports.ts';

const SIP_PORT = await freePort('127.0.0.1');
const MEDIA = await freeRange(20);

function capture(): { log: ReturnType<typeof createLogger>; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString('utf8').split('\n')) if (l !== '') lines.push(JSON.parse(l) as LogLine);
      done();
    },
  });
  return { log: createLogger({ level: 'debug', pretty: false, destination }), lines };
}

const script = (): string => `import { defineProxy } from 'switchyard';
import { callRouting, dialog, mediaRelay, registrar } from 'switchyard/modules';
export default defineProxy({
  listen: [{ dialect: 'sip', host: '127.0.0.1', port: ${SIP_PORT}, transports: ['udp'] }],
  // The player's calls all come from one loopback source: the whole (small) range is theirs.
  modules: [registrar(), dialog(), callRouting(), mediaRelay({ ports: '${MEDIA}', maxPortsPerSource: 20 })],
  routes: {
    request(ctx) {
      if (ctx.msg.method === 'REGISTER') return ctx.register();
      if (ctx.msg.inDialog) return ctx.forwardCall();
      ctx.engageMediaProxy();
      ctx.recordRoute();
      return ctx.forwardCall();
    },
  },
});
`;

describe('start-up warm-up', () => {
  test('plays its registrations and calls through a private proxy whose relay takes ports from the operator range', async () => {
    const operator = await loadScript(writeScript('warm-up-range', script()));
    const { log, lines } = capture();
    const ports: number[] = [];
    await warmUp(operator, async (s) => {
      const relay = s.modules.find((m) => m.name === 'media-relay');
      assert.equal(relay?.config.ports, MEDIA, 'the private relay has the operator range');
      const proxy = await Switchyard.boot(s, createLogger({ level: 'silent' }), { watch: false });
      ports.push(proxy.sipPort!);
      return proxy;
    }, log, 40);
    const done = lines.find((l) => l.msg === 'call path warmed up');
    assert.ok(done, `no 'call path warmed up' line: ${JSON.stringify(lines)}`);
    assert.equal(done.registered, 40);
    assert.equal(done.completed, 40);
    assert.equal(done.stalled, 0);
    assert.notEqual(ports[0], SIP_PORT, 'the private proxy listens on a port of its own');
  });

  test('a proxy started after the warm-up knows none of its registrations or transactions', async () => {
    const proxy = await startProxy({ configFile: writeScript('warm-up-clean', script()), watch: false, warmUp: true, logger: createLogger({ level: 'silent' }) });
    const ua = await SipUa.open();
    try {
      assert.deepEqual(proxy.stats().transactions, { plain: 0, sip: 0 });
      // The warm-up registered 'bob'; here bob is unknown.
      ua.send(`INVITE sip:bob@127.0.0.1:${SIP_PORT} SIP/2.0
Via: SIP/2.0/UDP ${ua.hostport};branch=z9hG4bKwarmcheck;rport
From: <sip:alice@${ua.hostport}>;tag=a
To: <sip:bob@127.0.0.1>
Call-ID: warm-check
CSeq: 1 INVITE
Contact: <sip:alice@${ua.hostport}>
Max-Forwards: 70
Content-Length: 0

`, SIP_PORT);
      const reply = await ua.next(/^SIP\/2\.0 [2-6]\d\d /);
      assert.match(reply.split('\r\n')[0]!, /^SIP\/2\.0 404 /);
      // The same calls now run through the real proxy once bob registers: the player works against it too.
      const played = await playCalls({ host: '127.0.0.1', port: SIP_PORT, calls: 10, concurrency: 2 });
      assert.deepEqual(played, { completed: 10, stalled: 0 });
    } finally {
      ua.close();
      await proxy.stop();
    }
  });

  test('a warm-up that fails is logged and the start goes on', async () => {
    const operator = await loadScript(writeScript('warm-up-fail', script()));
    const { log, lines } = capture();
    await warmUp(operator, () => Promise.reject(new Error('no sockets today')), log, 10);
    const skipped = lines.find((l) => l.msg === 'start-up warm-up skipped');
    assert.ok(skipped, `no warning: ${JSON.stringify(lines)}`);
    assert.match(JSON.stringify(skipped.err), /no sockets today/);
  });
});
