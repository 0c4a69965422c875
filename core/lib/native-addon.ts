import { createRequire } from 'node:module';
import path from 'node:path';
import { PACKAGE_ROOT } from './package-root.ts';

export type AddonLoad<T> = { readonly addon: T } | { readonly error: string };

const loads = new Map<string, AddonLoad<unknown>>();
const require = createRequire(import.meta.url);

const sanitize = process.env.SWITCHYARD_NATIVE_SANITIZE === '1';

/**
 * Where the addons are: SWITCHYARD_NATIVE_SANITIZE=1 picks the AddressSanitizer build (`node
 * native/build.mjs --sanitize`), which only a process that preloads the sanitizer runtime may
 * load (anywhere else it would end the process): without LD_PRELOAD naming libasan it throws.
 */
function buildDir(): string {
  if (!sanitize) return 'build';
  if (!/libasan/.test(process.env.LD_PRELOAD ?? '')) throw new Error('SWITCHYARD_NATIVE_SANITIZE=1 needs the sanitizer runtime preloaded (LD_PRELOAD=$(gcc -print-file-name=libasan.so))');
  return 'build/sanitize';
}

/**
 * An addon that native/build.mjs built at install time (`name`: relay, signal), loaded once,
 * or why it cannot be had; `needs` says what building it takes.
 */
export function loadAddon<T>(name: string, needs: string): AddonLoad<T> {
  let load = loads.get(name);
  if (load === undefined) {
    try {
      load = { addon: require(path.join(PACKAGE_ROOT, 'native', buildDir(), `${name}.node`)) as unknown };
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      load = { error: e.code === 'MODULE_NOT_FOUND' ? `not built (node native/build.mjs${sanitize ? ' --sanitize' : ''} builds it; needs ${needs})` : e.message };
    }
    loads.set(name, load);
  }
  return load as AddonLoad<T>;
}
