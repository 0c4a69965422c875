/**
 * The registrar is built on the module kit alone: its files import core/module.ts and each
 * other, never a dialect's or the kernel's internals (zod too comes through the kit); besides
 * Node's own modules, the one package it uses is the shared store's client (ioredis).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { REPO } from './_unit-fixtures.ts';

const FOLDER = path.join(REPO, 'modules', 'registrar');
const ALLOWED = /^(\.\/[\w-]+\.ts|\.\.\/\.\.\/core\/module\.ts|node:[\w/]+|ioredis)$/;

test('modules/registrar imports only the module kit and its own files', () => {
  const files = readdirSync(FOLDER).filter((f) => f.endsWith('.ts'));
  assert.ok(files.length >= 5, `the registrar's files are found (${files.join(', ')})`);
  const outside: string[] = [];
  for (const file of files) {
    const source = readFileSync(path.join(FOLDER, file), 'utf8');
    for (const m of source.matchAll(/\bfrom\s+'([^']+)'|\bimport\s*\(\s*'([^']+)'\s*\)|^import\s+'([^']+)'/gm)) {
      const specifier = m[1] ?? m[2] ?? m[3]!;
      if (!ALLOWED.test(specifier)) outside.push(`${file}: ${specifier}`);
    }
  }
  assert.deepEqual(outside, []);
});
