import path from 'node:path';
import { Switchyard, type StartOptions } from '../core/boot/switchyard.ts';
import { startWatchdog } from '../core/boot/watchdog.ts';
import { createLogger, type LogLevel } from '../core/lib/log.ts';
import { assertPortsFree } from './ports-free.ts';
import { loadScriptBounded } from '../core/script/load-probe.ts';
import { warmUp } from './warm-up/warm-up.ts';

export interface ProxyStartOptions extends StartOptions {
  /** Play calls through a private proxy before listening, when the script listens for SIP (warm-up/warm-up.ts); default false. */
  readonly warmUp?: boolean;
}

/**
 * What `switchyard start` does: load the script (with the command line's overrides), make sure
 * its listen ports are free before anything starts, warm the call path up if asked, then start
 * the proxy.
 */
export async function startProxy(opts: ProxyStartOptions): Promise<Switchyard> {
  const script = await loadScriptBounded(opts.configFile, { probe: false, overrides: opts.overrides });
  await assertPortsFree(script);
  const log = opts.logger ?? createLogger({ level: (opts.logLevel ?? script.logLevel ?? 'info') as LogLevel });
  if (opts.warmUp === true && script.listen.some((l) => l.dialect === 'sip')) {
    const quiet = createLogger({ level: 'silent' });
    await warmUp(script, (s) => Switchyard.boot(s, quiet, { watch: false }), log);
  }
  const proxy = await Switchyard.boot(script, log, opts);
  // A route that blocks the event loop is reported with its file:line, and ends the process when it never returns.
  // Its thread and heartbeat do not keep the process alive: nothing to stop at shutdown.
  startWatchdog(path.dirname(script.file));
  return proxy;
}
