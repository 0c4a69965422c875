/** Compile-time guarantees of the script API: wrong scripts fail the type check. */
import assert from 'node:assert/strict';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import ts from 'typescript';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..', '..');

function typeErrors(fixture: string): string[] {
  const configFile = ts.readConfigFile(path.join(root, 'tsconfig.json'), (f) => ts.sys.readFile(f));
  const parsed = ts.parseJsonConfigFileContent(configFile.config, ts.sys, root);
  const program = ts.createProgram([path.join(here, 'fixtures', fixture)], parsed.options);
  return ts.getPreEmitDiagnostics(program).map((d) => {
    const where = d.file && d.start !== undefined ? `${path.basename(d.file.fileName)}:${d.file.getLineAndCharacterOfPosition(d.start).line + 1}` : '';
    return `${where} ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`;
  });
}

test('a valid script type-checks', () => {
  assert.deepEqual(typeErrors('valid.ts'), []);
});

test('a function from a module that is not listed fails', () => {
  const errors = typeErrors('unlisted-module-function.ts');
  assert.equal(errors.length, 1, errors.join('\n'));
  assert.match(errors[0]!, /unlisted-module-function\.ts:10 Property 'engageMediaProxy' does not exist/);
});

test('a failure route key that does not exist fails', () => {
  const errors = typeErrors('unknown-failure-route.ts');
  assert.equal(errors.length, 1, errors.join('\n'));
  assert.match(errors[0]!, /unknown-failure-route\.ts:10 Type '"voicemial"' is not assignable to type '"voicemail"'/);
});

test('a misspelt function fails', () => {
  const errors = typeErrors('misspelt-function.ts');
  assert.equal(errors.length, 1, errors.join('\n'));
  assert.match(errors[0]!, /Property 'forwardcall' does not exist/);
});

test('a function outside its route kind, a bad option type and an unknown dialect fail', () => {
  const errors = typeErrors('wrong-scope-and-options.ts').join('\n');
  assert.match(errors, /Type '"upd"' is not assignable to type '"plain" \| "sip"'/);
  assert.match(errors, /Type 'string' is not assignable to type 'number'/);
  assert.match(errors, /Property 'register' does not exist/);
});

test('a module function that is not an { ok } result must declare its value while disabled', () => {
  const errors = typeErrors('predicate-without-disabled-value.ts');
  assert.equal(errors.length, 1, errors.join('\n'));
  assert.match(errors[0]!, /predicate-without-disabled-value\.ts:9 Type 'boolean' is not assignable to type 'ResultObject \| PromiseLike<ResultObject>'/);
});
