import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { localImportGraph } from '../../core/script/imports.ts';
import { REPO, tmpDir } from './_unit-fixtures.ts';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** Writes files (relative path → source) into a fresh temp folder; returns the folder. */
function tree(files: Record<string, string>): string {
  const dir = tmpDir('imports');
  dirs.push(dir);
  for (const [rel, src] of Object.entries(files)) {
    const p = path.join(dir, rel);
    mkdirSync(path.dirname(p), { recursive: true });
    writeFileSync(p, src);
  }
  return dir;
}

function graph(dir: string, entry: string, exclude: readonly string[] = []): string[] {
  return localImportGraph(path.join(dir, entry), exclude).map((f) => path.relative(dir, f)).sort();
}

describe('localImportGraph', () => {
  test('a script with no local imports is just itself', () => {
    const dir = tree({ 'proxy.config.ts': "import { defineProxy } from 'switchyard';\nimport { z } from 'zod';\nexport default 1;\n" });
    assert.deepEqual(graph(dir, 'proxy.config.ts'), ['proxy.config.ts']);
  });

  test('the entry comes first, as an absolute path', () => {
    const dir = tree({ 'main.ts': "import './a.ts';\n", 'a.ts': '' });
    const files = localImportGraph(path.join(dir, 'main.ts'), []);
    assert.equal(files[0], path.join(dir, 'main.ts'));
    assert.ok(files.every((f) => path.isAbsolute(f)));
  });

  test('follows every import form, transitively', () => {
    const dir = tree({
      'main.ts': [
        "import { a } from './a.ts';",
        "import b from './b';",
        "import type { T } from './types.ts';",
        "import './side-effect.ts';",
        "export * from './reexport.ts';",
        "export { x } from \"./dq.ts\";",
        "const lazy = () => import('./lazy.ts');",
        "const c = require('./c.cjs');",
        "import { d } from './dir';",
        "import {",
        "  multi,",
        "} from './multi.ts';",
      ].join('\n'),
      'a.ts': "import { deep } from './nested/deep.ts';\nexport const a = deep;\n",
      'nested/deep.ts': "import { up } from '../up.ts';\nexport const deep = up;\n",
      'up.ts': 'export const up = 1;\n',
      'b.ts': 'export default 2;\n',
      'types.ts': 'export type T = number;\n',
      'side-effect.ts': '',
      'reexport.ts': '',
      'dq.ts': '',
      'lazy.ts': '',
      'c.cjs': 'module.exports = 3;\n',
      'dir/index.ts': "export { d } from './d.ts';\n",
      'dir/d.ts': 'export const d = 4;\n',
      'multi.ts': 'export const multi = 5;\n',
      'unrelated.ts': 'export const nobody = 0;\n',
    });
    assert.deepEqual(graph(dir, 'main.ts'), [
      'a.ts', 'b.ts', 'c.cjs', 'dir/d.ts', 'dir/index.ts', 'dq.ts', 'lazy.ts', 'main.ts', 'multi.ts', 'nested/deep.ts',
      'reexport.ts', 'side-effect.ts', 'types.ts', 'up.ts',
    ]);
  });

  test('resolves extensionless specifiers to .ts, .mts, .js, .mjs and index files', () => {
    const dir = tree({
      'main.ts': "import './one';\nimport './two';\nimport './three';\nimport './four';\nimport './five';\n",
      'one.ts': '', 'two.mts': '', 'three.js': '', 'four.mjs': '', 'five/index.js': '',
    });
    assert.deepEqual(graph(dir, 'main.ts'), ['five/index.js', 'four.mjs', 'main.ts', 'one.ts', 'three.js', 'two.mts']);
  });

  test('a .js specifier that names a .ts file (TypeScript style) is followed', () => {
    const dir = tree({ 'main.ts': "import { v } from './helper.js';\n", 'helper.ts': 'export const v = 1;\n' });
    assert.deepEqual(graph(dir, 'main.ts'), ['helper.ts', 'main.ts']);
  });

  test('import cycles terminate and list each file once', () => {
    const dir = tree({
      'main.ts': "import './a.ts';\n",
      'a.ts': "import './b.ts';\nimport './main.ts';\n",
      'b.ts': "import './a.ts';\nimport './b.ts';\n",
    });
    const files = localImportGraph(path.join(dir, 'main.ts'), []);
    assert.equal(files.length, 3);
    assert.equal(new Set(files).size, 3);
  });

  test('package imports, missing files and node_modules are not followed', () => {
    const dir = tree({
      'main.ts': [
        "import { z } from 'zod';",
        "import { defineProxy } from 'switchyard';",
        "import mods from 'switchyard/modules';",
        "import './missing.ts';",
        "import './also-missing';",
        "import './node_modules/pkg/index.ts';",
        "import x from 'node:fs';",
      ].join('\n'),
      'node_modules/pkg/index.ts': "import '../../secret.ts';\n",
      'secret.ts': '',
    });
    assert.deepEqual(graph(dir, 'main.ts'), ['main.ts']);
  });

  test('files under an excluded folder (switchyard itself) are left out and not followed', () => {
    const dir = tree({
      'main.ts': "import './product/core.ts';\nimport './mine.ts';\n",
      'product/core.ts': "import '../behind-product.ts';\n",
      'behind-product.ts': '',
      'mine.ts': '',
      'productive.ts': '',
    });
    assert.deepEqual(graph(dir, 'main.ts', [path.join(dir, 'product')]), ['main.ts', 'mine.ts']);
    // Excluding a folder does not exclude a sibling whose name merely starts the same.
    const dir2 = tree({ 'main.ts': "import './productive.ts';\n", 'productive.ts': '' });
    assert.deepEqual(graph(dir2, 'main.ts', [path.join(dir2, 'product')]), ['main.ts', 'productive.ts']);
  });

  test('a directory specifier without an index is ignored', () => {
    const dir = tree({ 'main.ts': "import './folder';\n", 'folder/readme.md': 'hi' });
    assert.deepEqual(graph(dir, 'main.ts'), ['main.ts']);
  });

  test('a missing entry is returned alone (the loader reports the real error)', () => {
    const dir = tree({});
    assert.deepEqual(graph(dir, 'nope.ts'), ['nope.ts']);
  });

  test('the repository script: switchyard product files are excluded', () => {
    const files = localImportGraph(path.join(REPO, 'proxy.config.ts'), [path.join(REPO, 'core'), path.join(REPO, 'modules')]);
    assert.deepEqual(files, [path.join(REPO, 'proxy.config.ts')]);
  });

  test('relative entry paths are resolved against the working directory', () => {
    const dir = tree({ 'main.ts': "import './a.ts';\n", 'a.ts': '' });
    const rel = path.relative(process.cwd(), path.join(dir, 'main.ts'));
    const files = localImportGraph(rel, []);
    assert.deepEqual(files.sort(), [path.join(dir, 'a.ts'), path.join(dir, 'main.ts')]);
  });
});
