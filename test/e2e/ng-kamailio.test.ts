/**
 * Kamailio's own rtpengine module drives the NG server: its start-up ping, then a call from SIPp through Kamailio
 * (rtpengine_offer on the INVITE, rtpengine_answer on the 200, rtpengine_delete on the BYE)
 * to SIPp, with a test handler behind the server that rewrites the SDP. What the module sends
 * must validate, and what the server answers must be taken by the module unchanged.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import type { NgHandler } from '../../modules/media-relay/ng/handler.ts';
import type { NgAnswerRequest, NgDeleteRequest, NgOfferRequest, NgRequest } from '../../modules/media-relay/ng/messages.ts';
import { NgServer } from '../../modules/media-relay/ng/server.ts';
import { TMP } from '../helpers/proxy-process.ts';
import { received, runSipp, sippVersion, startSipp, traceOf } from '../helpers/sipp.ts';
import { kamailioRtpengineConfig } from '../helpers/kamailio-rtpengine.ts';

const LOOP = '127.0.0.1';
/** The ports the handler writes into the SDP each side receives. */
const TO_CALLEE = 40_002;
const TO_CALLER = 40_004;
const FLAGS = 'trust-address replace-origin replace-session-connection ICE=remove';

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = dgram.createSocket('udp4');
    s.once('error', reject);
    s.bind(0, LOOP, () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function config(ngPort: number, uasPort: number): string {
  return kamailioRtpengineConfig(ngPort, uasPort, FLAGS, FLAGS);
}

class RecordingHandler implements NgHandler {
  readonly seen: NgRequest[] = [];
  private ponged: () => void = () => undefined;
  /** Resolves at the first ping. */
  readonly pinged = new Promise<void>((resolve) => { this.ponged = resolve; });

  async ping(r: NgRequest) {
    this.seen.push(r);
    this.ponged();
    return { ok: true as const };
  }

  private rewrite(sdp: Buffer, port: number): string {
    return sdp.toString().replace(/^m=audio \d+ /m, `m=audio ${port} `).replace(/^c=IN IP4 .*$/m, `c=IN IP4 ${LOOP}\r`);
  }

  async offer(r: NgOfferRequest) {
    this.seen.push(r);
    return { ok: true as const, sdp: this.rewrite(r.sdp, TO_CALLEE) };
  }

  async answer(r: NgAnswerRequest) {
    this.seen.push(r);
    return { ok: true as const, sdp: this.rewrite(r.sdp, TO_CALLER) };
  }

  async delete(r: NgDeleteRequest) {
    this.seen.push(r);
    return { ok: true as const, stats: { created: 1, lastSignal: 1, tags: [], totals: { rtp: { packets: 0, bytes: 0, errors: 0 }, rtcp: { packets: 0, bytes: 0, errors: 0 } } } };
  }

  async query() {
    return { ok: false as const, reason: 'Unknown call-id' };
  }

  async list() {
    return { ok: true as const, calls: [] };
  }

  async statistics() {
    return { ok: true as const, statistics: {} };
  }
}

let kamailio: ChildProcess | undefined;
let kamailioLog = '';
let server: NgServer;
const handler = new RecordingHandler();
let kamailioPort = 0;
let uasPort = 0;
let uacPort = 0;

/**
 * Kamailio is up once its rtpengine module has pinged the NG server: it does so as each worker
 * starts, after the SIP socket is bound. Fails early if Kamailio exits, or after 10 s.
 */
async function kamailioPinged(child: ChildProcess): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const exited = new Promise<never>((_, reject) => child.once('exit', (code) => reject(new Error(`Kamailio exited (${code}):\n${kamailioLog}`))));
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`Kamailio's rtpengine module did not ping within 10 s:\n${kamailioLog}`)), 10_000);
  });
  try {
    await Promise.race([handler.pinged, exited, late]);
  } finally {
    clearTimeout(timer);
  }
}

before(async () => {
  sippVersion();
  if (spawnSync('kamailio', ['-v']).error !== undefined) throw new Error('Kamailio is not installed (apt-get install -y kamailio)');
  server = await NgServer.listen({ host: LOOP, port: 0, handler });
  [kamailioPort, uasPort, uacPort] = [await freePort(), await freePort(), await freePort()];
  mkdirSync(TMP, { recursive: true });
  const dir = mkdtempSync(path.join(TMP, 'ng-kamailio-'));
  const cfg = path.join(dir, 'kamailio.cfg');
  writeFileSync(cfg, config(server.port, uasPort));
  kamailio = spawn('kamailio', ['-f', cfg, '-DD', '-E', '-l', `udp:${LOOP}:${kamailioPort}`, '-Y', dir, '-m', '64', '-M', '8', '-a', 'no'], { stdio: ['ignore', 'pipe', 'pipe'] });
  kamailio.stdout!.on('data', (c: Buffer) => { kamailioLog += c.toString(); });
  kamailio.stderr!.on('data', (c: Buffer) => { kamailioLog += c.toString(); });
  await kamailioPinged(kamailio);
});

after(async () => {
  if (kamailio !== undefined && kamailio.exitCode === null) {
    const exited = new Promise((r) => kamailio!.once('exit', r));
    kamailio.kill('SIGTERM');
    const timer = setTimeout(() => kamailio!.kill('SIGKILL'), 3000);
    await exited;
    clearTimeout(timer);
  }
  await server?.close();
});

test('a call through Kamailio\'s rtpengine module: offer, answer and delete reach the NG server, its SDP reaches both sides', async () => {
  const uas = startSipp('uas.xml', ['-i', LOOP, '-p', String(uasPort), '-m', '1', '-key', 'mport', '24950']);
  const uac = await runSipp('uac.xml', [`${LOOP}:${kamailioPort}`, '-s', 'bob', '-i', LOOP, '-p', String(uacPort), '-m', '1', '-d', '200', '-key', 'mport', '24952']);
  const callee = await uas.done;
  assert.equal(uac.code, 0, `caller: ${uac.output}\n${kamailioLog}`);
  assert.equal(callee.code, 0, `callee: ${callee.output}\n${kamailioLog}`);

  const invite = received(traceOf(callee.dir)).find((m) => m.startsWith('INVITE'));
  assert.match(invite ?? '', new RegExp(`\\nm=audio ${TO_CALLEE} RTP/AVP`), 'the callee got the offer the server answered');
  const ok = received(traceOf(uac.dir)).find((m) => m.startsWith('SIP/2.0 200') && m.includes('application/sdp'));
  assert.match(ok ?? '', new RegExp(`\\nm=audio ${TO_CALLER} RTP/AVP`), 'the caller got the answer the server answered');

  assert.equal(handler.seen[0]?.command, 'ping', 'the module pinged the server as it started');
  const [offer, answer, del] = [handler.seen.find((r) => r.command === 'offer'), handler.seen.find((r) => r.command === 'answer'), handler.seen.find((r) => r.command === 'delete')];
  assert.ok(offer?.command === 'offer' && answer?.command === 'answer' && del?.command === 'delete', `commands seen: ${handler.seen.map((r) => r.command).join(', ')}`);
  assert.ok(offer.flags.has('trust-address'));
  assert.deepEqual([...offer.replace].sort(), ['origin', 'session-connection']);
  assert.equal(offer.ice, 'remove');
  assert.deepEqual(offer.receivedFrom, { family: 'IP4', address: LOOP });
  assert.ok(offer.supports.has('load-limit'));
  assert.match(offer.sdp.toString(), /m=audio 24952 RTP\/AVP/);
  assert.equal(answer.callId, offer.callId);
  assert.equal(answer.fromTag, offer.fromTag, 'the caller\'s tag is the from-tag of both');
  assert.ok(answer.toTag.length > 0);
  assert.match(answer.sdp.toString(), /m=audio 24950 RTP\/AVP/);
  assert.equal(del.callId, offer.callId);
  const stats = server.stats();
  assert.equal(stats.refused.invalid + stats.refused.badBencode + stats.refused.unknownCommand, 0, 'everything the module sent validated');
});
