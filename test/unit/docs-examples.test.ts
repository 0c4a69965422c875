/**
 * The examples of docs/writing-modules.md compile against the module kit: every ```ts block is
 * written to a file (named by the block's info string, e.g. ```ts block-list.ts, so the script
 * example can import the module example) and type-checked with the repository's settings.
 * Blocks marked `fragment` are pieces of a larger one and are skipped.
 */
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import ts from 'typescript';
import { REPO, tmpDir } from './_unit-fixtures.ts';

interface Block { readonly name: string; readonly code: string }

function blocks(markdown: string): Block[] {
  const out: Block[] = [];
  for (const m of markdown.matchAll(/```ts([^\n]*)\n([\s\S]*?)```/g)) {
    const info = m[1]!.trim();
    if (info === 'fragment') continue;
    out.push({ name: info !== '' ? info : `example-${out.length + 1}.ts`, code: m[2]! });
  }
  return out;
}

test('docs/writing-modules.md: every example compiles against switchyard/module', () => {
  const examples = blocks(readFileSync(path.join(REPO, 'docs', 'writing-modules.md'), 'utf8'));
  assert.ok(examples.length >= 5, `the guide has its examples (found ${examples.length})`);
  const dir = tmpDir('docs-examples');
  mkdirSync(dir, { recursive: true });
  const files = examples.map((b) => {
    const file = path.join(dir, b.name);
    writeFileSync(file, b.code);
    return file;
  });
  const config = ts.readConfigFile(path.join(REPO, 'tsconfig.json'), (f) => ts.sys.readFile(f));
  const options = ts.parseJsonConfigFileContent(config.config, ts.sys, REPO).options;
  const program = ts.createProgram(files, options);
  const errors = ts.getPreEmitDiagnostics(program).map((d) => {
    const where = d.file !== undefined && d.start !== undefined ? `${path.basename(d.file.fileName)}:${d.file.getLineAndCharacterOfPosition(d.start).line + 1}` : '';
    return `${where} ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`;
  });
  assert.deepEqual(errors, []);
});
