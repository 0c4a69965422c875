/** The registrar's embedded store kept in a file (modules/registrar/persistent-store.ts, journal.ts, state-lock.ts). */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { appendFileSync, existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, describe, test } from 'node:test';
import { createLogger, type Logger } from '../../core/lib/log.ts';
import { PersistentLocationStore } from '../../modules/registrar/persistent-store.ts';
import type { Binding } from '../../modules/registrar/store.ts';
import { tmpDir } from './_unit-fixtures.ts';

/** A logger whose lines the test reads. */
function recordingLog(): { log: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const destination = new Writable({ write(chunk: Buffer, _enc, done) { lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>); done(); } });
  return { log: createLogger({ level: 'debug', destination }), lines };
}

const open: PersistentLocationStore[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((s) => s.close()));
});

async function storeAt(file: string, o: { now?: () => number; log?: Logger } = {}): Promise<PersistentLocationStore> {
  const s = await PersistentLocationStore.open({ file, log: o.log ?? recordingLog().log, ...(o.now === undefined ? {} : { now: o.now }) });
  open.push(s);
  return s;
}

/** Closes `s` as a shutdown would, and opens the file again. */
async function reopen(s: PersistentLocationStore, file: string, o: { now?: () => number; log?: Logger } = {}): Promise<PersistentLocationStore> {
  await s.close();
  open.splice(open.indexOf(s), 1);
  return storeAt(file, o);
}

function put(s: PersistentLocationStore, aor: string, bindings: readonly Binding[]): Promise<void> {
  return s.update(aor, () => ({ bindings, result: undefined }));
}

function sip(aor: string, port: number, expiresAt: number | null, extra: Partial<Binding> = {}): Binding {
  return {
    aor, dialect: 'sip', listener: 'sip:udp:5060', address: { address: '203.0.113.9', port }, registeredAt: 1000, expiresAt,
    contact: `sip:${aor}@203.0.113.9:${port}`, callId: `c-${aor}`, cseq: 1, transport: 'udp', connection: null, ...extra,
  };
}

function plain(aor: string, port: number): Binding {
  return { aor, dialect: 'plain', listener: 'plain:34567', address: { address: '::ffff:198.51.100.4', port }, registeredAt: 1000, expiresAt: null };
}

const NOW = 1_800_000_000_000;

describe('registrations kept in a file', () => {
  test('what was stored is there after a restart: users, every binding field, per-IP counts', async () => {
    const file = path.join(tmpDir('persist'), 'registrations.journal');
    let s = await storeAt(file, { now: () => NOW });
    const alice = [sip('alice', 5070, NOW + 3_600_000, { q: 0.5, node: '192.0.2.1:5060' }), sip('alice', 5071, NOW + 60_000)];
    await put(s, 'alice', alice);
    await put(s, 'carol', [plain('carol', 4000)]);
    s = await reopen(s, file, { now: () => NOW + 1000 });
    assert.deepEqual(await s.lookup('alice'), alice);
    assert.deepEqual(await s.lookup('carol'), [plain('carol', 4000)]);
    assert.equal(s.size(), 2);
    const counted = await s.update('dave', (_cur, moment) => ({ bindings: _cur, result: [moment.usersAt('sip', '203.0.113.9'), moment.usersAt('plain', '198.51.100.4')] }));
    assert.deepEqual(counted, [1, 1]);
  });

  test('an update resolves once its line is in the file', async () => {
    const file = path.join(tmpDir('persist'), 'registrations.journal');
    const s = await storeAt(file);
    await put(s, 'alice', [plain('alice', 4000)]);
    assert.match(readFileSync(file, 'utf8'), /\["alice",\[\["plain"/);
  });

  test('a user forgotten (unregistered) stays forgotten', async () => {
    const file = path.join(tmpDir('persist'), 'registrations.journal');
    let s = await storeAt(file, { now: () => NOW });
    await put(s, 'alice', [sip('alice', 5070, NOW + 3_600_000)]);
    await put(s, 'bob', [sip('bob', 5072, NOW + 3_600_000)]);
    await put(s, 'alice', []);
    s = await reopen(s, file, { now: () => NOW });
    assert.deepEqual(await s.lookup('alice'), []);
    assert.equal((await s.lookup('bob')).length, 1);
    assert.equal(s.size(), 1);
  });

  test('bindings that expired while the proxy was down are not brought back', async () => {
    const file = path.join(tmpDir('persist'), 'registrations.journal');
    let s = await storeAt(file, { now: () => NOW });
    await put(s, 'alice', [sip('alice', 5070, NOW + 60_000), sip('alice', 5071, NOW + 600_000)]);
    await put(s, 'bob', [sip('bob', 5072, NOW + 60_000)]);
    const { log, lines } = recordingLog();
    s = await reopen(s, file, { now: () => NOW + 120_000, log });
    assert.deepEqual((await s.lookup('alice')).map((b) => b.address.port), [5071]);
    assert.deepEqual(await s.lookup('bob'), []);
    assert.equal(s.size(), 1);
    assert.equal(lines.find((l) => l.msg === 'registrations restored')?.expiredLeftOut, 2);
  });

  test('a TCP binding comes back without the connection number of the process that wrote it', async () => {
    const file = path.join(tmpDir('persist'), 'registrations.journal');
    let s = await storeAt(file, { now: () => NOW });
    await put(s, 'alice', [sip('alice', 5070, NOW + 60_000, { transport: 'tcp', connection: 17 })]);
    s = await reopen(s, file, { now: () => NOW });
    const [b] = await s.lookup('alice');
    assert.equal(b!.transport, 'tcp');
    assert.equal(b!.connection, null);
  });

  test('a last record cut short is left out and logged; the rest is restored and the file is clean again', async () => {
    const file = path.join(tmpDir('persist'), 'registrations.journal');
    let s = await storeAt(file, { now: () => NOW });
    await put(s, 'alice', [plain('alice', 4000)]);
    await put(s, 'bob', [plain('bob', 4001)]);
    await s.close();
    open.splice(0);
    appendFileSync(file, '["carol",[["plain","plain:34567","::ffff:1');
    const { log, lines } = recordingLog();
    s = await storeAt(file, { now: () => NOW, log });
    assert.equal(s.size(), 2);
    assert.deepEqual(await s.lookup('carol'), []);
    assert.ok(lines.some((l) => l.msg?.toString().includes('cut short') && l.level === 40), 'a warning');
    assert.ok(readFileSync(file, 'utf8').endsWith(']]]\n'), 'compacted: whole lines only');
    await put(s, 'dave', [plain('dave', 4002)]);
    s = await reopen(s, file, { now: () => NOW });
    assert.equal(s.size(), 3);
  });

  test('unreadable records in the middle are skipped and logged with their line numbers', async () => {
    const file = path.join(tmpDir('persist'), 'registrations.journal');
    let s = await storeAt(file, { now: () => NOW });
    await put(s, 'alice', [plain('alice', 4000)]);
    await s.close();
    open.splice(0);
    appendFileSync(file, 'garbage\n["mallory",[["sip"]]]\n["bob",[["plain","plain:34567","::ffff:198.51.100.4",4001,1000,null,null,null,null,null,null,null]]]\n');
    const { log, lines } = recordingLog();
    s = await storeAt(file, { now: () => NOW, log });
    assert.deepEqual((await s.lookup('bob')).map((b) => b.address.port), [4001]);
    assert.deepEqual(await s.lookup('mallory'), []);
    const warned = lines.find((l) => l.msg === 'registrations file: unreadable records skipped');
    assert.deepEqual(warned?.lines, [3, 4]);
  });

  test('a file that is not a registrations file is refused, and left as it is', async () => {
    const file = path.join(tmpDir('persist'), 'notes.txt');
    writeFileSync(file, 'my notes\n');
    await assert.rejects(storeAt(file), /not a switchyard registrations file/);
    assert.equal(readFileSync(file, 'utf8'), 'my notes\n');
    assert.equal(existsSync(`${file}.lock`), false, 'the lock is released');
  });

  test('the file stays bounded: repeated registrations of the same users are compacted', async () => {
    const file = path.join(tmpDir('persist'), 'registrations.journal');
    const s = await storeAt(file, { now: () => NOW });
    let largest = 0;
    for (let round = 0; round < 300; round++) {
      await Promise.all(Array.from({ length: 100 }, (_, i) => put(s, `user${i}`, [sip(`user${i}`, 5000 + round, NOW + 3_600_000)])));
      largest = Math.max(largest, statSync(file).size);
    }
    // 30,000 updates of ~230 bytes each would be ~7 MB; compaction keeps it under 4 MB plus a turn's lines.
    assert.ok(largest < (4 << 20) + 100_000, `the file reached ${largest} bytes`);
    const again = await reopen(s, file, { now: () => NOW });
    assert.equal(again.size(), 100);
    assert.equal((await again.lookup('user7'))[0]!.address.port, 5299);
  });
});

describe('compaction while registrations go on', () => {
  test('users added, refreshed and removed while the file is rewritten (the table growing under it) are all there after a restart', async () => {
    const file = path.join(tmpDir('persist'), 'registrations.journal');
    const { log, lines } = recordingLog();
    let s = await storeAt(file, { now: () => NOW, log });
    const expected = new Map<string, number>();
    for (let round = 0; round < 80; round++) {
      const batch: Promise<void>[] = [];
      for (let i = 0; i < 500; i++) {
        const n = round * 400 + i; // each round adds 400 users and refreshes 100 of the last round's
        const aor = `grow${n}`;
        if (n % 97 === 0 && round > 0) {
          batch.push(put(s, aor, []));
          expected.delete(aor);
        } else {
          batch.push(put(s, aor, [sip(aor, 1000 + round, NOW + 3_600_000)]));
          expected.set(aor, 1000 + round);
        }
      }
      await Promise.all(batch);
      await new Promise((r) => setImmediate(r));
    }
    const compactions = lines.filter((l) => l.msg === 'registrations file compacted').length;
    assert.ok(compactions >= 2, `compacted ${compactions} times (once at the start)`);
    s = await reopen(s, file, { now: () => NOW });
    assert.equal(s.size(), expected.size);
    for (const [aor, port] of expected) assert.equal((await s.lookup(aor))[0]?.address.port, port, aor);
  });
});

describe('one proxy per registrations file', () => {
  test('a second store on the file is refused while the first holds it; after it closes, it opens', async () => {
    const file = path.join(tmpDir('persist'), 'registrations.journal');
    const s = await storeAt(file);
    await assert.rejects(storeAt(file), /in use/);
    await s.close();
    open.splice(0);
    await storeAt(file);
  });

  test('a lock left by a process that is gone (kill -9) is taken over', async () => {
    const file = path.join(tmpDir('persist'), 'registrations.journal');
    const gone = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
    writeFileSync(`${file}.lock`, `${gone.stdout}\n`);
    await storeAt(file);
    assert.equal(readFileSync(`${file}.lock`, 'utf8'), `${process.pid}\n`);
  });

  test('a lock of a live process is respected', async () => {
    const file = path.join(tmpDir('persist'), 'registrations.journal');
    writeFileSync(`${file}.lock`, `${process.ppid}\n`);
    await assert.rejects(storeAt(file), new RegExp(`in use by process ${process.ppid}`));
  });
});
