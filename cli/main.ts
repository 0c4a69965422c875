import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { isSwitchyardError } from '../core/lib/errors.ts';
import { createLogger, type LogLevel } from '../core/lib/log.ts';
import type { Switchyard } from '../core/boot/switchyard.ts';
import { startProxy } from './start.ts';
import { PACKAGE_ROOT } from '../core/lib/package-root.ts';
import { loadScript } from '../core/script/load.ts';
import { relayMain } from './relay/main.ts';

const USAGE = `usage: switchyard [start] [--config <file>] [--log-level <level>] [--no-watch] [--no-warm-up]
       switchyard check [--config <file>]
       switchyard init [--config <file>] [--force]
       switchyard relay --ng <host:port> [--ports <lo>-<hi>] [--advertise <address>]...  (relay --help)

  --config      the route script (default ./proxy.config.ts)
  --log-level   fatal | error | warn | info | debug | trace | silent (default: the script's, else info)
  --no-watch    do not reload when the script changes (SIGHUP still reloads)
  --no-warm-up  start listening at once, without first playing calls through a private proxy
  check         load and validate the script, print what is wrong, exit 0 or 1
  init          write the default route script (./proxy.config.ts) and, if there is none, a
                tsconfig.json to type-check it; --force overwrites an existing script
  relay         a media relay node speaking rtpengine's NG protocol, without signaling`;

const LEVELS = new Set(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']);

export async function main(argv: readonly string[]): Promise<number> {
  // The relay node has options of its own.
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
        'no-warm-up': { type: 'boolean', default: false },
        force: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
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
  const command = positionals[0] ?? 'start';
  const level = values['log-level'];
  if (level !== undefined && !LEVELS.has(level)) {
    process.stderr.write(`--log-level: '${level}' is not one of ${[...LEVELS].join(', ')}\n`);
    return 2;
  }
  if (command === 'check') return check(values.config!);
  if (command === 'init') return init(values.config!, values.force!);
  if (command !== 'start') {
    process.stderr.write(`unknown command '${command}'\n${USAGE}\n`);
    return 2;
  }
  return start(values.config!, level as LogLevel | undefined, !values['no-watch'], !values['no-warm-up']);
}

async function check(file: string): Promise<number> {
  try {
    const s = await loadScript(file);
    const fns = s.modules.map((m) => `${m.name}${m.enabled ? '' : ' (disabled)'}`).join(', ');
    process.stdout.write(`${s.file}: ok\n  listen: ${s.listen.map((l) => `${l.dialect} ${l.host} ${l.port}`).join('; ')}\n  modules: ${fns}\n  routes: request${Object.keys(s.routes.reply).map((k) => `, reply.${k}`).join('')}${Object.keys(s.routes.failure).map((k) => `, failure.${k}`).join('')}\n`);
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

async function start(file: string, level: LogLevel | undefined, watch: boolean, warmUp: boolean): Promise<number> {
  const bootLog = createLogger({ level: level ?? 'info' });
  let proxy: Switchyard;
  try {
    proxy = await startProxy({ configFile: file, ...(level ? { logLevel: level } : {}), watch, warmUp });
  } catch (err) {
    const code = isSwitchyardError(err) ? err.code : 'SY_BOOT';
    bootLog.fatal({ code }, err instanceof Error ? err.message : String(err));
    return 1;
  }
  return new Promise<number>((resolve) => {
    let stopping = false;
    const shutdown = (signal: string): void => {
      if (stopping) {
        bootLog.warn({ signal }, 'second signal: exiting now');
        process.exit(1);
      }
      stopping = true;
      bootLog.info({ signal }, 'shutting down');
      proxy.stop().then(() => resolve(0), (err: unknown) => {
        bootLog.error({ err }, 'shutdown failed');
        resolve(1);
      });
    };
    process.on('SIGINT', () => shutdown('SIGINT'));
    process.on('SIGTERM', () => shutdown('SIGTERM'));
    process.on('SIGHUP', () => void proxy.reload());
  });
}
