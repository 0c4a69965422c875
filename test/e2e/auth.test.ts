/**
 * The auth module in a running proxy, driven by hand-written SIP and plain messages: the
 * challenges it sends (both algorithms, 401 and 407), SHA-256 answered, a malformed answer, the
 * verdict held while a route forgets to await, trusted peers over both address families, the
 * plain protocol, and options changed by a reload.
 */
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { Switchyard } from '../../core/boot/switchyard.ts';
import { createLogger } from '../../core/lib/log.ts';
import { loadScript } from '../../core/script/load.ts';
import { algorithmByName, algorithmParts, computeHa1, computeResponse, parseAuthHeader, quote, type DigestAlgorithm } from '../../modules/auth/digest.ts';
import { REPO, writeScript } from '../helpers/proxy-process.ts';
import { freePort } from '../helpers/ports.ts';
import { header, headers, SipUa } from '../helpers/sip-ua.ts';

const USERS = path.join(REPO, 'examples', 'users.txt');

function script(o: { plainPort: number; trusted: string[] }): string {
  return `import { defineProxy } from 'switchyard';
import { auth, callRouting, registrar } from 'switchyard/modules';

export default defineProxy({
  listen: [{ dialect: 'sip', host: '::', port: 0, transports: ['udp'] }, { dialect: 'plain', host: '::', port: ${o.plainPort} }],
  modules: [registrar(), callRouting(), auth({ realm: 'switchyard', usersFile: ${JSON.stringify(USERS)}, trustedPeers: ${JSON.stringify(o.trusted)} })],
  routes: {
    async request(ctx) {
      const { msg } = ctx;
      if (msg.method === 'REGISTER' && msg.to.user === 'careless') {
        void ctx.authenticate(); // not awaited: register() must not get through meanwhile
        return ctx.register();
      }
      if (msg.method === 'REGISTER') {
        const who = await ctx.authenticate();
        if (!who.ok) return msg.dialect === 'plain' ? ctx.respond(403, who.reason) : undefined;
        ctx.log.info({ user: who.user, by: who.by }, 'registering');
        return ctx.register();
      }
      if (msg.method === 'OPTIONS') {
        const found = await ctx.lookup(msg.ruri.user);
        return ctx.respond(200, found.ok ? 'registered' : 'not registered');
      }
      const caller = await ctx.proxyAuthenticate();
      if (!caller.ok) return;
      return ctx.respond(200, 'passed as ' + caller.user + ' by ' + caller.by);
    },
  },
});
`;
}

let seq = 0;

function request(ua: SipUa, o: { method?: string; user?: string; to?: string; from?: string; extra?: string[]; callId?: string; cseq?: number }): string {
  const n = ++seq;
  const method = o.method ?? 'REGISTER';
  const to = o.to ?? o.user ?? 'alice';
  const from = o.from ?? o.user ?? 'alice';
  const ruri = method === 'REGISTER' ? `sip:${ua.host.includes(':') ? '[::1]' : '127.0.0.1'}` : `sip:${to}@switchyard`;
  return [
    `${method} ${ruri} SIP/2.0`,
    `Via: SIP/2.0/UDP ${ua.hostport};branch=z9hG4bK-auth-${n};rport`,
    'Max-Forwards: 70',
    `From: <sip:${from}@switchyard>;tag=f${n}`,
    `To: <sip:${to}@switchyard>`,
    `Call-ID: ${o.callId ?? `auth-${n}`}`,
    `CSeq: ${o.cseq ?? 1} ${method}`,
    `Contact: <sip:${from}@${ua.hostport}>`,
    ...(o.extra ?? []),
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
}

/** The Request-URI of a request built above. */
function ruriOf(msg: string): string {
  return msg.slice(msg.indexOf(' ') + 1, msg.indexOf(' SIP/2.0'));
}

/** Answers `challenge` for `req` as a client would. */
function credentials(challenge: string, req: string, o: { user?: string; password?: string } = {}): string {
  const parsed = parseAuthHeader(challenge);
  assert.ok(parsed.ok);
  const p = parsed.header.params;
  const algorithm = algorithmByName(p.get('algorithm')!) as DigestAlgorithm;
  const user = o.user ?? 'alice';
  const realm = p.get('realm')!;
  const nonce = p.get('nonce')!;
  const uri = ruriOf(req);
  const method = req.slice(0, req.indexOf(' '));
  const ha1 = computeHa1(algorithmParts(algorithm).hash, user, realm, o.password ?? `${user}-secret`);
  const response = computeResponse({ algorithm, ha1, nonce, cnonce: 'e2e', nc: '00000001', method, uri });
  return `Digest username=${quote(user)}, realm=${quote(realm)}, nonce=${quote(nonce)}, uri=${quote(uri)}, response="${response}", algorithm=${algorithm}, cnonce="e2e", nc=00000001, qop=auth`;
}

function statusOf(reply: string): string {
  return reply.split('\r\n')[0]!;
}

describe('auth module in a proxy', () => {
  let proxy: Switchyard;
  let file: string;
  let plainPort: number;
  const logs: Record<string, unknown>[] = [];
  let v4: SipUa;
  let v6: SipUa;
  let trustedV4: SipUa;

  before(async () => {
    plainPort = await freePort();
    file = writeScript('auth', script({ plainPort, trusted: ['::1', '127.0.0.2'] }));
    const sink = new Writable({ write(chunk: Buffer, _enc, done) { for (const line of chunk.toString().split('\n')) if (line) logs.push(JSON.parse(line) as Record<string, unknown>); done(); } });
    proxy = await Switchyard.boot(await loadScript(file), createLogger({ level: 'debug', pretty: false, destination: sink }), { watch: false });
    v4 = await SipUa.open('127.0.0.1');
    v6 = await SipUa.open('::1');
    trustedV4 = await SipUa.open('127.0.0.2');
  });
  after(async () => {
    for (const ua of [v4, v6, trustedV4]) ua.close();
    await proxy.stop();
  });

  async function exchange(ua: SipUa, req: string): Promise<string> {
    ua.send(req, proxy.sipPort!, ua.host.includes(':') ? '::1' : '127.0.0.1');
    return ua.next(/^SIP\/2\.0 [2-6]\d\d/, 3000);
  }

  test('REGISTER: 401 offering SHA-256 then MD5 with one nonce; the SHA-256 answer registers', async () => {
    const first = await exchange(v4, request(v4, { user: 'alice', callId: 'reg-alice', cseq: 1 }));
    assert.equal(statusOf(first), 'SIP/2.0 401 Unauthorized');
    const offered = headers(first, 'WWW-Authenticate');
    assert.equal(offered.length, 2);
    assert.match(offered[0]!, /^Digest realm="switchyard", nonce="([A-Za-z0-9_-]{48})", algorithm=SHA-256, qop="auth"$/);
    assert.match(offered[1]!, /algorithm=MD5, qop="auth"$/);
    assert.equal(/nonce="([^"]+)"/.exec(offered[0]!)![1], /nonce="([^"]+)"/.exec(offered[1]!)![1]);
    assert.match(header(first, 'To')!, /;tag=/, 'a final response of the registrar\'s own');

    const second = request(v4, { user: 'alice', callId: 'reg-alice', cseq: 2 });
    const answered = await exchange(v4, second.replace('Content-Length: 0', `Authorization: ${credentials(offered[0]!, second)}\r\nContent-Length: 0`));
    assert.equal(statusOf(answered), 'SIP/2.0 200 OK');
    assert.match(header(answered, 'Contact')!, /^<sip:alice@127\.0\.0\.1:\d+>;expires=\d+$/);
    assert.ok(logs.some((l) => l.msg === 'registering' && l.user === 'alice' && l.by === 'digest'));
    assert.ok(logs.some((l) => l.msg === 'authenticated' && l.user === 'alice' && l.algorithm === 'SHA-256'), 'the log says which algorithm a client used');
  });

  test('a request on the path: 407 with Proxy-Authenticate; credentials in Authorization do not count there', async () => {
    const invite = request(v4, { method: 'MESSAGE', from: 'bob', to: 'alice' });
    const challenged = await exchange(v4, invite);
    assert.equal(statusOf(challenged), 'SIP/2.0 407 Proxy Authentication Required');
    const [challenge] = headers(challenged, 'Proxy-Authenticate');
    assert.match(challenge!, /^Digest realm="switchyard", nonce="[^"]+", algorithm=SHA-256, qop="auth"$/);
    assert.deepEqual(headers(challenged, 'WWW-Authenticate'), []);

    const again = request(v4, { method: 'MESSAGE', from: 'bob', to: 'alice' });
    const wrongHeader = await exchange(v4, again.replace('Content-Length: 0', `Authorization: ${credentials(challenge!, again, { user: 'bob' })}\r\nContent-Length: 0`));
    assert.equal(statusOf(wrongHeader), 'SIP/2.0 407 Proxy Authentication Required');
    const right = await exchange(v4, again.replace('Content-Length: 0', `Proxy-Authorization: ${credentials(challenge!, again, { user: 'bob' })}\r\nContent-Length: 0`).replace(/branch=[^;]+/, 'branch=z9hG4bK-auth-right'));
    assert.equal(statusOf(right), 'SIP/2.0 200 passed as bob by digest');
  });

  test('a wrong password is challenged again and logged without the password or the response', async () => {
    const req = request(v4, { user: 'bob' });
    const [challenge] = headers(await exchange(v4, req), 'WWW-Authenticate');
    const again = request(v4, { user: 'bob' });
    const creds = credentials(challenge!, again, { user: 'bob', password: 'guessing' });
    const reply = await exchange(v4, again.replace('Content-Length: 0', `Authorization: ${creds}\r\nContent-Length: 0`));
    assert.equal(statusOf(reply), 'SIP/2.0 401 Unauthorized');
    const failed = logs.find((l) => l.msg === 'authentication failed' && l.user === 'bob');
    assert.ok(failed, 'the failure is logged');
    assert.equal(failed.reason, 'bad-credentials');
    const all = JSON.stringify(logs);
    assert.doesNotMatch(all, /guessing/);
    assert.doesNotMatch(all, new RegExp(/response="([0-9a-f]+)"/.exec(creds)![1]!));
  });

  test('malformed credentials: 400 with the reason', async () => {
    const req = request(v4, { user: 'alice' }).replace('Content-Length: 0', 'Authorization: Digest username="alice", realm="switchyard", nonce="x" uri="y"\r\nContent-Length: 0');
    assert.equal(statusOf(await exchange(v4, req)), 'SIP/2.0 400 Bad Request (malformed credentials: unexpected character after nonce)');
  });

  test('a route that does not await authenticate() cannot register meanwhile: it gets the challenge, nothing is saved', async () => {
    const reply = await exchange(v4, request(v4, { user: 'careless' }));
    assert.equal(statusOf(reply), 'SIP/2.0 401 Unauthorized');
    assert.ok(logs.some((l) => l.msg === 'request route threw' && String((l.err as { message?: string })?.message).includes('a verdict was already given')));
    assert.equal(statusOf(await exchange(v4, request(v4, { method: 'OPTIONS', to: 'careless' }))), 'SIP/2.0 200 not registered');
    assert.equal(statusOf(await exchange(v4, request(v4, { method: 'OPTIONS', to: 'alice' }))), 'SIP/2.0 200 registered', 'alice, who authenticated, is');
  });

  test('trusted peers pass without a challenge: ::1 over IPv6, 127.0.0.2 seen as ::ffff:127.0.0.2 by the dual-stack socket', async () => {
    assert.equal(statusOf(await exchange(v6, request(v6, { method: 'MESSAGE', from: 'gateway', to: 'alice' }))), 'SIP/2.0 200 passed as gateway by trusted-peer');
    const fromMapped = await exchange(trustedV4, request(trustedV4, { method: 'MESSAGE', from: 'gw2', to: 'alice' }));
    assert.equal(statusOf(fromMapped), 'SIP/2.0 200 passed as gw2 by trusted-peer');
    assert.equal(statusOf(await exchange(v4, request(v4, { method: 'MESSAGE', from: 'gw3', to: 'alice' }))), 'SIP/2.0 407 Proxy Authentication Required', '127.0.0.1 is not trusted');
  });

  test('the plain protocol has no authentication: the route is told so; trusted peers pass', async () => {
    const plain = async (host: string): Promise<string> => {
      const s = dgram.createSocket('udp4');
      await new Promise<void>((r) => s.bind(0, host, () => r()));
      try {
        const reply = new Promise<string>((resolve, reject) => {
          const t = setTimeout(() => reject(new Error('no plain reply')), 3000);
          s.once('message', (m) => { clearTimeout(t); resolve(m.toString('latin1').trim()); });
        });
        s.send('REGISTER carol\n', plainPort, '127.0.0.1');
        return await reply;
      } finally {
        s.close();
      }
    };
    assert.equal(await plain('127.0.0.1'), 'ERROR no-authentication-in-dialect');
    assert.equal(await plain('127.0.0.2'), 'ACK_REGISTER carol');
  });

  test('a reload changes the trusted peers in place', async () => {
    writeFileSync(file, script({ plainPort, trusted: [] }));
    const result = await proxy.reload();
    assert.equal(result.ok, true, JSON.stringify(result));
    assert.equal(statusOf(await exchange(v6, request(v6, { method: 'MESSAGE', from: 'gateway', to: 'alice' }))), 'SIP/2.0 407 Proxy Authentication Required');
    writeFileSync(file, script({ plainPort, trusted: ['::1', '127.0.0.2'] }));
    assert.equal((await proxy.reload()).ok, true);
    assert.equal(statusOf(await exchange(v6, request(v6, { method: 'MESSAGE', from: 'gateway', to: 'alice' }))), 'SIP/2.0 200 passed as gateway by trusted-peer');
  });
});
