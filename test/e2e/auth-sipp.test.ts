/**
 * Digest authentication against a real client: SIPp (its -au/-ap digest support) registers and
 * calls through a proxy whose script lists the auth module, with the example users file; the
 * admin listener's /metrics counts each failure by its reason.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { AdminServer } from '../../core/admin/server.ts';
import { Switchyard } from '../../core/boot/switchyard.ts';
import { createLogger } from '../../core/lib/log.ts';
import { loadScript } from '../../core/script/load.ts';
import { moved, scrape } from '../helpers/admin.ts';
import { REPO, writeScript } from '../helpers/proxy-process.ts';
import { freePort } from '../helpers/ports.ts';
import { received, runSipp, sentMessage, sippVersion, startSipp, traceOf } from '../helpers/sipp.ts';

const LOOP = '127.0.0.1';
const USERS = path.join(REPO, 'examples', 'users.txt');

/** SIPp 3.6 answers MD5 only (and reads the first algorithm it finds), so MD5 is all this proxy offers. */
const SCRIPT = `import { defineProxy } from 'switchyard';
import { auth, callRouting, dialog, registrar } from 'switchyard/modules';

export default defineProxy({
  listen: [{ dialect: 'sip', host: '${LOOP}', port: 0, transports: ['udp'] }],
  modules: [registrar(), dialog(), callRouting(), auth({ realm: 'switchyard', usersFile: ${JSON.stringify(USERS)}, algorithms: ['MD5'] })],
  routes: {
    async request(ctx) {
      const { msg } = ctx;
      if (msg.method === 'REGISTER') {
        const who = await ctx.authenticate();
        if (!who.ok) return;
        return ctx.register();
      }
      if (msg.inDialog) return ctx.forwardCall();
      const caller = await ctx.proxyAuthenticate();
      if (!caller.ok) return;
      ctx.recordRoute();
      return ctx.forwardCall();
    },
  },
});
`;

/** The status lines SIPp received, in order. */
function statuses(trace: string): string[] {
  return received(trace).map((m) => m.split('\n')[0]!.trim()).filter((l) => l.startsWith('SIP/2.0 '));
}

let proxy: Switchyard;
let admin: AdminServer;
let remote: string;

before(async () => {
  sippVersion();
  const log = createLogger({ level: 'silent' });
  proxy = await Switchyard.boot(await loadScript(writeScript('auth-sipp', SCRIPT)), log, { watch: false });
  admin = await AdminServer.start(proxy, { enabled: true, host: LOOP, port: 0, explicit: true, version: 'test', log });
  remote = `${LOOP}:${proxy.sipPort!}`;
});
after(async () => {
  await admin.close();
  await proxy.stop();
});

/** What `run` moved of the auth module's counters in /metrics. */
async function authCounts(run: () => Promise<void>): Promise<Record<string, number>> {
  const before = await scrape(admin.port);
  await run();
  return moved(before, await scrape(admin.port), 'switchyard_auth_');
}

/** Registers `user` with `-au authUser -ap password`; the status lines SIPp received. */
async function register(user: string, authUser: string, password: string, scenario: 'register_auth.xml' | 'register_auth_refused.xml', port?: number): Promise<string[]> {
  const r = await runSipp(scenario, [remote, '-s', user, '-au', authUser, '-ap', password, '-i', LOOP, '-p', String(port ?? await freePort()), '-m', '1'], 15_000);
  assert.equal(r.code, 0, r.output);
  return statuses(traceOf(r.dir));
}

/**
 * Places a call to `callee` as `caller` with `authUser`'s credentials; the final statuses the
 * caller received, and its trace. SIPp 3.6 computes its digest over sip:<remote address> unless
 * -auth_uri names the Request-URI, which the proxy requires (RFC 7616 §3.4.6).
 */
async function call(callee: string, caller: string, authUser: string, password: string): Promise<{ finals: string[]; trace: string }> {
  const r = await runSipp('uac_auth.xml', [
    remote, '-s', callee, '-key', 'caller', caller, '-au', authUser, '-ap', password, '-auth_uri', `${callee}@${remote}`, '-key', 'mport', String(await freePort()),
    '-i', LOOP, '-p', String(await freePort()), '-m', '1', '-d', '200',
  ], 15_000);
  assert.equal(r.code, 0, r.output);
  const trace = traceOf(r.dir);
  return { finals: statuses(trace).filter((s) => !/^SIP\/2\.0 1/.test(s)), trace };
}

describe('digest authentication with SIPp', () => {
  test('REGISTER: 401 with a challenge, then 200 with the credentials', async () => {
    let r!: Awaited<ReturnType<typeof runSipp>>;
    const counts = await authCounts(async () => {
      r = await runSipp('register_auth.xml', [remote, '-s', 'alice', '-au', 'alice', '-ap', 'alice-secret', '-i', LOOP, '-p', String(await freePort()), '-m', '1'], 15_000);
    });
    assert.equal(r.code, 0, r.output);
    assert.deepEqual(counts, { 'switchyard_auth_failures_total{reason="no_credentials"}': 1, 'switchyard_auth_passed_total{by="digest"}': 1 });
    const trace = traceOf(r.dir);
    assert.deepEqual(statuses(trace), ['SIP/2.0 401 Unauthorized', 'SIP/2.0 200 OK']);
    assert.match(received(trace)[0]!, /\nWWW-Authenticate: Digest realm="switchyard", nonce="[A-Za-z0-9_-]{48}", algorithm=MD5, qop="auth"\s*\n/);
    const answered = sentMessage(trace, /^REGISTER [\s\S]*CSeq: 2 REGISTER/)!;
    assert.match(answered, /\nAuthorization: Digest username="alice",realm="switchyard"/, 'SIPp answered the challenge');
  });

  test('a wrong password is challenged again (401), and counted as bad credentials', async () => {
    const counts = await authCounts(async () => {
      assert.deepEqual(await register('alice', 'alice', 'not-her-password', 'register_auth_refused.xml'), ['SIP/2.0 401 Unauthorized', 'SIP/2.0 401 Unauthorized']);
    });
    assert.deepEqual(counts, { 'switchyard_auth_failures_total{reason="no_credentials"}': 1, 'switchyard_auth_failures_total{reason="bad_credentials"}': 1 });
  });

  test('REGISTER of bob with alice\'s credentials: 403, counted as an identity mismatch', async () => {
    const counts = await authCounts(async () => {
      assert.deepEqual(await register('bob', 'alice', 'alice-secret', 'register_auth_refused.xml'), ['SIP/2.0 401 Unauthorized', 'SIP/2.0 403 Forbidden']);
    });
    assert.deepEqual(counts, { 'switchyard_auth_failures_total{reason="no_credentials"}': 1, 'switchyard_auth_failures_total{reason="identity_mismatch"}': 1 });
  });

  test('a call: the INVITE is challenged 407; with Proxy-Authorization it reaches the callee, and ACK and BYE follow', async () => {
    const bobPort = await freePort();
    assert.deepEqual(await register('bob', 'bob', 'bob-secret', 'register_auth.xml', bobPort), ['SIP/2.0 401 Unauthorized', 'SIP/2.0 200 OK']);
    // Should the callee start listening after the INVITE is forwarded, the proxy's retransmission reaches it.
    const uas = startSipp('uas.xml', ['-i', LOOP, '-p', String(bobPort), '-m', '1', '-key', 'mport', String(await freePort())], 15_000);
    try {
      const { finals, trace } = await call('bob', 'alice', 'alice', 'alice-secret');
      const callee = await uas.done;
      assert.equal(callee.code, 0, `callee: ${callee.output}`);
      assert.deepEqual(finals, ['SIP/2.0 407 Proxy Authentication Required', 'SIP/2.0 200 OK', 'SIP/2.0 200 OK'], 'INVITE 407, INVITE 200, BYE 200');
      assert.match(received(trace).find((m) => /^SIP\/2\.0 407/.test(m))!, /\nProxy-Authenticate: Digest realm="switchyard", nonce="[A-Za-z0-9_-]{48}", algorithm=MD5, qop="auth"\s*\n/);
      const invite = received(traceOf(callee.dir)).find((m) => /^INVITE /.test(m))!;
      assert.match(invite, /\nCSeq: 2 INVITE/, 'the callee got the authenticated INVITE');
    } finally {
      uas.kill();
    }
  });

  test('a call as someone else: alice\'s credentials with From bob are refused 403', async () => {
    const { finals } = await call('carol', 'bob', 'alice', 'alice-secret');
    assert.deepEqual(finals, ['SIP/2.0 407 Proxy Authentication Required', 'SIP/2.0 403 Forbidden']);
  });
});
