/**
 * The layout is the architecture (docs/architecture.md): each layer imports only the layers
 * below it, modules import only the module kit, and no file imports itself back, even by types.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { REPO } from './_unit-fixtures.ts';

const IMPORT = /(?:^|\n)\s*(?:import|export)\s[^;]*?from\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g;

interface Edge { readonly from: string; readonly to: string; readonly typeOnly: boolean; readonly dynamic: boolean }

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = path.join(dir, name);
    if (statSync(p).isDirectory()) out.push(...sources(p));
    else if (name.endsWith('.ts') && !name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

/** Every relative import of the product code, as repository-relative paths. */
function edges(): Edge[] {
  const files = ['core', 'modules', 'cli'].flatMap((d) => sources(path.join(REPO, d)));
  const out: Edge[] = [];
  for (const file of files) {
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(IMPORT)) {
      const spec = m[1] ?? m[2]!;
      if (!spec.startsWith('.')) continue;
      const typeOnly = /^\s*(?:import|export)\s+type\s/.test(m[0].replace(/^\n/, ''));
      out.push({ from: path.relative(REPO, file), to: path.relative(REPO, path.resolve(path.dirname(file), spec)), typeOnly, dynamic: m[2] !== undefined });
    }
  }
  return out;
}

/** The layer a file belongs to. */
function layerOf(file: string): string {
  if (file === 'core/index.ts' || file === 'core/module.ts') return 'facade';
  const [top, second] = file.split('/');
  if (top === 'core') return second === 'dialects' ? 'dialects' : second!;
  return top!;
}

/** What each layer may import (besides itself). */
const MAY_IMPORT: Readonly<Record<string, readonly string[]>> = {
  lib: [],
  model: ['lib'],
  kernel: ['lib', 'model'],
  transport: ['lib', 'model', 'kernel'],
  dialects: ['lib', 'model', 'kernel', 'transport'],
  script: ['lib', 'model', 'kernel'],
  boot: ['lib', 'model', 'kernel', 'transport', 'dialects', 'script'],
  admin: ['lib', 'model', 'kernel', 'transport', 'dialects', 'script', 'boot'],
  facade: ['lib', 'model', 'kernel', 'transport', 'dialects', 'script', 'boot', 'facade'],
  cli: ['lib', 'model', 'kernel', 'transport', 'dialects', 'script', 'boot', 'admin', 'facade', 'modules'],
};

describe('the layout', () => {
  const all = edges();

  test('each layer of core imports only the layers below it', () => {
    const wrong = all
      .filter((e) => e.from.startsWith('core/') || e.from.startsWith('cli/'))
      // The script loader hands a script the running installation's own API: the one place below the facades that imports them (dynamically).
      .filter((e) => !(e.from === 'core/script/load.ts' && e.dynamic && ['index.ts', 'core/module.ts', 'modules/index.ts'].includes(e.to)))
      .filter((e) => {
        const from = layerOf(e.from);
        const to = layerOf(e.to);
        return from !== to && !(MAY_IMPORT[from] ?? []).includes(to);
      })
      .map((e) => `${e.from} -> ${e.to}`);
    assert.deepEqual(wrong, []);
  });

  test('modules import only the module kit, their own files, and the api types of other modules', () => {
    // modules/index.ts is the list of the modules this package ships, not a module.
    const wrong = all.filter((e) => e.from.startsWith('modules/') && e.from !== 'modules/index.ts').filter((e) => {
      const ownFolder = e.from.split('/').slice(0, 2).join('/');
      if (e.to.startsWith(`${ownFolder}/`)) return false;
      if (e.to === 'core/module.ts') return false;
      return !(e.typeOnly && e.to.startsWith('modules/') && e.to.endsWith('/index.ts'));
    }).map((e) => `${e.from} -> ${e.to}${e.typeOnly ? ' (types)' : ''}`);
    assert.deepEqual(wrong, []);
  });

  test('no import circle between files, counting type-only imports', () => {
    const next = new Map<string, string[]>();
    for (const e of all) next.set(e.from, [...(next.get(e.from) ?? []), e.to]);
    const state = new Map<string, 'visiting' | 'done'>();
    const circles: string[] = [];
    const visit = (f: string, trail: string[]): void => {
      if (state.get(f) === 'done') return;
      if (state.get(f) === 'visiting') {
        circles.push([...trail.slice(trail.indexOf(f)), f].join(' -> '));
        return;
      }
      state.set(f, 'visiting');
      for (const t of next.get(f) ?? []) visit(t, [...trail, f]);
      state.set(f, 'done');
    };
    for (const f of next.keys()) visit(f, []);
    assert.deepEqual(circles, []);
  });
});
