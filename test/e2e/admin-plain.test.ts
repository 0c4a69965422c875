/**
 * The admin listener against a running proxy and plain-protocol users: /metrics moves by exactly
 * what a call did, `ctl` lists the registrations and the call with its media counters, `ctl
 * hangup` ends it with a BYE to both parties, `ctl reload` applies a change and reports a refused
 * script by file and line, and `ctl module` switches a module.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { adminPort, ctl, ctlJson, moved, scrape } from '../helpers/admin.ts';
import { freePortRange } from '../helpers/free-ports.ts';
import { establishCall, PlainUser } from '../helpers/plain-client.ts';
import { defaultLikeScript, ProxyProcess, REPO, writeScript } from '../helpers/proxy-process.ts';

interface CallsAnswer {
  calls: { callId: string; caller: string; callee: string; state: string; media: { sessions: { port: number; legs: { party: string; packets: number; bytes: number }[] }[] } | null }[];
}

describe('admin listener with plain calls', () => {
  let proxy: ProxyProcess;
  let admin: number;
  let script: string;

  before(async () => {
    script = writeScript('admin-plain', defaultLikeScript({ port: 0, ports: (await freePortRange(100)).spec }));
    proxy = await ProxyProcess.start({ configFile: script, args: ['--admin', '127.0.0.1:0', '--no-warm-up', '--no-watch'] });
    admin = await adminPort(proxy);
  });
  after(async () => {
    await proxy.stop();
  });

  const plainPort = async (): Promise<number> => {
    const l = await proxy.waitForLog((x) => x.msg === 'listening' && x.dialect === 'plain');
    return l.port as number;
  };

  test('health and readiness', async () => {
    const health = await fetch(`http://127.0.0.1:${admin}/health`);
    assert.equal(health.status, 200);
    const ready = await fetch(`http://127.0.0.1:${admin}/ready`);
    assert.equal(ready.status, 200);
    assert.deepEqual(await ready.json(), { ready: true, problems: [] });
  });

  test('a call: metrics move by exactly what happened, ctl lists it, ctl hangup ends it at both parties', async () => {
    const port = await plainPort();
    const before = await scrape(admin);
    const alice = await PlainUser.register('alice', port);
    const bob = await PlainUser.register('bob', port);
    try {
      const regs = await ctlJson<{ registrations: { user: string; address: { port: number } }[] }>(admin, ['registrations']);
      assert.deepEqual(regs.registrations.map((r) => [r.user, r.address.port]).sort(), [['alice', alice.peer.port], ['bob', bob.peer.port]]);
      const justBob = await ctlJson<{ registrations: { user: string }[] }>(admin, ['registrations', 'bob']);
      assert.deepEqual(justBob.registrations.map((r) => r.user), ['bob']);

      const media = await establishCall(alice, bob);
      const payload = Buffer.alloc(172, 7);
      for (let i = 0; i < 20; i++) {
        await alice.media(media, payload);
        assert.equal((await bob.peer.next()).data.length, 172);
      }
      for (let i = 0; i < 15; i++) {
        await bob.media(media, payload.subarray(0, 100));
        assert.equal((await alice.peer.next()).data.length, 100);
      }

      const { calls } = await ctlJson<CallsAnswer>(admin, ['calls']);
      assert.equal(calls.length, 1);
      const call = calls[0]!;
      assert.deepEqual([call.caller, call.callee, call.state], ['alice', 'bob', 'confirmed']);
      assert.equal(call.media?.sessions[0]?.port, media);
      assert.deepEqual(call.media?.sessions[0]?.legs.map((l) => [l.party, l.packets, l.bytes]), [['alice', 20, 20 * 172], ['bob', 15, 15 * 100]]);
      const table = await ctl(admin, ['calls']);
      assert.equal(table.code, 0);
      assert.match(table.stdout, new RegExp(`alice\\s+bob\\s+plain\\s+confirmed\\s+\\S+\\s+${media}\\s+20/3440\\s+15/1500`));

      const hung = await ctlJson<{ ok: boolean; caller: null; callee: null }>(admin, ['hangup', call.callId]);
      assert.deepEqual(hung, { ok: true, caller: null, callee: null });
      // The proxy ending a call tells both parties the same BYE FROM:<caller> TO:<callee>, the caller first (the plain spec).
      assert.equal(await alice.next(), 'BYE FROM:alice TO:bob\n');
      assert.equal(await bob.next(), 'BYE FROM:alice TO:bob\n');
      assert.deepEqual((await ctlJson<CallsAnswer>(admin, ['calls'])).calls, []);
      const again = await ctl(admin, ['hangup', call.callId]);
      assert.equal(again.code, 1);
      assert.match(again.stderr, /no-such-call \(HTTP 404\)/);

      const after = await scrape(admin);
      const delta = moved(before, after);
      // The native engine's counters per forwarding thread: which thread drains the session is its choice, the sums are not.
      const perThread = Object.entries(delta).filter(([k]) => k.startsWith('switchyard_media_relay_thread_'));
      const threadSum = (prefix: string): number => perThread.filter(([k]) => k.startsWith(prefix)).reduce((n, [, v]) => n + v, 0);
      if (after.get('switchyard_media_relay_threads{engine="native"}') !== undefined) {
        assert.equal(perThread.filter(([k]) => /datagrams_total\{thread="\d+",direction="received"\}/.test(k)).reduce((n, [, v]) => n + v, 0), 35);
        assert.equal(perThread.filter(([k]) => /datagrams_total\{thread="\d+",direction="sent"\}/.test(k)).reduce((n, [, v]) => n + v, 0), 35);
        assert.equal(threadSum('switchyard_media_relay_thread_received_bytes_total'), 20 * 172 + 15 * 100);
        assert.ok(threadSum('switchyard_media_relay_thread_wakeups_total') >= 1);
      } else {
        assert.deepEqual(perThread, [], 'the JS engine has no relay threads');
      }
      for (const [k] of perThread) delete delta[k];
      assert.deepEqual(delta, {
        'switchyard_messages_received_total{type="request"}': 3, // two REGISTERs, one CALL
        'switchyard_messages_received_total{type="reply"}': 1, // ACK_CALL
        'switchyard_requests_received_total{dialect="plain",method="REGISTER"}': 2,
        'switchyard_requests_received_total{dialect="plain",method="INVITE"}': 1,
        'switchyard_responses_received_total{dialect="plain",class="2xx"}': 1,
        'switchyard_registered_users': 2,
        'switchyard_registrations{dialect="plain"}': 2,
        'switchyard_calls_started_total{dialect="plain"}': 1,
        'switchyard_calls_answered_total{dialect="plain"}': 1,
        'switchyard_calls_ended_total{reason="terminated"}': 1,
        'switchyard_media_sessions_started_total': 1,
        'switchyard_media_relayed_packets_total{direction="caller_to_callee"}': 20,
        'switchyard_media_relayed_packets_total{direction="callee_to_caller"}': 15,
        'switchyard_media_relayed_bytes_total{direction="caller_to_callee"}': 20 * 172,
        'switchyard_media_relayed_bytes_total{direction="callee_to_caller"}': 15 * 100,
      });
    } finally {
      await alice.close();
      await bob.close();
    }
  });

  test('ctl module switches a module; one another needs stays on', async () => {
    const refused = await ctl(admin, ['module', 'dialog', 'off']);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /'dialog' is required by 'media-relay' \(HTTP 409\)/);
    const off = await ctlJson<{ ok: boolean; enabled: boolean; changed: boolean }>(admin, ['module', 'media-relay', 'off']);
    assert.deepEqual(off, { ok: true, name: 'media-relay', enabled: false, changed: true });
    const metrics = await scrape(admin);
    assert.equal(metrics.get('switchyard_modules_enabled{module="media-relay"}'), 0);
    const on = await ctlJson<{ enabled: boolean }>(admin, ['module', 'media-relay', 'on']);
    assert.equal(on.enabled, true);
    const missing = await ctl(admin, ['module', 'nosuch', 'on']);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /no module 'nosuch'/);
  });

  test('ctl reload applies a change, and a refused script is reported with its file and line', async () => {
    const source = readFileSync(script, 'utf8');
    writeFileSync(script, source.replace('answerTimeoutSec: 30', 'answerTimeoutSec: 20'));
    const ok = await ctlJson<{ ok: boolean; generation: number; applied: string[] }>(admin, ['reload']);
    assert.equal(ok.ok, true);
    assert.ok(ok.applied.includes('call-routing.answerTimeoutSec'), JSON.stringify(ok));
    const generation = ok.generation;

    writeFileSync(script, source.replace('answerTimeoutSec: 30', "answerTimeoutSec: 'soon'"));
    const bad = await ctl(admin, ['reload']);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /answerTimeoutSec/);
    const res = await fetch(`http://127.0.0.1:${admin}/api/reloads`);
    const { reloads, counts } = await res.json() as { reloads: { ok: boolean; generation: number; where?: string }[]; counts: { ok: number; failed: number } };
    const last = reloads.at(-1)!;
    assert.equal(last.ok, false);
    assert.equal(last.generation, generation, 'the previous script keeps serving');
    const line = source.split('\n').findIndex((l) => l.includes('answerTimeoutSec')) + 1;
    assert.equal(last.where, `${script}:${line}`);
    assert.deepEqual(counts, { ok: 1, failed: 1 });
    const m = await scrape(admin);
    assert.equal(m.get('switchyard_script_reloads_total{result="refused"}'), counts.failed);
    assert.equal(m.get('switchyard_script_generation'), generation);
    writeFileSync(script, source);
  });

  test('ctl version and switchyard --version name the package version', async () => {
    const pkg = JSON.parse(readFileSync(path.join(REPO, 'package.json'), 'utf8')) as { version: string };
    const running = await ctlJson<{ version: string; generation: number }>(admin, ['version']);
    assert.equal(running.version, pkg.version);
    const out = execFileSync(process.execPath, [path.join(REPO, 'bin', 'switchyard.mjs'), '--version'], { encoding: 'utf8' });
    assert.equal(out, `switchyard ${pkg.version}\n`);
  });
});
