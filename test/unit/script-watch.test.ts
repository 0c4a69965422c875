/**
 * The script watcher survives every way a file gets saved: in place, replaced by rename (sed -i,
 * most editors), two saves in a row, cp then sed -i, deleted and written again, bursts. After
 * each pattern one reload is asked for, and a later save is still seen.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { ScriptWatcher } from '../../core/script/watch.ts';
import { tmpDir } from './_unit-fixtures.ts';

const watchers: ScriptWatcher[] = [];
after(async () => { for (const w of watchers) await w.close(); });

interface Watched { readonly dir: string; readonly script: string; readonly helper: string; changes: string[]; next(timeoutMs?: number): Promise<string> }

async function watched(): Promise<Watched> {
  const dir = tmpDir('watch');
  const script = path.join(dir, 'proxy.config.ts');
  const helper = path.join(dir, 'policy.ts');
  writeFileSync(script, 'export default 1;\n');
  writeFileSync(helper, 'export const x = 1;\n');
  const changes: string[] = [];
  let waiting: ((f: string) => void) | null = null;
  const w = new ScriptWatcher([script, helper], (file) => {
    changes.push(file);
    const resolve = waiting;
    waiting = null;
    resolve?.(file);
  }, 60);
  watchers.push(w);
  await w.ready();
  return {
    dir, script, helper, changes,
    next: (timeoutMs = 3000) => new Promise<string>((resolve, reject) => {
      const t = setTimeout(() => { waiting = null; reject(new Error(`no change reported within ${timeoutMs} ms`)); }, timeoutMs);
      waiting = (f) => { clearTimeout(t); resolve(f); };
    }),
  };
}

/** Writes through a temporary file renamed over the original, as editors and sed -i do. */
function renameOver(file: string, text: string): void {
  const tmp = `${file}.tmp${process.pid}`;
  writeFileSync(tmp, text);
  renameSync(tmp, file);
}

/** Waits until no change has been reported for a while (a burst is over), then returns the count. */
async function settled(w: Watched): Promise<number> {
  let n = -1;
  while (n !== w.changes.length) {
    n = w.changes.length;
    await new Promise((r) => setTimeout(r, 300));
  }
  return n;
}

describe('ScriptWatcher: every save pattern', () => {
  test('a save in place is one change', async () => {
    const w = await watched();
    const seen = w.next();
    writeFileSync(w.script, 'export default 2;\n');
    assert.equal(await seen, w.script);
  });

  test('two sed -i in a row: a change, and later saves are still seen', async () => {
    const w = await watched();
    const seen = w.next();
    execFileSync('sed', ['-i', 's/1/2/', w.script]);
    execFileSync('sed', ['-i', 's/2/3/', w.script]);
    assert.equal(await seen, w.script);
    await settled(w);
    const later = w.next();
    execFileSync('sed', ['-i', 's/3/4/', w.script]);
    assert.equal(await later, w.script);
  });

  test('cp then sed -i, on an imported file: seen, and seen again after', async () => {
    const w = await watched();
    const other = path.join(w.dir, 'other.ts');
    writeFileSync(other, 'export const x = 7;\n');
    const seen = w.next();
    execFileSync('cp', [other, w.helper]);
    execFileSync('sed', ['-i', 's/7/8/', w.helper]);
    assert.equal(await seen, w.helper);
    await settled(w);
    const later = w.next();
    writeFileSync(w.helper, 'export const x = 9;\n');
    assert.equal(await later, w.helper);
  });

  test('an editor\'s rename-over save, five times: each is seen', async () => {
    const w = await watched();
    for (let i = 0; i < 5; i++) {
      const seen = w.next();
      renameOver(w.script, `export default ${10 + i};\n`);
      assert.equal(await seen, w.script);
      await settled(w);
    }
  });

  test('deleted, then written again: seen', async () => {
    const w = await watched();
    const gone = w.next();
    rmSync(w.script);
    await gone;
    await settled(w);
    const back = w.next();
    writeFileSync(w.script, 'export default 20;\n');
    assert.equal(await back, w.script);
  });

  test('a burst of twenty writes asks for few reloads, and the last state is seen', async () => {
    const w = await watched();
    const seen = w.next();
    for (let i = 0; i < 20; i++) writeFileSync(w.script, `export default ${100 + i};\n`);
    await seen;
    const n = await settled(w);
    assert.ok(n <= 2, `one reload per burst (at most one more for its tail), got ${n}`);
  });

  test('files beside the script that it does not import are not changes', async () => {
    const w = await watched();
    writeFileSync(path.join(w.dir, 'notes.txt'), 'hello\n');
    renameOver(path.join(w.dir, 'unrelated.ts'), 'export {};\n');
    await assert.rejects(w.next(600), /no change reported/);
  });
});
