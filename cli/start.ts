import path from 'node:path';
import { AdminServer } from '../core/admin/server.ts';
import { Switchyard, type StartOptions } from '../core/boot/switchyard.ts';
import { startWatchdog } from '../core/boot/watchdog.ts';
import type { ResolvedAdmin } from '../core/script/admin-options.ts';
import { VERSION } from './version.ts';
import { isSwitchyardError } from '../core/lib/errors.ts';
import { createLogger, type LogLevel } from '../core/lib/log.ts';
import { assertPortsFree } from './ports-free.ts';
import { loadScriptBounded } from '../core/script/load-probe.ts';
import { warmUp } from './warm-up/warm-up.ts';

export interface ProxyStartOptions extends StartOptions {
  /** Play calls through a private proxy before listening, when the script listens for SIP (warm-up/warm-up.ts); default false. */
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
  const admin = adminOf(script.admin, opts.admin);
  const proxy = await Switchyard.boot(script, log, opts);
  // A route that blocks the event loop is reported with its file:line, and ends the process when it never returns.
  // Its thread and heartbeat do not keep the process alive: nothing to stop at shutdown.
  startWatchdog(path.dirname(script.file));
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
