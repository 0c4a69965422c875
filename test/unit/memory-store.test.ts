import { afterEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeBindings } from '../../modules/registrar/binding-codec.ts';
import type { Binding } from '../../modules/registrar/store.ts';
import { MemoryLocationStore } from '../../modules/registrar/memory-store.ts';
import { waitFor } from './_unit-fixtures.ts';

const stores: MemoryLocationStore[] = [];
afterEach(async () => {
  await Promise.all(stores.splice(0).map((s) => s.close()));
});

function store(now?: () => number): MemoryLocationStore {
  const s = now === undefined ? new MemoryLocationStore() : new MemoryLocationStore(now);
  stores.push(s);
  return s;
}

/** Stores `bindings` as the user's whole list (an update that ignores what was there). */
function put(s: MemoryLocationStore, aor: string, bindings: readonly Binding[]): Promise<void> {
  return s.update(aor, () => ({ bindings, result: undefined }));
}

function binding(aor: string, port: number, expiresAt: number | null = null, registeredAt = 0): Binding {
  return { aor, dialect: 'plain', listener: 'plain:34567', address: { address: '::ffff:127.0.0.1', port }, registeredAt, expiresAt };
}

describe('MemoryLocationStore', () => {
  test('an unknown user has no bindings', async () => {
    const s = store();
    assert.deepEqual(await s.lookup('alice'), []);
    assert.equal(s.size(), 0);
  });

  test('an update stores the bindings; lookup returns them', async () => {
    const s = store();
    const b = binding('alice', 4000);
    await put(s, 'alice', [b]);
    assert.deepEqual(await s.lookup('alice'), [b]);
    assert.deepEqual(await s.lookup('bob'), []);
    assert.equal(s.size(), 1);
  });

  test('a later registration replaces the earlier one', async () => {
    const s = store();
    await put(s, 'alice', [binding('alice', 4000)]);
    await put(s, 'alice', [binding('alice', 5000)]);
    const got = await s.lookup('alice');
    assert.equal(got.length, 1);
    assert.equal(got[0]!.address.port, 5000);
    assert.equal(s.size(), 1);
  });

  test('several bindings per user are kept in order', async () => {
    const s = store();
    const list = [binding('alice', 1), binding('alice', 2), binding('alice', 3)];
    await put(s, 'alice', list);
    assert.deepEqual((await s.lookup('alice')).map((b) => b.address.port), [1, 2, 3]);
  });

  test('an update to no bindings forgets the user; of an unknown user, changes nothing', async () => {
    const s = store();
    await put(s, 'alice', [binding('alice', 1)]);
    await put(s, 'bob', [binding('bob', 2)]);
    assert.equal(s.size(), 2);
    await put(s, 'alice', []);
    assert.deepEqual(await s.lookup('alice'), []);
    assert.equal(s.size(), 1);
    await put(s, 'nobody', []);
    assert.equal(s.size(), 1);
  });

  test('users are independent and keys are case-sensitive', async () => {
    const s = store();
    await put(s, 'alice', [binding('alice', 1)]);
    await put(s, 'Alice', [binding('Alice', 2)]);
    assert.equal((await s.lookup('alice'))[0]!.address.port, 1);
    assert.equal((await s.lookup('Alice'))[0]!.address.port, 2);
    assert.deepEqual(await s.lookup('ALICE'), []);
    assert.equal(s.size(), 2);
  });

  test('expired bindings are not returned (injected clock)', async () => {
    let now = 10_000;
    const s = store(() => now);
    await put(s, 'alice', [binding('alice', 1, 11_000), binding('alice', 2, null), binding('alice', 3, 12_000)]);
    assert.deepEqual((await s.lookup('alice')).map((b) => b.address.port), [1, 2, 3]);
    now = 11_000; // expiresAt is exclusive: at the instant of expiry the binding is gone
    assert.deepEqual((await s.lookup('alice')).map((b) => b.address.port), [2, 3]);
    now = 50_000;
    assert.deepEqual((await s.lookup('alice')).map((b) => b.address.port), [2]);
  });

  test('a binding that never expires outlives any clock', async () => {
    let now = 0;
    const s = store(() => now);
    await put(s, 'alice', [binding('alice', 1, null)]);
    now = Number.MAX_SAFE_INTEGER;
    assert.equal((await s.lookup('alice')).length, 1);
  });

  test('the sweep (once a second) forgets users whose bindings all expired and trims partly expired lists', async () => {
    let now = 1_000;
    const s = store(() => now);
    await put(s, 'gone', [binding('gone', 1, 2_000)]);
    await put(s, 'partly', [binding('partly', 2, 2_000), binding('partly', 3, null)]);
    await put(s, 'kept', [binding('kept', 4, null)]);
    assert.equal(s.size(), 3);
    now = 5_000;
    await waitFor(() => s.size() === 2, 'the sweep to drop the expired user', 5_000, 50);
    assert.deepEqual(await s.lookup('gone'), []);
    assert.deepEqual((await s.lookup('partly')).map((b) => b.address.port), [3]);
    assert.deepEqual((await s.lookup('kept')).map((b) => b.address.port), [4]);
  });

  test('a user re-registered before its old binding expired is kept; a trimmed list is swept again at its next expiry', async () => {
    let now = 1_000;
    const s = store(() => now);
    await put(s, 'again', [binding('again', 1, 2_000)]);
    await put(s, 'again', [binding('again', 1, 9_000)]); // re-registered: filed again, later
    await put(s, 'steps', [binding('steps', 2, 2_500), binding('steps', 3, 6_500)]);
    await put(s, 'late', [binding('late', 4, 60_000)]);
    now = 4_000;
    // lookup filters by the clock on its own; the sweep shows in the table behind it
    const table = (s as unknown as { table: { get(aor: string): string | undefined } }).table;
    const held = (aor: string): number => decodeBindings(aor, table.get(aor) ?? '[]').length;
    await waitFor(() => held('steps') === 1, 'the first sweep to trim the partly expired user', 5_000, 50);
    assert.equal(s.size(), 3);
    assert.equal((await s.lookup('again')).length, 1, 'the re-registered user is still there');
    now = 10_000;
    await waitFor(() => s.size() === 1, 'the users whose last binding expired to go', 5_000, 50);
    assert.deepEqual(await s.lookup('steps'), []);
    assert.deepEqual(await s.lookup('again'), []);
    assert.equal((await s.lookup('late')).length, 1);
  });

  test('ten thousand users expiring over a spread of seconds all leave, the others stay', async () => {
    let now = 0;
    const s = store(() => now);
    for (let i = 0; i < 10_000; i++) await put(s, `u${i}`, [binding(`u${i}`, i, i % 2 === 0 ? 1_000 + (i % 50) * 100 : null)]);
    assert.equal(s.size(), 10_000);
    now = 8_000;
    await waitFor(() => s.size() === 5_000, 'the expiring half to leave', 5_000, 50);
    assert.equal((await s.lookup('u1')).length, 1);
    assert.deepEqual(await s.lookup('u2'), []);
  });

  test('the default clock is Date.now', async () => {
    const s = store();
    await put(s, 'past', [binding('past', 1, Date.now() - 1)]);
    await put(s, 'future', [binding('future', 2, Date.now() + 3_600_000)]);
    assert.deepEqual(await s.lookup('past'), []);
    assert.equal((await s.lookup('future')).length, 1);
  });

  test('update hands fn the live bindings, the store clock and the user count, and resolves with its result', async () => {
    let now = 10_000;
    const s = store(() => now);
    await put(s, 'alice', [binding('alice', 1, 11_000), binding('alice', 2, null)]);
    await put(s, 'bob', [binding('bob', 3)]);
    now = 12_000;
    const seen = await s.update('alice', (current, moment) => ({ bindings: current, result: { ports: current.map((b) => b.address.port), moment } }));
    assert.deepEqual(seen, { ports: [2], moment: { now: 12_000, users: 2 } });
    assert.deepEqual(await s.update('carol', (current, moment) => ({ bindings: current, result: [current.length, moment.users] })), [0, 2]);
  });

  test('fn returning the array it was given writes nothing; a new array is written', async () => {
    let now = 1_000;
    const s = store(() => now);
    await put(s, 'alice', [binding('alice', 1, 2_000), binding('alice', 2, null)]);
    now = 3_000;
    const table = (s as unknown as { table: { get(aor: string): string | undefined } }).table;
    const held = (): number => decodeBindings('alice', table.get('alice') ?? '[]').length;
    await s.update('alice', (current) => ({ bindings: current, result: undefined }));
    assert.equal(held(), 2, 'the expired binding is still held: nothing was written');
    await s.update('alice', (current) => ({ bindings: [...current], result: undefined }));
    assert.equal(held(), 1, 'the live bindings were written back');
  });

  test('an update whose fn throws rejects and changes nothing', async () => {
    const s = store();
    await put(s, 'alice', [binding('alice', 1)]);
    await assert.rejects(s.update('alice', () => { throw new Error('refused'); }), /refused/);
    assert.deepEqual((await s.lookup('alice')).map((b) => b.address.port), [1]);
  });

  test('concurrent updates of one user each see the one before: none is lost', async () => {
    const s = store();
    const add = (port: number): Promise<number> =>
      s.update('alice', (current) => ({ bindings: [...current, binding('alice', port)], result: current.length }));
    const seenBefore = await Promise.all([add(1), add(2), add(3), add(4)]);
    assert.deepEqual(seenBefore, [0, 1, 2, 3]);
    assert.deepEqual((await s.lookup('alice')).map((b) => b.address.port), [1, 2, 3, 4]);
  });

  test('close stops the sweeper (the process can exit) and is safe to call twice', async () => {
    const s = new MemoryLocationStore();
    await s.close();
    await s.close();
  });
});
