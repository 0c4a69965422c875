import { availableParallelism } from 'node:os';
import type { Logger } from '../../../core/module.ts';
import type { MediaEngine } from './engine.ts';
import { JsEngine } from './js-engine.ts';
import { loadNativeRelay, NativeEngine } from './native-engine.ts';

export type EngineChoice = 'auto' | 'native' | 'js';

export interface EngineOptions {
  /** `auto`: native when it was built, else JS. SWITCHYARD_MEDIA_ENGINE=js|native overrides `auto`. */
  readonly engine: EngineChoice;
  /** Native worker threads; `auto`: one per core. */
  readonly workers: number | 'auto';
  readonly host: string;
}

/** Thrown when the config asks for the native engine and it cannot be loaded. */
export class EngineUnavailableError extends Error {
  readonly code = 'SY_MEDIA_ENGINE';
}

export function createMediaEngine(opts: EngineOptions, log: Logger): MediaEngine {
  const fromEnv = process.env.SWITCHYARD_MEDIA_ENGINE;
  const choice: EngineChoice = opts.engine === 'auto' && (fromEnv === 'js' || fromEnv === 'native') ? fromEnv : opts.engine;
  if (choice === 'js') return new JsEngine(opts.host);
  const native = loadNativeRelay();
  if ('error' in native) {
    if (choice === 'native') throw new EngineUnavailableError(`mediaRelay engine "native": the native relay cannot be loaded: ${native.error}`);
    log.warn({ reason: native.error }, 'media relay: native engine unavailable, forwarding in JavaScript');
    return new JsEngine(opts.host);
  }
  const envWorkers = Number(process.env.SWITCHYARD_MEDIA_WORKERS);
  const workers = opts.workers === 'auto' ? (Number.isInteger(envWorkers) && envWorkers > 0 ? envWorkers : availableParallelism()) : opts.workers;
  return new NativeEngine(native.addon, opts.host, Math.min(64, workers));
}
