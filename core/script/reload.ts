import type { ModuleRegistry } from '../kernel/module-registry.ts';
import type { RouteSnapshot } from '../kernel/snapshot.ts';
import { SwitchyardError, isSwitchyardError } from '../lib/errors.ts';
import type { Logger } from '../lib/log.ts';
import type { LoadedScript, ResolvedListen } from './load.ts';
import { closeProbe, loadScriptBounded } from './load-probe.ts';
import { NO_OVERRIDES, type ScriptOverrides } from './overrides.ts';
import { ScriptWatcher } from './watch.ts';

export type ReloadResult =
  | { readonly ok: true; readonly generation: number; readonly applied: readonly string[]; readonly needsRestart: readonly string[] }
  | { readonly ok: false; readonly error: string; readonly code: string };

/** One reload as the admin listener reports it. */
export interface ReloadRecord {
  /** Epoch ms. */
  readonly at: number;
  readonly ok: boolean;
  /** The generation serving after it. */
  readonly generation: number;
  readonly ms: number;
  readonly code?: string;
  readonly error?: string;
  /** `file:line` of the refused script's first problem, when known. */
  readonly where?: string;
}

/** Reloads remembered for the admin listener. */
const HISTORY = 20;

/** The first `file:line` (of a .ts/.js file) an error message names. */
function whereIn(message: string): string | undefined {
  return /((?:[A-Za-z]:)?\/[^\s:]+\.[cm]?[tj]s):(\d+)/.exec(message)?.slice(1, 3).join(':');
}

function sameListeners(a: readonly ResolvedListen[], b: readonly ResolvedListen[]): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** The one script a running proxy serves and the snapshot of its routes new messages read. */
export interface ServedScript {
  readonly script: LoadedScript;
  readonly snapshot: RouteSnapshot;
}

export function firstSnapshot(script: LoadedScript): RouteSnapshot {
  return { generation: 1, file: script.file, routes: script.routes, defaultReply: script.defaultReply };
}

/**
 * The reload pipeline: load the script again (jiti, no module cache) → validate → the module
 * set must be the same → modules apply their reloadable options → swap the snapshot between two
 * messages. A script that fails leaves the old one serving and never blocks the next attempt.
 * Reloads never overlap: one asked for during another runs once more after it.
 */
export class Reloader {
  private reloading: Promise<ReloadResult> | null = null;
  private again = false;
  private watcher: ScriptWatcher | null = null;
  private closed = false;
  /** The last reloads, oldest first. */
  readonly history: ReloadRecord[] = [];
  readonly counts = { ok: 0, failed: 0 };

  constructor(
    private served: ServedScript,
    private readonly registry: ModuleRegistry,
    private readonly log: Logger,
    private readonly overrides: ScriptOverrides = NO_OVERRIDES,
    /** Applies what the core itself takes from a new script (the overload section). */
    private readonly applyCore: (script: LoadedScript) => void = () => undefined,
  ) {}

  get current(): ServedScript {
    return this.served;
  }

  /** Reloads whenever the script or a local file it imports changes; resolves once the files are watched. */
  watch(): Promise<void> {
    this.watcher = new ScriptWatcher(this.served.script.files, (file) => {
      this.log.info({ file }, 'script changed: reloading');
      void this.reload();
    });
    return this.watcher.ready();
  }

  reload(): Promise<ReloadResult> {
    if (this.reloading !== null) {
      this.again = true;
      return this.reloading;
    }
    this.reloading = (async () => {
      let result: ReloadResult;
      do {
        this.again = false;
        result = await this.reloadOnce();
      } while (this.again && !this.closed);
      this.reloading = null;
      return result;
    })();
    return this.reloading;
  }

  private async reloadOnce(): Promise<ReloadResult> {
    const started = performance.now();
    const { script, snapshot } = this.served;
    try {
      const next = await loadScriptBounded(script.file, { probe: true, overrides: this.overrides });
      const diff = this.registry.moduleSetDifference(next.modules);
      if (diff.added.length > 0 || diff.removed.length > 0) {
        throw new SwitchyardError('SY_MODULE_SET_CHANGED',
          `${next.file}: the module list changed (added: ${diff.added.join(', ') || 'none'}; removed: ${diff.removed.join(', ') || 'none'}); that needs a restart`);
      }
      this.watcher?.setFiles(next.files);
      const report = this.registry.reconfigure(next.modules);
      const needsRestart = [...report.needsRestart];
      if (!sameListeners(script.listen, next.listen)) needsRestart.push('listen');
      const generation = snapshot.generation + 1;
      // The swap: every message from here on reads the new snapshot; transactions keep theirs.
      this.served = {
        snapshot: { generation, file: next.file, routes: next.routes, defaultReply: next.defaultReply },
        script: { ...next, listen: script.listen },
      };
      this.applyCore(next);
      const ms = Math.round(performance.now() - started);
      this.record({ at: Date.now(), ok: true, generation, ms });
      this.log.info({ generation, applied: report.applied, ms }, 'script reloaded');
      if (needsRestart.length > 0) this.log.warn({ fields: needsRestart }, 'changed config fields need a restart to take effect');
      return { ok: true, generation, applied: report.applied, needsRestart };
    } catch (err) {
      const code = isSwitchyardError(err) ? err.code : 'SY_CONFIG_LOAD';
      const message = err instanceof Error ? err.message : String(err);
      const where = whereIn(message);
      this.record({ at: Date.now(), ok: false, generation: snapshot.generation, ms: Math.round(performance.now() - started), code, error: message, ...(where !== undefined ? { where } : {}) });
      this.log.error({ code, generation: snapshot.generation }, `reload refused, generation ${snapshot.generation} keeps serving: ${message}`);
      return { ok: false, error: message, code };
    }
  }

  private record(r: ReloadRecord): void {
    if (r.ok) this.counts.ok++;
    else this.counts.failed++;
    this.history.push(r);
    if (this.history.length > HISTORY) this.history.shift();
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.watcher?.close();
    await closeProbe();
  }
}
