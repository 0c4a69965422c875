import { Switchyard, type StartOptions } from '../core/boot/switchyard.ts';
import { createLogger, type LogLevel } from '../core/lib/log.ts';
import { loadScript } from '../core/script/load.ts';
import { assertPortsFree } from './ports-free.ts';
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
  const script = await loadScript(opts.configFile, opts.overrides);
  await assertPortsFree(script);
  const log = opts.logger ?? createLogger({ level: (opts.logLevel ?? script.logLevel ?? 'info') as LogLevel });
  if (opts.warmUp === true && script.listen.some((l) => l.dialect === 'sip')) {
    const quiet = createLogger({ level: 'silent' });
    await warmUp(script, (s) => Switchyard.boot(s, quiet, { watch: false }), log);
  }
  return Switchyard.boot(script, log, opts);
}
