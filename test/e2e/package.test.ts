/**
 * The package as a user gets it: `npm pack` the repository, install the tarball into an empty
 * project, `npx switchyard init`, start the proxy with `npx switchyard` and talk to it. Then a
 * module of the user's own, published as a package of its own that imports only
 * 'switchyard/module', installed beside switchyard, listed in the script and called from a route.
 * Everything is installed from the local npm cache; ports are free ones picked at run time.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { REPO } from '../helpers/proxy-process.ts';
import { freePort, freeRange } from '../helpers/ports.ts';
import { answer, SipUa } from '../helpers/sip-ua.ts';
import { UdpPeer } from '../helpers/udp-peer.ts';

const TSC = path.join(REPO, 'node_modules', 'typescript', 'bin', 'tsc');
const NPM_FLAGS = ['--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error'];

interface Run { readonly status: number | null; readonly stdout: string; readonly stderr: string }

function run(cmd: string, args: readonly string[], cwd: string, timeoutMs = 120_000, env: Record<string, string> = {}): Run {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', timeout: timeoutMs, killSignal: 'SIGKILL', env: { ...process.env, npm_config_update_notifier: 'false', ...env } });
  return { status: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? (r.error?.message ?? '') };
}

function ok(r: Run, what: string): Run {
  assert.equal(r.status, 0, `${what} failed (${r.status}):\n${r.stdout}\n${r.stderr}`);
  return r;
}

/** `npm pack` into `dir`; the tarball's path and the files it holds. */
function pack(from: string, dir: string): { tarball: string; files: string[] } {
  const r = ok(run('npm', ['pack', '--json', '--pack-destination', dir, ...NPM_FLAGS], from), `npm pack in ${from}`);
  const info = JSON.parse(r.stdout.slice(r.stdout.indexOf('['))) as { filename: string; files: { path: string }[] }[];
  return { tarball: path.join(dir, info[0]!.filename), files: info[0]!.files.map((f) => f.path) };
}

/** Rewrites `from` to `to` in a file, asserting it was there. */
function rewrite(file: string, from: string | RegExp, to: string): void {
  const text = readFileSync(file, 'utf8');
  assert.match(text, typeof from === 'string' ? new RegExp(from.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')) : from, `${path.basename(file)} has ${String(from)}`);
  writeFileSync(file, text.replace(from, to));
}

/**
 * A running `npx switchyard`, in a process group of its own: npx exits at a signal without
 * waiting for the node it started, so both are signalled and both must let go of the output.
 */
class Running {
  readonly lines: Record<string, unknown>[] = [];
  stderr = '';
  private readonly closed: Promise<void>;

  constructor(readonly child: ChildProcess) {
    let buf = '';
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      buf += chunk;
      for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        try { this.lines.push(JSON.parse(line) as Record<string, unknown>); } catch { this.lines.push({ msg: line }); }
      }
    });
    child.stderr!.setEncoding('utf8').on('data', (c: string) => { this.stderr += c; });
    this.closed = new Promise((resolve) => child.stdout!.once('close', () => resolve()));
  }

  /** Polls the log for a line until `deadlineMs`; throws with the log so far when none comes. */
  async waitFor(pred: (l: Record<string, unknown>) => boolean, what: string, deadlineMs = 30_000): Promise<Record<string, unknown>> {
    const until = Date.now() + deadlineMs;
    while (Date.now() < until && this.child.exitCode === null) {
      const found = this.lines.find(pred);
      if (found !== undefined) return found;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    throw new Error(`no '${what}' (exit ${this.child.exitCode}):\n${this.stderr}\n${this.lines.map((l) => JSON.stringify(l)).join('\n')}`);
  }

  /** SIGTERM to the group, SIGKILL after 5 s; resolves when every process has closed the output. */
  async stop(): Promise<void> {
    const signal = (sig: NodeJS.Signals): void => {
      try { process.kill(-this.child.pid!, sig); } catch { /* the group is gone already */ }
    };
    signal('SIGTERM');
    const kill = setTimeout(() => signal('SIGKILL'), 5000);
    await this.closed;
    clearTimeout(kill);
  }
}

let work: string;
let tarball: string;
let packed: string[];

before(() => {
  work = mkdtempSync(path.join(tmpdir(), 'switchyard-package-'));
  ({ tarball, files: packed } = pack(REPO, work));
});

after(() => {
  rmSync(work, { recursive: true, force: true });
});

test('the tarball holds the compiled product, the native sources and the template, and nothing else', () => {
  for (const f of ['package.json', 'README.md', 'bin/switchyard.mjs', 'proxy.config.ts', 'native/build.mjs', 'native/relay.c', 'native/signal.c', 'native/common.h',
    'dist/index.js', 'dist/index.d.ts', 'dist/core/module.js', 'dist/core/module.d.ts', 'dist/modules/index.js', 'dist/modules/index.d.ts',
    'dist/cli/main.js', 'dist/cli/warm-up/warm-up.config.ts']) {
    assert.ok(packed.includes(f), `${f} is in the tarball`);
  }
  const jitiLoaded = new Set(['proxy.config.ts', 'dist/cli/warm-up/warm-up.config.ts']);
  const stray = packed.filter((f) => /^(test|bench|studies|examples|docs|cli|core|modules)\//.test(f) || f.startsWith('native/build/') ||
    (f.endsWith('.ts') && !f.endsWith('.d.ts') && !jitiLoaded.has(f)) || f.endsWith('.map') || f.includes('tsbuildinfo'));
  assert.deepEqual(stray, []);
  const pkg = JSON.parse(readFileSync(path.join(REPO, 'package.json'), 'utf8')) as { exports: Record<string, { types: string; import: string }> };
  for (const [entry, target] of Object.entries(pkg.exports)) {
    for (const file of [target.types, target.import]) assert.ok(packed.includes(file.replace(/^\.\//, '')), `exports['${entry}'] → ${file} is in the tarball`);
  }
});

test('installed from the tarball: init, then the proxy it writes answers over UDP, with a module from another package', { timeout: 300_000 }, async () => {
  // A module published on its own: TypeScript compiled against switchyard's declarations.
  const modDir = path.join(work, 'doorman');
  mkdirSync(path.join(modDir, 'src'), { recursive: true });
  writeFileSync(path.join(modDir, 'package.json'), JSON.stringify({
    name: 'switchyard-doorman', version: '1.0.0', type: 'module',
    exports: { '.': { types: './dist/index.d.ts', import: './dist/index.js' } },
    files: ['dist'],
    peerDependencies: { switchyard: '>=0.1.0' },
  }, null, 2));
  writeFileSync(path.join(modDir, 'tsconfig.json'), JSON.stringify({
    compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, declaration: true, skipLibCheck: true, outDir: 'dist', rootDir: 'src', types: [] },
    include: ['src'],
  }, null, 2));
  writeFileSync(path.join(modDir, 'src', 'index.ts'), `import { defineModule, fn, formatEndpoint, required, respondVerdict, z, type Verdict } from 'switchyard/module';
import type { RegistrarApi } from 'switchyard/modules';

const schema = z.object({
  refused: z.array(z.string()).default([]),
  reason: z.string().default('is not welcome here'),
});

export const doorman = defineModule({
  name: 'doorman',
  description: 'Tells whom to turn away',
  schema,
  reloadable: ['refused', 'reason'],
  setup: () => null,
  functions: ({ config }) => ({
    /** Why \`user\` is refused, or null; nobody is refused while the module is disabled. */
    refusal: fn(['request'], (_mc, user: string): string | null => (config().refused.includes(user) ? \`\${user} \${config().reason}\` : null), () => null),
  }),
});

/** Knocks on a registered user's phones with OPTIONS; counts the requests the proxy forwarded. */
export const porter = defineModule({
  name: 'porter',
  description: 'Asks whether a user\\'s phones answer',
  schema: z.object({ timeoutMs: z.number().int().positive().default(2000) }),
  dependsOn: { registrar: required<RegistrarApi>('registrar') },
  setup: ({ core }) => {
    const state = { forwarded: 0 };
    core.hooks.onRequestForward(() => { state.forwarded++; });
    return state;
  },
  functions: ({ config, core, deps, state }) => ({
    /** Answers 200 naming the status each of \`user\`'s contacts gave an OPTIONS, 404 when none is registered. */
    knock: fn(['request'], (mc, user: string): Promise<Verdict> => {
      const fulfil = mc.reserve('knock');
      return mc.track(Promise.resolve(deps.registrar.lookup(user, 'sip')).then(async (found) => {
        if (!found.ok) return fulfil(respondVerdict(404));
        const statuses = await Promise.all(found.bindings.map((b) => core.originate({
          dialect: 'sip', method: 'OPTIONS', uri: b.contact ?? \`sip:\${user}@\${formatEndpoint(b.address)}\`,
          target: { address: b.address, transport: b.transport, connection: b.connection }, timeoutMs: config().timeoutMs,
        }).then((r) => r.status)));
        return fulfil(respondVerdict(200, \`\${user} answered \${statuses.join(',')} after \${state.forwarded} forwarded\`));
      }));
    }),
  }),
});
`);
  // Its author builds it with switchyard installed from the same tarball (no native addons needed for that).
  ok(run('npm', ['install', '--save-dev', tarball, ...NPM_FLAGS], modDir, 180_000, { SWITCHYARD_NATIVE: '0' }), 'npm install switchyard into the module');
  ok(run(process.execPath, [TSC, '-p', modDir], modDir), 'tsc for the module');
  const mod = pack(modDir, work);
  assert.deepEqual(mod.files.filter((f) => !f.startsWith('dist/') && f !== 'package.json'), []);
  const modSource = readFileSync(path.join(modDir, 'dist', 'index.js'), 'utf8');
  assert.deepEqual([...modSource.matchAll(/from\s+['"]([^'"]+)['"]/g)].map((m) => m[1]), ['switchyard/module'], 'the module imports only switchyard/module');

  // The user's project: empty, then both packages from their tarballs.
  const project = path.join(work, 'project');
  mkdirSync(project);
  writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'my-proxy', version: '1.0.0', private: true }, null, 2));
  ok(run('npm', ['install', tarball, mod.tarball, ...NPM_FLAGS], project, 180_000), 'npm install in the project');
  const installed = path.join(project, 'node_modules', 'switchyard');
  assert.ok(existsSync(path.join(installed, 'dist', 'cli', 'main.js')));
  assert.ok(existsSync(path.join(installed, 'native', 'build', 'relay.node')), 'the install script built the native relay');

  assert.match(ok(run('npx', ['switchyard', '--help'], project, 60_000), 'npx switchyard --help').stdout, /switchyard init \[--config <file>\] \[--force\]/);
  const init = ok(run('npx', ['switchyard', 'init'], project, 60_000), 'npx switchyard init');
  const script = path.join(project, 'proxy.config.ts');
  assert.match(init.stdout, new RegExp(`wrote ${script.replace(/[.]/g, '\\.')}`));
  assert.match(init.stdout, /wrote .*tsconfig\.json/);
  assert.match(init.stdout, /next: npx switchyard\b/);
  assert.equal(readFileSync(script, 'utf8'), readFileSync(path.join(REPO, 'proxy.config.ts'), 'utf8'));
  const again = run('npx', ['switchyard', 'init'], project, 60_000);
  assert.equal(again.status, 1, 'init does not overwrite the script');
  assert.match(again.stderr, /exists: not overwritten \(--force/);
  assert.match(ok(run('npx', ['switchyard', 'init', '--force'], project, 60_000), 'init --force').stdout, /kept .*tsconfig\.json/);

  // Free ports instead of the product's defaults, and the module in the script.
  const plainPort = await freePort();
  const sipPort = await freePort();
  rewrite(script, 'port: 34567', `port: ${plainPort}`);
  rewrite(script, 'port: 5060', `port: ${sipPort}`);
  rewrite(script, "'5000-5999'", `'${await freeRange(20)}'`);
  rewrite(script, "import { callRouting, dialog, floodLimits, mediaRelay, registrar } from 'switchyard/modules';",
    "import { callRouting, dialog, floodLimits, mediaRelay, registrar } from 'switchyard/modules';\nimport { doorman, porter } from 'switchyard-doorman';");
  rewrite(script, '    registrar(),', "    registrar(),\n    doorman({ refused: ['mallory'] }),\n    porter(),");
  rewrite(script, "      if (msg.dialect === 'plain') return ctx.respond(501, 'unsupported request');",
    "      if (msg.dialect === 'plain') return ctx.respond(501, 'unsupported request');\n      if (msg.method === 'OPTIONS' && msg.ruri.user === 'knock') return ctx.knock(msg.from.user);");
  rewrite(script, "      if (msg.method === 'REGISTER') return ctx.register();", `      if (msg.method === 'REGISTER') {
        const refusal = ctx.refusal(msg.from.user);
        if (refusal !== null) return ctx.respond(403, refusal);
        return ctx.register();
      }`);
  // The script type-checks against the installed declarations (the tsconfig init wrote).
  ok(run(process.execPath, [TSC, '-p', project], project), 'tsc for the project');
  ok(run('npx', ['switchyard', 'check'], project, 60_000), 'npx switchyard check');

  const proxy = new Running(spawn('npx', ['switchyard', '--no-warm-up', '--no-watch'], { cwd: project, detached: true, stdio: ['ignore', 'pipe', 'pipe'] }));
  try {
    await proxy.waitFor((l) => typeof l.msg === 'string' && l.msg.startsWith('switchyard started'), 'switchyard started', 60_000);
    assert.ok(proxy.lines.some((l) => l.msg === 'listening' && l.port === plainPort));
    assert.match(String(proxy.lines.find((l) => typeof l.msg === 'string' && l.msg.startsWith('switchyard started'))!.msg), /doorman: refusal\nporter <- registrar: knock/, "the listing names the dependency");
    // The addons the install built are the ones the proxy runs (signal.node also needs node's uv.h, which some node builds lack).
    assert.equal(proxy.lines.find((l) => l.msg === 'media relay ready')?.engine, 'native', 'the installed relay addon is found from dist');
    if (existsSync(path.join(installed, 'native', 'build', 'signal.node'))) {
      assert.ok(proxy.lines.filter((l) => l.msg === 'listening' && l.transport === 'udp').every((l) => l.udpEngine === 'native'), 'the installed signaling addon is found from dist');
    }

    const peer = await UdpPeer.open(4);
    try {
      await peer.send('REGISTER alice\n', plainPort);
      assert.equal(await peer.nextText(5000), 'ACK_REGISTER alice\n');
      await peer.send('REGISTER mallory\n', plainPort);
      assert.equal(await peer.nextText(5000), 'ERROR mallory is not welcome here\n', "the route answers with the module function's value");
    } finally {
      await peer.close();
    }

    // The porter: a hook (forwarded requests counted), a dependency (the registrar's lookup) and an originated OPTIONS.
    const carol = await SipUa.open();
    const bob = await SipUa.open();
    try {
      const proxyUri = `sip:127.0.0.1:${sipPort}`;
      carol.send([`REGISTER ${proxyUri} SIP/2.0`, `Via: SIP/2.0/UDP ${carol.hostport};branch=z9hG4bK-reg1`, 'Max-Forwards: 70',
        `From: <sip:carol@127.0.0.1>;tag=a1`, `To: <sip:carol@127.0.0.1>`, 'Call-ID: porter-reg', 'CSeq: 1 REGISTER',
        `Contact: <sip:carol@${carol.hostport}>`, 'Expires: 300', 'Content-Length: 0', '', ''].join('\n'), sipPort);
      await carol.next(/^SIP\/2\.0 200 /);
      bob.send([`MESSAGE sip:carol@127.0.0.1:${sipPort} SIP/2.0`, `Via: SIP/2.0/UDP ${bob.hostport};branch=z9hG4bK-msg1`, 'Max-Forwards: 70',
        `From: <sip:bob@127.0.0.1>;tag=b1`, `To: <sip:carol@127.0.0.1>`, 'Call-ID: porter-msg', 'CSeq: 1 MESSAGE',
        'Content-Type: text/plain', 'Content-Length: 2', '', 'hi'].join('\n'), sipPort);
      carol.send(answer(await carol.next(/^MESSAGE /), '200 OK', { tag: 'a2' }), sipPort);
      await bob.next(/^SIP\/2\.0 200 /);
      bob.send([`OPTIONS sip:knock@127.0.0.1:${sipPort} SIP/2.0`, `Via: SIP/2.0/UDP ${bob.hostport};branch=z9hG4bK-knock1`, 'Max-Forwards: 70',
        `From: <sip:carol@127.0.0.1>;tag=b2`, `To: <sip:knock@127.0.0.1>`, 'Call-ID: porter-knock', 'CSeq: 1 OPTIONS', 'Content-Length: 0', '', ''].join('\n'), sipPort);
      const options = await carol.next(/^OPTIONS /);
      assert.match(options.split('\r\n')[0]!, new RegExp(`^OPTIONS sip:carol@${carol.hostport.replace(/[.]/g, '\\.')} SIP/2\\.0$`), 'the originated OPTIONS goes to the registered contact');
      carol.send(answer(options, '200 OK', { tag: 'a3' }), sipPort);
      const knocked = await bob.next(/^SIP\/2\.0 /);
      assert.equal(knocked.split('\r\n')[0], 'SIP/2.0 200 carol answered 200 after 1 forwarded');
    } finally {
      carol.close();
      bob.close();
    }
  } finally {
    await proxy.stop();
  }
  assert.ok(proxy.lines.some((l) => l.msg === 'switchyard stopped'), `a clean shutdown at SIGTERM:\n${proxy.stderr}`);
});
