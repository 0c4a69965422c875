import assert from 'node:assert/strict';
import { chmodSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { parseUsersFile, UsersFileStore, type UsersFileLoad } from '../../modules/auth/credentials.ts';
import { computeHa1 } from '../../modules/auth/digest.ts';
import { REPO, tmpDir } from './_unit-fixtures.ts';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const BOB_MD5 = computeHa1('MD5', 'bob', 'r', 'bob-secret');

describe('users file format', () => {
  test('a password line gives every hash; an HA1 line gives its own; comments, blanks and whitespace are skipped', () => {
    const t = parseUsersFile([
      '# users', '', '  alice:r:password:alice secret:with:colons  ', `bob:r:md5:${BOB_MD5.toUpperCase()}`, '\t# indented comment', 'carol:other realm:PASSWORD:c',
    ].join('\r\n'));
    assert.deepEqual(t.errors, []);
    assert.deepEqual(t.entries.get('alice:r'), {
      'MD5': computeHa1('MD5', 'alice', 'r', 'alice secret:with:colons'),
      'SHA-256': computeHa1('SHA-256', 'alice', 'r', 'alice secret:with:colons'),
      'SHA-512-256': computeHa1('SHA-512-256', 'alice', 'r', 'alice secret:with:colons'),
    });
    assert.deepEqual(t.entries.get('bob:r'), { MD5: BOB_MD5 });
    assert.ok(t.entries.has('carol:other realm'));
  });

  test('HA1 lines of several hashes for one user add up', () => {
    const t = parseUsersFile(`bob:r:MD5:${BOB_MD5}\nbob:r:SHA-256:${computeHa1('SHA-256', 'bob', 'r', 'x')}\n`);
    assert.deepEqual(Object.keys(t.entries.get('bob:r')!).sort(), ['MD5', 'SHA-256']);
  });

  test('errors name the line and what is wrong, never the line itself', () => {
    const secret = 'hunter2-do-not-log';
    const t = parseUsersFile([
      'ok:r:password:x',
      `no colons ${secret}`,
      `a:r:plaintext:${secret}`,
      ` :r:password:${secret}`,
      'a::password:x',
      'a:r:password:',
      `a:r:MD5:${secret}`,
      `a:r:SHA-256:${BOB_MD5}`,
      `ok:r:MD5:${BOB_MD5}`,
      `a b:r:password:${secret}`,
    ].join('\n'));
    assert.deepEqual(t.errors, [
      { line: 2, reason: 'expected user:realm:kind:value' },
      { line: 3, reason: 'kind is not password, MD5, SHA-256 or SHA-512-256' },
      { line: 4, reason: 'bad user name' },
      { line: 5, reason: 'bad realm' },
      { line: 6, reason: 'no value' },
      { line: 7, reason: 'not a MD5 HA1 (32 hex digits)' },
      { line: 8, reason: 'not a SHA-256 HA1 (64 hex digits)' },
      { line: 9, reason: 'a second MD5 credential for this user and realm' },
      { line: 10, reason: 'bad user name' },
    ]);
    assert.doesNotMatch(JSON.stringify(t.errors), /hunter2/);
  });
});

describe('users file store', () => {
  function usersFile(text: string): string {
    const dir = tmpDir('auth-users');
    dirs.push(dir);
    const file = path.join(dir, 'users.txt');
    writeFileSync(file, text, { mode: 0o600 });
    return file;
  }

  /** Each load outcome, and a way to wait for the next one. */
  function loads(): { all: UsersFileLoad[]; onLoad: (o: UsersFileLoad) => void; next: () => Promise<UsersFileLoad> } {
    const all: UsersFileLoad[] = [];
    let waiting: ((o: UsersFileLoad) => void) | null = null;
    return {
      all,
      onLoad: (o) => { all.push(o); waiting?.(o); waiting = null; },
      next: () => new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error('no reload within 5 s')), 5000);
        waiting = (o) => { clearTimeout(t); resolve(o); };
      }),
    };
  }

  test('looks HA1 up by user, realm and hash', async () => {
    const l = loads();
    const store = await UsersFileStore.open({ path: usersFile(`bob:r:MD5:${BOB_MD5}\n`), offered: ['MD5'], watch: false, onLoad: l.onLoad });
    assert.equal(await store.ha1('bob', 'r', 'MD5'), BOB_MD5);
    assert.equal(await store.ha1('bob', 'r', 'SHA-256'), null, 'no SHA-256 credential');
    assert.equal(await store.ha1('bob', 'other', 'MD5'), null);
    assert.equal(await store.ha1('mallory', 'r', 'MD5'), null);
    assert.equal(store.size, 1);
    assert.deepEqual(l.all, [{ ok: true, users: 1, incomplete: [], worldReadable: false }]);
    await store.close();
  });

  test('reports users who cannot answer every algorithm offered, and a file others can read', async () => {
    const l = loads();
    const file = usersFile(`bob:r:MD5:${BOB_MD5}\nalice:r:password:a\n`);
    chmodSync(file, 0o644);
    const store = await UsersFileStore.open({ path: file, offered: ['SHA-256', 'MD5'], watch: false, onLoad: l.onLoad });
    assert.deepEqual(l.all, [{ ok: true, users: 2, incomplete: [{ user: 'bob', realm: 'r', missing: ['SHA-256'] }], worldReadable: true }]);
    await store.close();
  });

  test('a file with an error, or none, fails to open with the lines at fault, without their content', async () => {
    const l = loads();
    await assert.rejects(
      UsersFileStore.open({ path: usersFile('alice:r:password:ok\nbob:r:cleartext:hunter2\n'), offered: ['MD5'], watch: false, onLoad: l.onLoad }),
      (err: Error) => /line 2: kind is not/.test(err.message) && !/hunter2/.test(err.message),
    );
    await assert.rejects(
      UsersFileStore.open({ path: path.join(REPO, 'test', '.tmp', 'no-such-users-file'), offered: ['MD5'], watch: false, onLoad: l.onLoad }),
      /ENOENT/,
    );
  });

  test('reloaded when it changes; a reload with an error keeps the previous credentials', async () => {
    const l = loads();
    const file = usersFile('alice:r:password:one\n');
    const store = await UsersFileStore.open({ path: file, offered: ['MD5'], watch: true, onLoad: l.onLoad, debounceMs: 20 });
    try {
      assert.equal(await store.ha1('alice', 'r', 'MD5'), computeHa1('MD5', 'alice', 'r', 'one'));
      let next = l.next();
      writeFileSync(file, 'alice:r:password:two\nbob:r:password:b\n');
      assert.deepEqual(await next, { ok: true, users: 2, incomplete: [], worldReadable: false });
      assert.equal(await store.ha1('alice', 'r', 'MD5'), computeHa1('MD5', 'alice', 'r', 'two'));

      next = l.next();
      writeFileSync(file, 'alice:r:password:three\nbroken line\n');
      assert.deepEqual(await next, { ok: false, errors: [{ line: 2, reason: 'expected user:realm:kind:value' }] });
      assert.equal(await store.ha1('alice', 'r', 'MD5'), computeHa1('MD5', 'alice', 'r', 'two'), 'the previous table stays');
      assert.equal(store.size, 2);

      // An editor that saves by renaming a new file over the old one.
      next = l.next();
      writeFileSync(`${file}.new`, 'carol:r:password:c\n', { mode: 0o600 });
      renameSync(`${file}.new`, file);
      assert.deepEqual(await next, { ok: true, users: 1, incomplete: [], worldReadable: false });
      assert.equal(await store.ha1('alice', 'r', 'MD5'), null);
      assert.equal(await store.ha1('carol', 'r', 'MD5'), computeHa1('MD5', 'carol', 'r', 'c'));
    } finally {
      await store.close();
    }
  });

  test('the example users file: alice and bob, with the passwords the README gives', async () => {
    const l = loads();
    const store = await UsersFileStore.open({ path: path.join(REPO, 'examples', 'users.txt'), offered: ['SHA-256', 'MD5'], watch: false, onLoad: l.onLoad });
    for (const hash of ['MD5', 'SHA-256', 'SHA-512-256'] as const) {
      assert.equal(await store.ha1('alice', 'switchyard', hash), computeHa1(hash, 'alice', 'switchyard', 'alice-secret'));
      assert.equal(await store.ha1('bob', 'switchyard', hash), computeHa1(hash, 'bob', 'switchyard', 'bob-secret'));
    }
    assert.doesNotMatch(readFileSync(path.join(REPO, 'examples', 'users.txt'), 'utf8'), /^bob:.*bob-secret/m, 'bob is stored as HA1 only');
    await store.close();
  });
});
