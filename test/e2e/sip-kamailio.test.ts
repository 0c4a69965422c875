/**
 * Interoperability with Kamailio as a second hop: caller -> switchyard -> Kamailio -> callee,
 * both proxies record-routing; the caller's BYE carries two Route headers and reaches the callee.
 * This file's listener runs on node:dgram (`udpEngine: 'js'`), the other SIP files' on the
 * default engine (native when built), so SIP is exercised end to end on both.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import { mkdtempSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { ProxyProcess, REPO, TMP, writeScript } from '../helpers/proxy-process.ts';
import { freePort, freeRange } from '../helpers/ports.ts';
import { receivedMediaPort, runSipp, sentMessage, sippVersion, startSipp, traceOf } from '../helpers/sipp.ts';

const LOOP = '127.0.0.1';
const PROXY = await freePort();
const KAMAILIO = await freePort();
const UAS = await freePort();
const UAC = await freePort();
const RELAY = await freeRange(100).then((r) => ({ min: Number(r.split('-')[0]), max: Number(r.split('-')[1]) }));

const SCRIPT = `import { defineProxy } from 'switchyard';
import { callRouting, dialog, mediaRelay, registrar } from 'switchyard/modules';

export default defineProxy({
  listen: [{ dialect: 'sip', port: ${PROXY}, advertise: '${LOOP}', udpEngine: 'js' }],
  modules: [registrar(), dialog(), callRouting(), mediaRelay({ ports: '${RELAY.min}-${RELAY.max}', advertise: '${LOOP}' })],
  routes: {
    request(ctx) {
      if (ctx.msg.inDialog) return ctx.forwardCall();
      if (ctx.msg.method === 'INVITE') {
        ctx.engageMediaProxy();
        ctx.recordRoute();
        // bob lives behind the Kamailio next door.
        return ctx.forwardCall({ toUri: 'sip:' + ctx.msg.ruri.user + '@${LOOP}:${KAMAILIO}' });
      }
      return ctx.respond(405, 'Method Not Allowed');
    },
  },
});
`;

let proxy: ProxyProcess;
let kamailio: ChildProcess;
let kamailioLog = '';

/** Kamailio is up once it answers an OPTIONS. */
async function kamailioAnswers(): Promise<void> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, LOOP, r));
  let answered = false;
  s.on('message', () => { answered = true; });
  const opts = (n: number): string => [
    `OPTIONS sip:ping@${LOOP}:${KAMAILIO} SIP/2.0`, `Via: SIP/2.0/UDP ${LOOP}:${s.address().port};branch=z9hG4bK-ping${n};rport`, 'Max-Forwards: 70',
    `From: <sip:t@${LOOP}>;tag=p`, `To: <sip:ping@${LOOP}>`, `Call-ID: ping-${n}`, `CSeq: ${n} OPTIONS`, 'Content-Length: 0', '', '',
  ].join('\r\n');
  try {
    for (let n = 1; n <= 100 && !answered; n++) {
      s.send(opts(n), KAMAILIO, LOOP);
      await new Promise((r) => setTimeout(r, 100));
    }
  } finally {
    s.close();
  }
  if (!answered) throw new Error(`Kamailio did not come up:\n${kamailioLog}`);
}

before(async () => {
  sippVersion();
  if (spawnSync('kamailio', ['-v']).error !== undefined) throw new Error('Kamailio is not installed (apt-get install -y kamailio)');
  const runDir = mkdtempSync(path.join(TMP, 'kamailio-'));
  kamailio = spawn('kamailio', ['-f', path.join(REPO, 'test', 'sip', 'kamailio.cfg'), '-DD', '-E', '-l', `udp:${LOOP}:${KAMAILIO}`, '-Y', runDir, '-m', '64', '-M', '8', '-a', 'no'], { stdio: ['ignore', 'pipe', 'pipe'] });
  kamailio.stdout!.on('data', (c: Buffer) => { kamailioLog += c.toString(); });
  kamailio.stderr!.on('data', (c: Buffer) => { kamailioLog += c.toString(); });
  await kamailioAnswers();
  proxy = await ProxyProcess.start({ configFile: writeScript('sip-kamailio', SCRIPT) });
});

after(async () => {
  await proxy?.stop();
  kamailio?.kill('SIGTERM');
  await new Promise((r) => setTimeout(r, 300));
  kamailio?.kill('SIGKILL');
});

test('a call across switchyard and Kamailio, both record-routing: the BYE carries two Route headers and reaches the callee', async () => {
  const reg = await runSipp('register_once.xml', [`${LOOP}:${KAMAILIO}`, '-s', 'bob', '-i', LOOP, '-p', String(UAS), '-m', '1']);
  assert.equal(reg.code, 0, `bob registers at Kamailio: ${reg.output}\n${kamailioLog}`);
  const uas = startSipp('uas.xml', ['-i', LOOP, '-p', String(UAS), '-m', '1', '-key', 'mport', String(await freePort())]);
  await new Promise((r) => setTimeout(r, 300));
  const uac = await runSipp('uac.xml', [`${LOOP}:${PROXY}`, '-s', 'bob', '-i', LOOP, '-p', String(UAC), '-m', '1', '-d', '200', '-key', 'mport', String(await freePort())]);
  const s = await uas.done;
  assert.equal(uac.code, 0, `caller: ${uac.output}`);
  assert.equal(s.code, 0, `callee: ${s.output}\n${kamailioLog}`);

  const bye = sentMessage(traceOf(uac.dir), /^BYE /);
  assert.ok(bye !== undefined, 'the caller sent a BYE');
  const routes = [...bye.matchAll(/\nRoute: ([^\r\n]+)/g)].flatMap((m) => m[1]!.split(','));
  assert.equal(routes.length, 2, `two Route entries: ${routes.join(' | ')}`);
  assert.ok(routes[0]!.includes(`sip:127.0.0.1:${PROXY};lr`), `switchyard first: ${routes[0]}`);
  assert.ok(routes[1]!.includes(`sip:127.0.0.1:${KAMAILIO};lr`), `then Kamailio: ${routes[1]}`);
  // The callee got the BYE (its scenario ends only then), and its SDP came through switchyard's relay.
  const port = receivedMediaPort(traceOf(s.dir), /^INVITE/);
  assert.ok(port !== null && port >= RELAY.min && port <= RELAY.max, `relay port in the callee's SDP (${port})`);
});
