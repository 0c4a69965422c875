import { AdminServer } from '../core/admin/server.ts';
import { Switchyard, type StartOptions } from '../core/boot/switchyard.ts';
import type { ResolvedAdmin } from '../core/script/admin-options.ts';
import { VERSION } from './version.ts';
import { isSwitchyardError } from '../core/lib/errors.ts';
import { createLogger, type LogLevel } from '../core/lib/log.ts';
import { loadScript } from '../core/script/load.ts';
import { warmUp } from './warm-up/warm-up.ts';

export interface ProxyStartOptions extends StartOptions {
  /** Play calls through a private proxy before listening, when the script listens for SIP (warm-up/warm-up.ts). */
  readonly warmUp?: boolean;
  /** Overrides the script's admin listener (`--admin`, `--no-admin`): its address, or false for none. */
  readonly admin?: { readonly host: string; readonly port: number } | false;
}

/** The admin listener the script asks for, with the command line's say. */
function adminOf(script: ResolvedAdmin, override: ProxyStartOptions['admin']): ResolvedAdmin {
  if (override === undefined) return script;
  if (override === false) return { ...script, enabled: false, explicit: true };
  return { ...script, enabled: true, host: override.host, port: override.port, explicit: true };
}

/** What `switchyard start` does: load the script, warm the call path up if asked, then start the proxy. */
export async function startProxy(opts: ProxyStartOptions): Promise<Switchyard> {
  const script = await loadScript(opts.configFile);
  const log = opts.logger ?? createLogger({ level: (opts.logLevel ?? script.logLevel ?? 'info') as LogLevel });
  if (opts.warmUp !== false && script.listen.some((l) => l.dialect === 'sip')) {
    const quiet = createLogger({ level: 'silent' });
    await warmUp(script, (s) => Switchyard.boot(s, quiet, { watch: false }), log);
  }
  const admin = adminOf(script.admin, opts.admin);
  const proxy = await Switchyard.boot(script, log, opts);
  if (admin.enabled) {
    try {
      const server = await AdminServer.start(proxy, { ...admin, version: VERSION, log });
      proxy.onStop(() => server.close());
    } catch (err) {
      // The default listener gives way to another proxy on the machine; one that was asked for does not.
      if (!admin.explicit && isSwitchyardError(err) && err.code === 'SY_ADMIN_LISTEN') {
        log.warn({ host: admin.host, port: admin.port }, `${err.message}: running without the admin listener (set admin in the script or --admin to choose its address)`);
        return proxy;
      }
      await proxy.stop();
      throw err;
    }
  }
  return proxy;
}
