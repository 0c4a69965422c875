/** Hot reload while a call is up: media keeps flowing, the new policy applies at once, broken scripts are refused. */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { PlainUser, establishCall } from '../helpers/plain-client.ts';
import { freePort, freeRange } from '../helpers/ports.ts';
import { ProxyProcess, writeScript, type LogLine } from '../helpers/proxy-process.ts';

let PORT: number;
/** The media range, and a narrower one inside it for the reload that changes it. */
let RANGE: string;
let NARROWER: string;

function script(o: { blocked: string[]; idleTimeoutSec?: number; ports?: string; extraModule?: string; throwFor?: string }): string {
  return `import { defineProxy } from 'switchyard';
import { callRouting, dialog, mediaRelay, registrar } from 'switchyard/modules';
import { rejectReason } from './policy.ts';

const BLOCKED = new Set<string>(${JSON.stringify(o.blocked)});

export default defineProxy({
  listen: [{ dialect: 'plain', port: ${PORT} }],
  modules: [registrar(), dialog(), callRouting(), mediaRelay({ ports: '${o.ports ?? RANGE}', idleTimeoutSec: ${o.idleTimeoutSec ?? 60} })${o.extraModule ?? ''}],
  routes: {
    async request(ctx) {
      const { msg } = ctx;
      if (msg.method === 'REGISTER') return ctx.register();
      if (msg.method === 'INVITE') {
        ${o.throwFor ? `if (msg.to.user === ${JSON.stringify(o.throwFor)}) throw new Error('policy bug');` : ''}
        if (BLOCKED.has(msg.to.user)) return ctx.respond(603, rejectReason());
        ctx.engageMediaProxy();
        return ctx.forwardCall();
      }
      if (msg.method === 'BYE') {
        ctx.endMediaSession();
        return ctx.forwardCall();
      }
    },
  },
});
`;
}

let proxy: ProxyProcess;
let file: string;
let policyFile: string;

/** Rewrites a watched file and waits for the reload's outcome line. */
async function rewrite(target: string, source: string, outcome: 'script reloaded' | 'refused'): Promise<LogLine> {
  const from = proxy.logs.length;
  writeFileSync(target, source);
  return proxy.waitForLog((l) => (outcome === 'refused' ? typeof l.msg === 'string' && l.msg.startsWith('reload refused') : l.msg === outcome), 8000, from);
}

before(async () => {
  PORT = await freePort();
  RANGE = await freeRange(100);
  const lo = Number(RANGE.split('-')[0]);
  NARROWER = `${lo}-${lo + 50}`;
  file = writeScript('reload', script({ blocked: ['dave'] }));
  policyFile = path.join(path.dirname(file), 'policy.ts');
  writeFileSync(policyFile, `export const rejectReason = (): string => 'blocked';\n`);
  proxy = await ProxyProcess.start({ configFile: file });
});
after(async () => { await proxy.stop(); });

test('reload during a live call: no media lost, new policy at once, broken scripts refused', async () => {
  const alice = await PlainUser.register('alice', PORT);
  const bob = await PlainUser.register('bob', PORT, 6);
  const carol = await PlainUser.register('carol', PORT);
  const dave = await PlainUser.register('dave', PORT);
  const port = await establishCall(alice, bob);

  // Media both ways, numbered, for the whole test.
  let sent = 0;
  let running = true;
  const received = { bob: new Set<number>(), alice: new Set<number>() };
  bob.peer.socket.on('message', (m, r) => { if (r.port === port) received.bob.add(m.readUInt32BE(0)); });
  alice.peer.socket.on('message', (m, r) => { if (r.port === port) received.alice.add(m.readUInt32BE(0)); });
  const pump = (async () => {
    while (running) {
      const buf = Buffer.alloc(172);
      buf.writeUInt32BE(sent, 0);
      await alice.media(port, buf);
      await bob.media(port, buf);
      sent++;
      await new Promise((r) => setTimeout(r, 2));
    }
  })();
  // The media listeners above read the sockets directly; signaling for alice/bob is not used below.

  await new Promise((r) => setTimeout(r, 100));
  await carol.send('CALL FROM:carol TO:dave\n');
  assert.equal(await carol.next(), 'CALL_FAILED FROM:dave TO:carol blocked\n', 'generation 1 blocks dave');

  // (b) A new policy: dave allowed, carol blocked; it applies to the very next message.
  const reloaded = await rewrite(file, script({ blocked: ['carol'] }), 'script reloaded');
  assert.equal(reloaded.generation, 2);
  await dave.send('CALL FROM:dave TO:carol\n');
  assert.equal(await dave.next(), 'CALL_FAILED FROM:carol TO:dave blocked\n', 'generation 2 blocks carol');
  await carol.send('CALL FROM:carol TO:dave\n');
  assert.equal(await dave.next(), 'CALL FROM:carol TO:dave\n', 'generation 2 lets carol call dave');
  await dave.send('CALL_FAILED FROM:dave TO:carol later\n');
  assert.equal(await carol.next(), 'CALL_FAILED FROM:dave TO:carol later\n');

  // A change to a file the script imports reloads too.
  const viaImport = await rewrite(policyFile, `export const rejectReason = (): string => 'not today';\n`, 'script reloaded');
  assert.equal(viaImport.generation, 3);
  await dave.send('CALL FROM:dave TO:carol\n');
  assert.equal(await dave.next(), 'CALL_FAILED FROM:carol TO:dave not today\n');

  // (c) A syntax error is refused with file and line; the previous policy still applies.
  const syntax = await rewrite(file, script({ blocked: ['carol'] }).replace('const BLOCKED', 'const BLOCKED = ;\nconst X'), 'refused');
  assert.equal(syntax.code, 'SY_CONFIG_LOAD');
  assert.match(String(syntax.msg), new RegExp(`${file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}:\\d+`), 'names file and line');
  await dave.send('CALL FROM:dave TO:carol\n');
  assert.equal(await dave.next(), 'CALL_FAILED FROM:carol TO:dave not today\n', 'generation 3 still serves');

  // A script that fails validation is refused naming the field and its line.
  const invalid = await rewrite(file, script({ blocked: [], ports: 'lots' }), 'refused');
  assert.equal(invalid.code, 'SY_CONFIG_INVALID');
  assert.match(String(invalid.msg), /proxy\.config\.ts:\d+: modules\[3\] \(media-relay\)\.ports: expected a port range/);
  await dave.send('CALL FROM:dave TO:carol\n');
  assert.equal(await dave.next(), 'CALL_FAILED FROM:carol TO:dave not today\n', 'still generation 3');

  // A module list change is refused: modules are booted once.
  const added = await rewrite(file, script({ blocked: [], extraModule: ', registrar()' }), 'refused');
  assert.match(String(added.msg), /listed twice|module list changed/);

  // Reloadable module config applies in place; others are reported as needing a restart.
  const tuned = await rewrite(file, script({ blocked: ['carol'], idleTimeoutSec: 45, ports: NARROWER }), 'script reloaded');
  assert.deepEqual(tuned.applied, ['media-relay.idleTimeoutSec']);
  const restart = await proxy.waitForLog((l) => l.msg === 'changed config fields need a restart to take effect', 3000, proxy.logs.indexOf(tuned));
  assert.deepEqual(restart.fields, ['media-relay.ports']);

  // A route that throws: the sender gets ERROR internal error, the proxy goes on.
  await rewrite(file, script({ blocked: ['carol'], throwFor: 'dave' }), 'script reloaded');
  await carol.send('CALL FROM:carol TO:dave\n');
  assert.equal(await carol.next(), 'ERROR internal error\n');
  const threw = await proxy.waitForLog((l) => l.msg === 'request route threw');
  assert.equal(threw.callId, 'plain:carol|dave', 'the log names the message');
  assert.equal(threw.method, 'INVITE');

  // SIGHUP reloads too.
  const from = proxy.logs.length;
  proxy.child.kill('SIGHUP');
  const hup = await proxy.waitForLog((l) => l.msg === 'script reloaded', 8000, from);
  assert.ok(Number(hup.generation) >= 6);

  // (a) Not one media packet lost across all those reloads.
  running = false;
  await pump;
  await new Promise((r) => setTimeout(r, 200));
  assert.ok(sent > 200, `media flowed during the reloads (${sent} packets each way)`);
  assert.equal(received.bob.size, sent, `bob got every packet alice sent (${received.bob.size}/${sent})`);
  assert.equal(received.alice.size, sent, `alice got every packet bob sent (${received.alice.size}/${sent})`);

  await alice.send('BYE FROM:alice TO:bob\n');
  await Promise.all([alice, bob, carol, dave].map((u) => u.close()));
});
