/**
 * The media engines every relay test runs against: the pure-JS engine, and the native one
 * with one and with two worker threads. Without a built addon the native cases are skipped,
 * unless SWITCHYARD_REQUIRE_NATIVE=1 (CI), where that is a failure.
 */
import type { MediaEngine } from '../../modules/media-relay/relay/engine.ts';
import { JsEngine } from '../../modules/media-relay/relay/js-engine.ts';
import { loadNativeRelay, NativeEngine } from '../../modules/media-relay/relay/native-engine.ts';

export interface EngineCase {
  readonly name: string;
  /** Added to a test's ports, so the cases never contend for one port. */
  readonly portOffset: number;
  /** Why the case cannot run here, or false. */
  readonly skip: string | false;
  make(host: string): MediaEngine;
}

const native = loadNativeRelay();
if ('error' in native && process.env.SWITCHYARD_REQUIRE_NATIVE === '1') {
  throw new Error(`SWITCHYARD_REQUIRE_NATIVE=1 but the native relay cannot be loaded: ${native.error}`);
}
const nativeSkip = 'error' in native ? `native relay unavailable: ${native.error}` : false;

function nativeCase(workers: number, portOffset: number): EngineCase {
  return {
    name: `native engine, ${workers} worker${workers === 1 ? '' : 's'}`,
    portOffset,
    skip: nativeSkip,
    make: (host) => {
      if ('error' in native) throw new Error(native.error);
      return new NativeEngine(native.addon, host, workers);
    },
  };
}

export const ENGINE_CASES: readonly EngineCase[] = [
  { name: 'js engine', portOffset: 0, skip: false, make: (host) => new JsEngine(host) },
  nativeCase(1, 4000),
  nativeCase(2, 5000),
];
