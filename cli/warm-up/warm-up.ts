import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from '../../core/lib/log.ts';
import { loadScript, type LoadedScript } from '../../core/script/load.ts';
import { playCalls, playRegistrations } from './call-player.ts';

/** REGISTERs of distinct users, then as many whole calls: enough for V8 to have compiled both paths (see BENCHMARKS.md). */
const WARM_UP_ROUNDS = 3000;
const CONCURRENCY = 32;
/** Each phase (REGISTERs, calls) starts nothing new after this long; what is in flight finishes or stalls out. */
const BUDGET_MS = 3000;

const WARM_UP_SCRIPT = path.join(path.dirname(fileURLToPath(import.meta.url)), 'warm-up.config.ts');

/** A proxy the warm-up can start and stop: Switchyard, passed in so this file does not import it. */
export interface WarmUpTarget {
  readonly sipPort: number | null;
  stop(): Promise<void>;
}

/**
 * Plays REGISTERs of distinct users, then whole calls, through a private proxy before the real
 * one opens its listeners, so that a load arriving at full rate from the first second meets
 * compiled code. Cold, a proxy's first
 * 2,000 calls cost about three times what later ones do (410 against 135 µs of CPU each in
 * `npm run bench:sip-path -- 2000 64 0`; 250 after this warm-up), much of it V8 compiling on the
 * same core; a SIPp run that starts at thousands of calls a second fell behind in its first
 * seconds and never recovered.
 *
 * The private proxy runs cli/warm-up/warm-up.config.ts: the default script's call path, on a
 * loopback port of its own, with its own registrar, dialogs and transactions, and the
 * operator's media relay options (the port range) when the operator's script has a relay. The
 * operator's script, modules and state are not touched; the private proxy is stopped before
 * this returns, and a warm-up that fails is logged and skipped, never fatal.
 */
/** Calls the private relay can carry at once (four ports each): a call past them would be refused 503. */
function callsInRange(modules: readonly { readonly name: string; readonly config: Record<string, unknown> }[]): number {
  const relay = modules.find((m) => m.name === 'media-relay');
  const m = typeof relay?.config.ports === 'string' && (relay.config.relays as unknown[] | undefined)?.length === 0 ? /^(\d+)\s*-\s*(\d+)$/.exec(relay.config.ports.trim()) : null;
  return m === null ? CONCURRENCY : Math.max(1, Math.floor((Number(m[2]) - Number(m[1]) + 1) / 4) - 1);
}

export async function warmUp(operator: LoadedScript, start: (script: LoadedScript) => Promise<WarmUpTarget>, log: Logger, rounds = WARM_UP_ROUNDS): Promise<void> {
  if (rounds <= 0) return;
  const started = performance.now();
  let proxy: WarmUpTarget | null = null;
  try {
    const script = await loadScript(WARM_UP_SCRIPT);
    // The operator's module code (each script load evaluates its own copy), so that what V8
    // compiles here is what the operator's proxy runs; the warm-up's own options, except the relay's.
    const modules = script.modules.flatMap((m) => {
      const theirs = operator.modules.find((o) => o.name === m.name && o.enabled);
      // All its calls come from one loopback source: the whole range is theirs.
      if (m.name === 'media-relay') return theirs === undefined ? [] : [{ ...m, manifest: theirs.manifest, config: { ...theirs.config, maxPortsPerSource: 65_535 } }];
      return [theirs === undefined ? m : { ...m, manifest: theirs.manifest }];
    });
    // Its load is its own and bounded: a call refused by overload control would compile nothing.
    proxy = await start({ ...script, modules, overload: { enabled: false } });
    if (proxy.sipPort === null) throw new Error('the warm-up proxy has no SIP listener');
    const target = { host: '127.0.0.1', port: proxy.sipPort, concurrency: Math.min(CONCURRENCY, callsInRange(modules)), budgetMs: BUDGET_MS };
    const registered = await playRegistrations({ ...target, count: rounds });
    const played = await playCalls({ ...target, calls: rounds });
    log.debug({ registered, ...played, ms: Math.round(performance.now() - started) }, 'call path warmed up');
  } catch (err) {
    log.warn({ err }, 'start-up warm-up skipped');
  } finally {
    await proxy?.stop();
  }
}
