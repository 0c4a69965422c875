import { createRequire } from 'node:module';
import path from 'node:path';
import { PACKAGE_ROOT } from './package-root.ts';

export type AddonLoad<T> = { readonly addon: T } | { readonly error: string };

const loads = new Map<string, AddonLoad<unknown>>();
const require = createRequire(import.meta.url);

/**
 * An addon that native/build.mjs built at install time (`name`: relay, signal), loaded once,
 * or why it cannot be had; `needs` says what building it takes.
 */
export function loadAddon<T>(name: string, needs: string): AddonLoad<T> {
  let load = loads.get(name);
  if (load === undefined) {
    try {
      load = { addon: require(path.join(PACKAGE_ROOT, 'native', 'build', `${name}.node`)) as unknown };
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      load = { error: e.code === 'MODULE_NOT_FOUND' ? `not built (node native/build.mjs builds it; needs ${needs})` : e.message };
    }
    loads.set(name, load);
  }
  return load as AddonLoad<T>;
}
