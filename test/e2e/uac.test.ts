/**
 * The UAC core: a module originates requests of the proxy's own (here an OPTIONS health probe)
 * through `core.originate`, each in its own client transaction; a real SIP peer (SIPp) answers
 * it, and a peer that never answers gives a local 408 within the probe's timeout.
 */
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { after, before, describe, test } from 'node:test';
import { Switchyard } from '../../core/boot/switchyard.ts';
import { createLogger } from '../../core/lib/log.ts';
import { loadScript } from '../../core/script/load.ts';
import { writeScript } from '../helpers/proxy-process.ts';
import { header, SipUa } from '../helpers/sip-ua.ts';
import { startSipp } from '../helpers/sipp.ts';

/** A module declared in the script itself, importing only the module kit. */
const script = `import { z } from 'zod';
import { defineProxy } from 'switchyard';
import { defineModule, fn } from 'switchyard/module';

const prober = defineModule({
  name: 'prober',
  description: 'sends OPTIONS probes',
  schema: z.object({ timeoutMs: z.number().int().positive().default(800) }),
  setup: () => ({}),
  functions: ({ core, config }) => ({
    probe: fn(['request'], async (_mc, uri: string) => {
      const r = await core.originate({ dialect: 'sip', method: 'OPTIONS', uri, timeoutMs: config().timeoutMs, headers: [['Accept', 'application/sdp']] });
      return { ok: r.status >= 200 && r.status < 300, status: r.status, reason: r.reason, allow: r.reply === null ? null : 'answered' };
    }),
  }),
});

export default defineProxy({
  listen: [{ dialect: 'sip', host: '127.0.0.1', port: 0, transports: ['udp'] }],
  modules: [prober()],
  routes: {
    async request(ctx) {
      if (ctx.msg.method !== 'MESSAGE') return ctx.respond(405);
      const r = await ctx.probe('sip:probe@127.0.0.1:' + ctx.msg.ruri.user);
      if (!('status' in r)) return ctx.respond(500, 'prober disabled');
      return ctx.respond(200, 'probe ' + r.status + ' ' + r.reason + ' ' + r.allow);
    },
  },
});
`;

function message(ua: SipUa, proxyPort: number, user: string, n: number): string {
  return [
    `MESSAGE sip:${user}@127.0.0.1:${proxyPort} SIP/2.0`,
    `Via: SIP/2.0/UDP ${ua.hostport};branch=z9hG4bK-uac-${n};rport`,
    'Max-Forwards: 70',
    `From: <sip:tester@${ua.hostport}>;tag=t${n}`,
    `To: <sip:${user}@127.0.0.1>`,
    `Call-ID: uac-test-${n}`,
    `CSeq: ${n} MESSAGE`,
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
}

/** A free UDP port: bound, then closed (for SIPp to take, or for nothing to answer on). */
async function silentPort(): Promise<number> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
  const port = s.address().port;
  s.close();
  return port;
}

describe('UAC core: requests the proxy originates', () => {
  let proxy: Switchyard;
  let ua: SipUa;
  before(async () => {
    proxy = await Switchyard.boot(await loadScript(writeScript('uac', script)), createLogger({ level: 'silent' }), { watch: false });
    ua = await SipUa.open();
  });
  after(async () => {
    ua.close();
    await proxy.stop();
  });

  test('an OPTIONS probe to a real peer: SIPp sees a well-formed request and its 200 reaches the module', async () => {
    const sippPort = await silentPort();
    const sipp = startSipp('uas_options.xml', ['-i', '127.0.0.1', '-p', String(sippPort), '-m', '1'], 15_000);
    // SIPp listens once it has started: keep probing until one probe is answered, within a deadline.
    let reason = '';
    for (let n = 1; n <= 20 && !/probe 200/.test(reason); n++) {
      ua.send(message(ua, proxy.sipPort!, String(sippPort), n), proxy.sipPort!);
      reason = (await ua.next(/^SIP\/2\.0 200/, 3000)).split('\r\n')[0]!;
    }
    assert.match(reason, /^SIP\/2\.0 200 probe 200 OK answered$/);
    const run = await sipp.done;
    assert.equal(run.code, 0, run.output);
    const options = sipp.messages().split('\n\n').find((m) => /OPTIONS sip:probe@127\.0\.0\.1/.test(m))!;
    assert.ok(options, 'SIPp received the OPTIONS');
    assert.match(header(options.replace(/\n/g, '\r\n'), 'Via')!, /^SIP\/2\.0\/UDP 127\.0\.0\.1:\d+;branch=z9hG4bK\S+;rport$/);
    assert.match(options, /\nCSeq: 1 OPTIONS/);
    assert.match(options, /\nFrom: <sip:switchyard@127\.0\.0\.1:\d+>;tag=\S+/);
    assert.match(options, /\nMax-Forwards: 70/);
    assert.match(options, /\nAccept: application\/sdp/);
  });

  test('a peer that never answers: a local 408 once the probe times out, and the proxy serves on', async () => {
    const port = await silentPort();
    const started = Date.now();
    ua.send(message(ua, proxy.sipPort!, String(port), 100), proxy.sipPort!);
    const r = await ua.next(/^SIP\/2\.0 200/, 5000);
    assert.match(r.split('\r\n')[0]!, /^SIP\/2\.0 200 probe 408 Request Timeout null$/);
    assert.ok(Date.now() - started < 4000, 'the probe gave up at its own timeout, not Timer F');
  });
});
