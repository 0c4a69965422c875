import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { isSwitchyardError } from '../core/lib/errors.ts';
import { createLogger, type LogLevel } from '../core/lib/log.ts';
import type { Switchyard } from '../core/boot/switchyard.ts';
import { startProxy } from './start.ts';
import { PACKAGE_ROOT } from '../core/lib/package-root.ts';
import { PRODUCT_DIRS, loadScript } from '../core/script/load.ts';
import type { ScriptOverrides } from '../core/script/overrides.ts';
import { OverrideError, readOverrides } from './overrides.ts';
import { typeCheckScript } from './type-check.ts';
import { parseAdminAddress } from '../core/script/admin-options.ts';
import { runCtl } from './ctl/main.ts';
import { runPhone } from './phone/main.ts';
import { VERSION } from './version.ts';
import { relayMain } from './relay/main.ts';

const USAGE = `usage: switchyard [start] [--config <file>] [--log-level <level>] [--no-watch] [--warm-up]
                  [--admin <host:port> | --no-admin]
                  [--plain-port <port>] [--sip-port <port>] [--media-ports <min-max>]
       switchyard check [--config <file>] [--plain-port <port>] [--sip-port <port>] [--media-ports <min-max>]
       switchyard init [--config <file>] [--force]
       switchyard ctl <command> [--admin <host:port>] [--token <token>] [--json]   (switchyard ctl --help)
       switchyard phone ...       a test phone of the plain protocol (switchyard phone --help)
       switchyard relay --ng <host:port> [--ports <lo>-<hi>] [--advertise <address>]...  (switchyard relay --help)
       switchyard --version

  --config       the route script (default ./proxy.config.ts)
  --log-level    fatal | error | warn | info | debug | trace | silent (default: the script's, else info)
  --no-watch     do not reload when the script changes (SIGHUP still reloads)
  --warm-up      before listening, play calls through a private proxy so that the call path is
                 compiled when the first load arrives (off by default: under overload control a
                 cold start costs less than the second or two the warm-up keeps the listeners closed)
  --no-warm-up   start listening at once (the default)
  --plain-port   the port of the script's plain listener (env SWITCHYARD_PLAIN_PORT; 0: any free port)
  --sip-port     the port of the script's SIP listener, UDP and TCP (env SWITCHYARD_SIP_PORT; 0: any free port)
  --media-ports  the media relay's port range, e.g. 20000-20999 (env SWITCHYARD_MEDIA_PORTS)
                 A flag wins over its variable; both win over the script, also across reloads.
                 A listen port another program holds stops the start at once, naming the port.
  --admin        the admin listener's address (metrics, health, control API, status page;
                 default: the script's admin, else 127.0.0.1:8060); --no-admin runs none
  check          type-check the script (the TypeScript compiler, as tsc does), load and validate
                 it; print the errors and exit 1, or one line that it is OK and exit 0
  init           write the default route script (./proxy.config.ts) and, if there is none, a
                 tsconfig.json to type-check it; --force overwrites an existing script
  relay          a media relay node speaking rtpengine's NG protocol, without signaling`;

const LEVELS = new Set(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']);

export async function main(argv: readonly string[]): Promise<number> {
  // Commands with options of their own parse their own arguments.
  if (argv[0] === 'phone') return runPhone(argv.slice(1));
  if (argv[0] === 'ctl') return runCtl(argv.slice(1));
  if (argv[0] === 'relay') return relayMain(argv.slice(1));
  let args;
  try {
    args = parseArgs({
      args: [...argv],
      allowPositionals: true,
      options: {
        config: { type: 'string', short: 'c', default: './proxy.config.ts' },
        'log-level': { type: 'string' },
        'no-watch': { type: 'boolean', default: false },
        'warm-up': { type: 'boolean', default: false },
        'no-warm-up': { type: 'boolean', default: false },
        'plain-port': { type: 'string' },
        'sip-port': { type: 'string' },
        'media-ports': { type: 'string' },
        force: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
        version: { type: 'boolean', short: 'V', default: false },
        admin: { type: 'string' },
        'no-admin': { type: 'boolean', default: false },
      },
    });
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n${USAGE}\n`);
    return 2;
  }
  const { values, positionals } = args;
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (values.version) {
    process.stdout.write(`switchyard ${VERSION}\n`);
    return 0;
  }
  let admin: { host: string; port: number } | false | undefined;
  if (values['no-admin']) admin = false;
  else if (values.admin !== undefined) {
    const parsed = parseAdminAddress(values.admin);
    if (parsed === null) {
      process.stderr.write(`--admin: '${values.admin}' is not <host>:<port> (e.g. 127.0.0.1:8060 or [::1]:8060)\n`);
      return 2;
    }
    admin = parsed;
  }
  const command = positionals[0] ?? 'start';
  const level = values['log-level'];
  if (level !== undefined && !LEVELS.has(level)) {
    process.stderr.write(`--log-level: '${level}' is not one of ${[...LEVELS].join(', ')}\n`);
    return 2;
  }
  if (command === 'init') return init(values.config!, values.force!);
  if (command !== 'start' && command !== 'check') {
    process.stderr.write(`unknown command '${command}'\n${USAGE}\n`);
    return 2;
  }
  let overrides: ScriptOverrides;
  try {
    overrides = readOverrides({ 'plain-port': values['plain-port'], 'sip-port': values['sip-port'], 'media-ports': values['media-ports'] }, process.env);
  } catch (err) {
    if (!(err instanceof OverrideError)) throw err;
    // As a script that does not validate: a one-line FATAL when starting, the reason when checking.
    if (command === 'check') process.stderr.write(`SY_CONFIG_INVALID: ${err.message}\n`);
    else createLogger({ level: (level as LogLevel | undefined) ?? 'info', singleLine: true }).fatal({ code: 'SY_CONFIG_INVALID' }, err.message);
    return 1;
  }
  if (command === 'check') return check(values.config!, overrides);
  return start(values.config!, level as LogLevel | undefined, !values['no-watch'], values['warm-up'] === true && values['no-warm-up'] !== true, overrides, admin);
}

/** Type-checks the script, then loads and validates it; every problem found is printed. */
async function check(file: string, overrides: ScriptOverrides): Promise<number> {
  const typed = await typeCheckScript(file, PRODUCT_DIRS);
  if (typed.ok === false) process.stderr.write(`${typed.errors.join('\n')}\n${typed.errors.length} type error${typed.errors.length === 1 ? '' : 's'}\n`);
  if (typed.ok === 'unavailable') process.stderr.write(`not type-checked: ${typed.reason}\n`);
  try {
    const s = await loadScript(file, overrides);
    if (typed.ok === false) return 1;
    const modules = s.modules.map((m) => `${m.name}${m.enabled ? '' : ' (disabled)'}`).join(', ');
    const routes = ['request', ...Object.keys(s.routes.reply).map((k) => `reply.${k}`), ...Object.keys(s.routes.failure).map((k) => `failure.${k}`)].join(', ');
    const listen = s.listen.map((l) => `${l.dialect} ${l.host} ${l.port}`).join(', ');
    process.stdout.write(`${s.file}: OK (${typed.ok === true ? 'type-checked' : 'not type-checked'}; listen: ${listen}; modules: ${modules}; routes: ${routes})\n`);
    return 0;
  } catch (err) {
    const code = isSwitchyardError(err) ? `${err.code}: ` : '';
    process.stderr.write(`${code}${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
}

/** Type-checks a route script as jiti loads it: ESM, `switchyard` resolved through its package exports. */
const STARTER_TSCONFIG = {
  compilerOptions: {
    target: 'ES2022',
    module: 'ESNext',
    moduleResolution: 'Bundler',
    strict: true,
    noEmit: true,
    allowImportingTsExtensions: true,
    skipLibCheck: true,
  },
  include: ['*.ts'],
};

/** Writes the default route script (and a tsconfig.json beside it when there is none). */
function init(file: string, force: boolean): number {
  const script = path.resolve(file);
  const tsconfig = path.join(path.dirname(script), 'tsconfig.json');
  if (existsSync(script) && !force) {
    process.stderr.write(`${script} exists: not overwritten (--force overwrites it)\n`);
    return 1;
  }
  try {
    writeFileSync(script, readFileSync(path.join(PACKAGE_ROOT, 'proxy.config.ts')));
    process.stdout.write(`wrote ${script}: the default route script (plain protocol on UDP 34567, SIP on 5060, media relay on 5000-5999)\n`);
    if (existsSync(tsconfig)) {
      process.stdout.write(`kept ${tsconfig} as it is\n`);
    } else {
      writeFileSync(tsconfig, `${JSON.stringify(STARTER_TSCONFIG, null, 2)}\n`, { flag: 'wx' });
      process.stdout.write(`wrote ${tsconfig}: type-checks the script (npm install -D typescript @types/node, then npx tsc)\n`);
    }
  } catch (err) {
    process.stderr.write(`init: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
  const config = path.relative(process.cwd(), script);
  const flag = config === 'proxy.config.ts' ? '' : ` --config ${config}`;
  process.stdout.write(`next: npx switchyard${flag}    (npx switchyard check${flag} validates it first)\n`);
  return 0;
}

async function start(file: string, level: LogLevel | undefined, watch: boolean, warmUp: boolean, overrides: ScriptOverrides, admin: { host: string; port: number } | false | undefined): Promise<number> {
  const bootLog = createLogger({ level: level ?? 'info', singleLine: true });
  // The handlers are there before the proxy listens: a signal that comes while it starts stops it
  // once started, instead of killing the process half-way.
  let proxy: Switchyard | null = null;
  let stopping: string | null = null;
  let done: (code: number) => void = () => undefined;
  const finished = new Promise<number>((resolve) => { done = resolve; });
  const stop = (p: Switchyard, signal: string): void => {
    bootLog.info({ signal }, 'shutting down');
    p.stop().then(() => done(0), (err: unknown) => {
      bootLog.error({ err }, 'shutdown failed');
      done(1);
    });
  };
  const shutdown = (signal: string): void => {
    if (stopping !== null) {
      bootLog.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    stopping = signal;
    if (proxy !== null) stop(proxy, signal);
  };
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGHUP', () => void proxy?.reload());
  try {
    proxy = await startProxy({ configFile: file, ...(level ? { logLevel: level } : {}), watch, warmUp, overrides, ...(admin !== undefined ? { admin } : {}) });
  } catch (err) {
    const code = isSwitchyardError(err) ? err.code : 'SY_BOOT';
    bootLog.fatal({ code }, err instanceof Error ? err.message : String(err));
    return 1;
  }
  if (stopping !== null) stop(proxy, stopping);
  return finished;
}
