import { Switchyard, type StartOptions } from '../core/boot/switchyard.ts';
import { createLogger, type LogLevel } from '../core/lib/log.ts';
import { loadScript } from '../core/script/load.ts';
import { warmUp } from './warm-up/warm-up.ts';

export interface ProxyStartOptions extends StartOptions {
  /** Play calls through a private proxy before listening, when the script listens for SIP (warm-up/warm-up.ts). */
  readonly warmUp?: boolean;
}

/** What `switchyard start` does: load the script, warm the call path up if asked, then start the proxy. */
export async function startProxy(opts: ProxyStartOptions): Promise<Switchyard> {
  const script = await loadScript(opts.configFile);
  const log = opts.logger ?? createLogger({ level: (opts.logLevel ?? script.logLevel ?? 'info') as LogLevel });
  if (opts.warmUp !== false && script.listen.some((l) => l.dialect === 'sip')) {
    const quiet = createLogger({ level: 'silent' });
    await warmUp(script, (s) => Switchyard.boot(s, quiet, { watch: false }), log);
  }
  return Switchyard.boot(script, log, opts);
}
