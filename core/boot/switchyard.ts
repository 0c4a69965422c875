import type { CoreServices } from '../kernel/core-services.ts';
import { Dispatcher, type DispatchStats } from '../kernel/dispatcher.ts';
import { ProxyHooks } from '../kernel/hooks.ts';
import type { MessageCounts } from '../kernel/message-counts.ts';
import { ModuleRegistry } from '../kernel/module-registry.ts';
import { OverloadControl, type OverloadStats, type SocketReadSignal } from '../kernel/overload.ts';
import type { Endpoint } from '../lib/address.ts';
import type { DialectName } from '../model/message.ts';
import { createLogger, type Logger, type LogLevel } from '../lib/log.ts';
import { loadScript, type LoadedScript } from '../script/load.ts';
import type { ScriptOverrides } from '../script/overrides.ts';
import { Reloader, firstSnapshot, type ReloadRecord, type ReloadResult } from '../script/reload.ts';
import { UdpListener } from '../transport/udp-listener.ts';
import { DialectRuntimes } from './dialects.ts';

export type { ReloadResult, ReloadRecord };

/** A signaling listener as it is open. */
export interface OpenListener {
  readonly name: string;
  readonly dialect: 'plain' | 'sip';
  readonly host: string;
  readonly port: number;
  readonly udpEngine: string;
}

export interface StartOptions {
  readonly configFile: string;
  /** Overrides the script's log level. */
  readonly logLevel?: LogLevel;
  readonly logger?: Logger;
  /** Watch the script and reload on save (default true). */
  readonly watch?: boolean;
  /** Listen ports and module options set from outside the script (the command line); every reload keeps them. */
  readonly overrides?: ScriptOverrides;
}

/**
 * A running proxy: it owns the signaling sockets, boots the modules, feeds every message from
 * its listeners through the dispatcher to the script, and reloads the script when asked.
 */
export class Switchyard {
  private reloader!: Reloader;
  private registry!: ModuleRegistry;
  private readonly listeners = new Map<string, UdpListener>();
  private readonly hooks = new ProxyHooks();
  private readonly dialects: DialectRuntimes;
  private readonly overload: OverloadControl;
  readonly dispatcher: Dispatcher;
  private stopped = false;
  /** Epoch ms when the listeners opened. */
  startedAt = 0;
  /** What stops with the proxy, before its listeners close (the admin listener). */
  private readonly companions: (() => Promise<void>)[] = [];

  private constructor(private readonly log: Logger) {
    this.dialects = new DialectRuntimes({
      hooks: this.hooks, log,
      runRoute: (kind, name, txn, reply) => this.dispatcher.runTransactionRoute(kind, name, txn, reply),
      send: (listener, to, data, sent) => this.send(listener, to, data, sent),
      dispatch: (msg, engine, listener) => {
        if (this.hooks.admits(msg.source)) this.handle(listener, () => this.dispatcher.dispatch(msg, engine));
      },
      dropped: () => { this.dispatcher.stats.parseErrors++; },
      queueDelayMs: () => this.overload.queueDelayMs(),
      overloadFeedback: (work) => this.overload.feedback(work),
    });
    this.overload = new OverloadControl({ pending: () => this.dialects.pending(), completed: () => this.dialects.completed() }, {}, log);
    this.dispatcher = new Dispatcher({
      log,
      send: (listener, to, data) => this.send(listener, to, data),
      overload: this.overload,
      guard: (listener, run) => this.handle(listener, run),
      registry: () => this.registry,
      current: () => this.reloader.current.snapshot,
    });
  }

  /** Loads the script and starts a proxy with it. */
  static async start(opts: StartOptions): Promise<Switchyard> {
    const script = await loadScript(opts.configFile, opts.overrides);
    const log = opts.logger ?? createLogger({ level: (opts.logLevel ?? script.logLevel ?? 'info') as LogLevel });
    return Switchyard.boot(script, log, opts);
  }

  /** Starts a proxy with a script already loaded: modules set up, listeners open. */
  static async boot(script: LoadedScript, log: Logger, opts: Pick<StartOptions, 'watch' | 'overrides'> = {}): Promise<Switchyard> {
    const proxy = new Switchyard(log);
    try {
      await proxy.open(script, opts.watch !== false, opts.overrides);
    } catch (err) {
      await proxy.stop();
      throw err;
    }
    return proxy;
  }

  private core(): CoreServices {
    return {
      hooks: this.hooks,
      isOwnUri: (uri) => this.dialects.isOwnUri(uri),
      originate: (req) => this.dialects.originate(req),
    };
  }

  private async open(script: LoadedScript, watch: boolean, overrides: ScriptOverrides | undefined): Promise<void> {
    this.dialects.configureSip(script.sip);
    if (script.listen.some((l) => l.dialect === 'sip')) this.dialects.sip();
    this.registry = await ModuleRegistry.boot(script.modules, this.core(), this.log);
    this.reloader = new Reloader({ script, snapshot: firstSnapshot(script) }, this.registry, this.log, overrides, (next) => {
      this.overload.configure(next.overload);
      this.dialects.configureSip(next.sip);
    });
    this.overload.configure(script.overload);
    this.overload.start();
    for (const l of script.listen) {
      if (l.dialect === 'sip' && l.transport !== undefined) {
        await this.dialects.sip().listen(l, l.port); // TLS, WS, WSS: a stream listener with no UDP socket
        continue;
      }
      const port = this.dialects.get(l.dialect);
      // Per datagram and per read: no closure or object is made for either (one signal, rewritten).
      const signal: { -readonly [K in keyof SocketReadSignal]: SocketReadSignal[K] } = { drained: false, waitedMs: undefined, fill: undefined, drops: undefined };
      const listener = await UdpListener.open({ ...l, dialect: port.dialect }, (_d, name, buf, source) => {
        if (!this.hooks.admits(source)) return;
        try {
          this.dispatcher.receive(port, name, buf, source)?.catch((err: unknown) => this.failed(err, name));
        } catch (err) {
          this.failed(err, name);
        }
      }, this.log, (name, read) => {
        const q = read.queue;
        signal.drained = read.drained;
        signal.waitedMs = read.waitedMs;
        signal.fill = q === undefined ? undefined : q.bytes / q.capacity;
        signal.drops = q?.drops;
        this.overload.socketRead(name, signal);
        this.dispatcher.readEnd();
      });
      this.listeners.set(l.name, listener);
      this.log.info({ listener: l.name, dialect: l.dialect, transport: 'udp', udpEngine: listener.engine, host: l.host, port: listener.port }, 'listening');
      if (l.dialect === 'sip') await this.dialects.sip().listen(l, listener.port);
    }
    if (watch) await this.reloader.watch(); // a save right after 'started' is seen
    this.startedAt = Date.now();
    this.log.info({ script: script.file, generation: 1, modules: this.registry.moduleNames() }, `switchyard started\n${this.registry.describe()}`);
  }

  /** Runs one message's handling; a failure, thrown or rejected, is logged and never reaches the socket. */
  private handle(listener: string, run: () => void | Promise<void>): void {
    try {
      run()?.catch((err: unknown) => this.failed(err, listener));
    } catch (err) {
      this.failed(err, listener);
    }
  }

  private failed(err: unknown, listener: string): void {
    this.log.error({ err, listener }, 'message handling failed');
  }

  private send(listener: string, to: Endpoint, data: Buffer, sent?: () => void): void {
    const l = this.listeners.get(listener);
    if (l === undefined) {
      this.log.warn({ listener }, 'send on a listener that is not open');
      return;
    }
    l.send(to, data, sent);
  }

  /** True once stop() has begun. */
  get stopping(): boolean {
    return this.stopped;
  }

  get generation(): number {
    return this.reloader.current.snapshot.generation;
  }

  /** The port of the first SIP UDP listener, or null when none is open. */
  get sipPort(): number | null {
    return this.portOf('sip');
  }

  /** The port of the dialect's first UDP listener (a SIP TLS or WebSocket listener has none), or null when none is open. */
  portOf(dialect: DialectName): number | null {
    const l = this.reloader.current.script.listen.find((x) => x.dialect === dialect && x.transport === undefined);
    return l === undefined ? null : (this.listeners.get(l.name)?.port ?? null);
  }

  /** Loads the script again and swaps it in between two messages (see Reloader). */
  reload(): Promise<ReloadResult> {
    return this.reloader.reload();
  }

  /** Runs `stop` when the proxy stops, first of all (a listener started beside it). */
  onStop(stop: () => Promise<void>): void {
    this.companions.push(stop);
  }

  /** The signaling listeners as they are open. */
  openListeners(): OpenListener[] {
    return this.reloader.current.script.listen.flatMap((l) => {
      const open = this.listeners.get(l.name);
      return open === undefined ? [] : [{ name: l.name, dialect: l.dialect, host: l.host, port: open.port, udpEngine: open.engine }];
    });
  }

  /** The booted modules (for the admin listener: what they show operators, switching them on and off). */
  get modules(): ModuleRegistry {
    return this.registry;
  }

  /** The last reloads and how many succeeded and failed. */
  get reloads(): { readonly history: readonly ReloadRecord[]; readonly counts: { readonly ok: number; readonly failed: number } } {
    return { history: this.reloader.history, counts: this.reloader.counts };
  }

  /** The script being served. */
  get scriptFile(): string {
    return this.reloader.current.script.file;
  }

  /** Live counters of the core, as they are (read, never copied per message). */
  counters(): {
    readonly dispatch: Readonly<DispatchStats>; readonly messages: MessageCounts; readonly transactions: Readonly<Record<string, number>>;
    readonly dialects: Readonly<Record<string, Readonly<Record<string, number>>>>; readonly sip: Readonly<Record<string, number>> | null; readonly overload: Readonly<OverloadStats>;
  } {
    const d = this.dialects.stats() as { transactions: Record<string, number>; dialects: Record<string, Record<string, number>>; sip?: Record<string, number> };
    return { dispatch: this.dispatcher.stats, messages: this.dispatcher.counts, transactions: d.transactions, dialects: d.dialects, sip: d.sip ?? null, overload: this.overload.stats() };
  }

  stats(): Record<string, unknown> {
    return {
      generation: this.generation,
      dispatch: { ...this.dispatcher.stats },
      overload: this.overload.stats(),
      ...this.dialects.stats(),
    };
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    const stats = this.reloader === undefined ? {} : this.stats();
    for (const stop of this.companions.splice(0)) await stop().catch((err: unknown) => this.log.error({ err }, 'stopping a companion failed'));
    this.overload.stop();
    await this.reloader?.close();
    await Promise.all([...this.listeners.values()].map((l) => l.close()));
    this.listeners.clear();
    await this.dialects.close();
    await this.registry?.close();
    this.log.info({ stats }, 'switchyard stopped');
  }
}
