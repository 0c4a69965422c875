import type { Endpoint } from '../lib/address.ts';
import type { Dialect } from '../kernel/dialect.ts';
import { AdmissionControl } from '../kernel/admission.ts';
import { Dispatcher } from '../kernel/dispatcher.ts';
import { SwitchyardError, isSwitchyardError } from '../lib/errors.ts';
import { createLogger, type Logger, type LogLevel } from '../lib/log.ts';
import type { DialectName, Reply } from '../model/message.ts';
import type { CoreServices } from '../kernel/core-services.ts';
import { ModuleRegistry } from '../kernel/module-registry.ts';
import { createPlainDialect } from '../dialects/plain/dialect.ts';
import { loadScript, type LoadedScript, type ResolvedListen } from '../script/load.ts';
import type { RouteSnapshot } from '../kernel/snapshot.ts';
import { ScriptWatcher } from '../script/watch.ts';
import { PlainProxyEngine, type EngineDeps } from '../dialects/plain/engine.ts';
import { ProxyHooks } from '../kernel/hooks.ts';
import type { TransactionView } from '../kernel/hooks.ts';
import type { ProxyEngine } from '../kernel/engine.ts';
import { UdpListener } from '../transport/udp-listener.ts';
import { SipRuntime } from '../dialects/sip/runtime.ts';
import { warmUp } from '../../cli/warm-up/warm-up.ts';

export interface StartOptions {
  readonly configFile: string;
  /** Overrides the script's log level. */
  readonly logLevel?: LogLevel;
  readonly logger?: Logger;
  /** Watch the script and reload on save (default true). */
  readonly watch?: boolean;
  /** Play calls through a private proxy before listening, when the script listens for SIP (default true; warm-up/warm-up.ts). */
  readonly warmUp?: boolean;
}

export type ReloadResult =
  | { readonly ok: true; readonly generation: number; readonly applied: readonly string[]; readonly needsRestart: readonly string[] }
  | { readonly ok: false; readonly error: string; readonly code: string };

function sameListeners(a: readonly ResolvedListen[], b: readonly ResolvedListen[]): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** A running proxy: listeners, modules, the current route snapshot, and the reload pipeline. */
export class Switchyard {
  private snapshot!: RouteSnapshot;
  private script!: LoadedScript;
  private registry!: ModuleRegistry;
  private readonly listeners = new Map<string, UdpListener>();
  private sip: SipRuntime | null = null;
  /** Each dialect's codec and stateful engine. */
  private readonly dialects = new Map<DialectName, { readonly dialect: Dialect; readonly engine: ProxyEngine }>();
  private readonly hooks = new ProxyHooks();
  private readonly admission = new AdmissionControl({ retransmitted: () => this.sip?.retransmissions.retransmissionsAbsorbed ?? 0 });
  readonly dispatcher: Dispatcher;
  private watcher: ScriptWatcher | null = null;
  private readonly engineDeps: Pick<EngineDeps, 'hooks' | 'log' | 'runRoute'>;
  private reloading: Promise<ReloadResult> | null = null;
  private reloadAgain = false;
  private stopped = false;

  private constructor(private readonly log: Logger, private readonly opts: StartOptions) {
    const send = (listener: string, to: Endpoint, data: Buffer): void => this.send(listener, to, data);
    const engineDeps = {
      hooks: this.hooks, log, send,
      runRoute: (kind: 'reply' | 'failure', name: string, txn: TransactionView, reply: Reply) => this.dispatcher.runTransactionRoute(kind, name, txn, reply),
    };
    this.engineDeps = engineDeps;
    const plain = createPlainDialect();
    this.dialects.set('plain', { dialect: plain, engine: new PlainProxyEngine(plain, engineDeps) });
    this.dispatcher = new Dispatcher({
      log, send,
      admission: this.admission,
      registry: () => this.registry,
      current: () => this.snapshot,
    });
  }

  static async start(opts: StartOptions): Promise<Switchyard> {
    const script = await loadScript(opts.configFile);
    const log = opts.logger ?? createLogger({ level: (opts.logLevel ?? script.logLevel ?? 'info') as LogLevel });
    if (opts.warmUp !== false && script.listen.some((l) => l.dialect === 'sip')) {
      const quiet = createLogger({ level: 'silent' });
      await warmUp(script, (s) => Switchyard.startWith(s, quiet, { configFile: s.file, watch: false, warmUp: false }), log);
    }
    return Switchyard.startWith(script, log, opts);
  }

  private static async startWith(script: LoadedScript, log: Logger, opts: StartOptions): Promise<Switchyard> {
    const proxy = new Switchyard(log, opts);
    try {
      await proxy.boot(script);
    } catch (err) {
      await proxy.stop();
      throw err;
    }
    return proxy;
  }

  private core(): CoreServices {
    return {
      hooks: this.hooks,
      dialect: (name) => this.runtime(name).dialect,
      send: (listener, to, data, sent) => this.send(listener, to, data, sent),
      isOwnUri: (uri) => this.sip?.isOwnUri(uri) ?? false,
      originate: (req) => {
        if (this.sip === null) return Promise.reject(new Error('originate(): the script has no SIP listener'));
        return this.sip.originate(req);
      },
    };
  }

  private runtime(name: DialectName): { readonly dialect: Dialect; readonly engine: ProxyEngine } {
    const r = this.dialects.get(name);
    if (r === undefined) throw new Error(`dialect '${name}' is not available`);
    return r;
  }

  private async boot(script: LoadedScript): Promise<void> {
    this.script = script;
    this.snapshot = { generation: 1, file: script.file, routes: script.routes, defaultReply: script.defaultReply };
    this.registry = await ModuleRegistry.boot(script.modules, this.core(), this.log);
    this.setUpSip(script.listen);
    this.admission.start();
    for (const l of script.listen) {
      const { dialect, engine } = this.runtime(l.dialect);
      const listener = await UdpListener.open({ ...l, dialect }, (d, name, buf, source) => {
        this.handle(name, () => this.dispatcher.onDatagram(d, engine, name, buf, source));
      }, this.log);
      this.listeners.set(l.name, listener);
      this.log.info({ listener: l.name, dialect: l.dialect, transport: 'udp', udpEngine: listener.engine, host: l.host, port: listener.port }, 'listening');
      if (l.dialect === 'sip') await this.sip!.listen(l, listener.port);
    }
    this.log.info({ script: script.file, generation: 1, modules: this.registry.moduleNames() }, `switchyard started\n${this.registry.describe()}`);
    if (this.opts.watch !== false) {
      this.watcher = new ScriptWatcher(script.files, (file) => {
        this.log.info({ file }, 'script changed: reloading');
        void this.reload();
      });
    }
  }

  /** The SIP side, if the script listens for SIP. */
  private setUpSip(listen: readonly ResolvedListen[]): void {
    if (!listen.some((l) => l.dialect === 'sip')) return;
    const sip = new SipRuntime({
      ...this.engineDeps,
      sendUdp: (listener, to, bytes) => this.send(listener, to, bytes),
      dispatch: (msg) => {
        this.handle(msg.listener, () => this.dispatcher.dispatch(msg, sip.engine));
      },
      dropped: () => { this.dispatcher.stats.parseErrors++; },
    }, this.log);
    this.sip = sip;
    this.dialects.set('sip', { dialect: sip.dialect, engine: sip.engine });
  }

  /** Runs one message's handling; a failure, thrown or rejected, is logged and never reaches the socket. */
  private handle(listener: string, run: () => void | Promise<void>): void {
    const failed = (err: unknown): void => { this.log.error({ err, listener }, 'message handling failed'); };
    try {
      run()?.catch(failed);
    } catch (err) {
      failed(err);
    }
  }

  private send(listener: string, to: Endpoint, data: Buffer, sent?: () => void): void {
    const l = this.listeners.get(listener);
    if (l === undefined) {
      this.log.warn({ listener }, 'send on a listener that is not open');
      return;
    }
    l.send(to, data, sent);
  }

  get generation(): number {
    return this.snapshot.generation;
  }

  /** The port of the first SIP UDP listener, or null when none is open. */
  get sipPort(): number | null {
    const l = this.script.listen.find((x) => x.dialect === 'sip');
    return l === undefined ? null : (this.listeners.get(l.name)?.port ?? null);
  }




  /**
   * Loads the script again and swaps it in between two messages. Reloads never overlap: a
   * request during one runs once more after it. A script that fails leaves the old one serving.
   */
  reload(): Promise<ReloadResult> {
    if (this.reloading !== null) {
      this.reloadAgain = true;
      return this.reloading;
    }
    this.reloading = (async () => {
      let result: ReloadResult;
      do {
        this.reloadAgain = false;
        result = await this.reloadOnce();
      } while (this.reloadAgain && !this.stopped);
      this.reloading = null;
      return result;
    })();
    return this.reloading;
  }

  private async reloadOnce(): Promise<ReloadResult> {
    const started = performance.now();
    try {
      const next = await loadScript(this.script.file);
      const diff = this.registry.moduleSetDifference(next.modules);
      if (diff.added.length > 0 || diff.removed.length > 0) {
        throw new SwitchyardError('SY_MODULE_SET_CHANGED',
          `${next.file}: the module list changed (added: ${diff.added.join(', ') || 'none'}; removed: ${diff.removed.join(', ') || 'none'}); that needs a restart`);
      }
      this.watcher?.setFiles(next.files);
      const report = this.registry.reconfigure(next.modules);
      const needsRestart = [...report.needsRestart];
      if (!sameListeners(this.script.listen, next.listen)) needsRestart.push('listen');
      const generation = this.snapshot.generation + 1;
      // The swap: every message from here on reads the new snapshot; transactions keep theirs.
      this.snapshot = { generation, file: next.file, routes: next.routes, defaultReply: next.defaultReply };
      this.script = { ...next, listen: this.script.listen };
      const ms = Math.round(performance.now() - started);
      this.log.info({ generation, applied: report.applied, ms }, 'script reloaded');
      if (needsRestart.length > 0) this.log.warn({ fields: needsRestart }, 'changed config fields need a restart to take effect');
      return { ok: true, generation, applied: report.applied, needsRestart };
    } catch (err) {
      const code = isSwitchyardError(err) ? err.code : 'SY_CONFIG_LOAD';
      const message = err instanceof Error ? err.message : String(err);
      this.log.error({ code, generation: this.snapshot.generation }, `reload refused, generation ${this.snapshot.generation} keeps serving: ${message}`);
      return { ok: false, error: message, code };
    }
  }

  stats(): Record<string, unknown> {
    return {
      generation: this.snapshot.generation,
      transactions: Object.fromEntries([...this.dialects].map(([n, r]) => [n, r.engine.size])),
      dispatch: { ...this.dispatcher.stats },
      dialects: Object.fromEntries([...this.dialects].map(([n, r]) => [n, r.dialect.stats()])),
      ...(this.sip !== null ? { sip: this.sip.stats() } : {}),
    };
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    const stats = this.snapshot === undefined ? {} : this.stats();
    this.admission.stop();
    await this.watcher?.close();
    await Promise.all([...this.listeners.values()].map((l) => l.close()));
    this.listeners.clear();
    await this.sip?.close();
    for (const r of this.dialects.values()) r.engine.close();
    await this.registry?.close();
    this.log.info({ stats }, 'switchyard stopped');
  }
}
