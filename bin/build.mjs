#!/usr/bin/env node
/**
 * Builds dist/ from the TypeScript sources (tsconfig.build.json): ESM .js and .d.ts for index.ts,
 * core/, modules/ and cli/, incrementally (`tsc -b`: a no-op when nothing changed). Route scripts
 * that the product loads with jiti at run time are copied as they are, and outputs whose source
 * is gone are removed, so dist/ holds exactly what the sources make.
 * Run by `prepare` (npm install, npm pack), `prestart`, the bench scripts and test/run.mjs.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dist = path.join(root, 'dist');
/** Loaded by jiti at run time, found next to the compiled file that loads them. */
const COPIED = ['cli/warm-up/warm-up.config.ts'];
const OUTPUT = /\.(?:d\.ts|js)(?:\.map)?$/;

let tsc;
try {
  tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
} catch {
  process.stderr.write('switchyard build: typescript is not installed (npm install in the repository installs it)\n');
  process.exit(1);
}
const run = spawnSync(process.execPath, [tsc, '-b', path.join(root, 'tsconfig.build.json')], { stdio: 'inherit' });
if (run.status !== 0) process.exit(run.status ?? 1);

for (const rel of COPIED) {
  const from = path.join(root, rel);
  const to = path.join(dist, rel);
  if (existsSync(to) && readFileSync(to).equals(readFileSync(from))) continue;
  mkdirSync(path.dirname(to), { recursive: true });
  copyFileSync(from, to);
}

/** Removes outputs (and copies) under dist/ whose source no longer exists. */
function prune(dir) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const abs = path.join(dir, entry.name);
    const rel = path.relative(dist, abs);
    if (entry.isDirectory()) {
      prune(abs);
      if (readdirSync(abs).length === 0) rmSync(abs, { recursive: true });
      continue;
    }
    if (rel === '.tsbuildinfo') continue;
    const source = OUTPUT.test(rel) ? rel.replace(OUTPUT, '.ts') : rel;
    if (!existsSync(path.join(root, source))) rmSync(abs);
  }
}
prune(dist);
