/**
 * REGISTERs of one user handled at the same time (one batch of datagrams, every await of the
 * registrar interleaved): each applies to the bindings the one before left, so no contact is
 * lost and no limit is passed twice.
 */
import { afterEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { setImmediate as turn } from 'node:timers/promises';
import type { Verdict } from '../../core/model/verdict.ts';
import { MemoryLocationStore } from '../../modules/registrar/memory-store.ts';
import { register } from '../../modules/registrar/register.ts';
import type { Binding, LocationStore, LocationUpdate, StoreMoment } from '../../modules/registrar/store.ts';
import { POLICY, contextOf, sipRegister } from './_registrar-fixtures.ts';
import { ALICE_ADDR, plainRequest } from './_unit-fixtures.ts';

const stores: MemoryLocationStore[] = [];
afterEach(async () => {
  await Promise.all(stores.splice(0).map((s) => s.close()));
});

function memoryStore(): MemoryLocationStore {
  const s = new MemoryLocationStore();
  stores.push(s);
  return s;
}

/**
 * The memory store behind a round trip: every call first waits a turn of the event loop, as a
 * networked store's would, so concurrent REGISTERs interleave at each of them.
 */
class RoundTripStore implements LocationStore {
  constructor(private readonly inner: MemoryLocationStore) {}
  async lookup(aor: string): Promise<readonly Binding[]> {
    await turn();
    return this.inner.lookup(aor);
  }
  async update<T>(aor: string, fn: (current: readonly Binding[], moment: StoreMoment) => LocationUpdate<T>): Promise<T> {
    await turn();
    return this.inner.update(aor, fn);
  }
  size(): number {
    return this.inner.size();
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

function status(v: Verdict): number {
  assert.equal(v.kind, 'respond');
  return v.kind === 'respond' ? v.status : 0;
}

function phone(n: number, user = 'bob') {
  return sipRegister({ to: `<sip:${user}@biloxi.example.com>`, callId: `phone-${n}@${user}`, cseq: 1, headers: [`Contact: <sip:${user}@10.0.0.${n}>`, 'Expires: 600'] });
}

for (const [name, open] of [['memory store', memoryStore], ['store with a round trip', () => new RoundTripStore(memoryStore())]] as const) {
  describe(`concurrent REGISTERs, ${name}`, () => {
    test('two phones of one user registering in one batch are both bound, and the later 200 lists both', async () => {
      const store = open();
      const [first, second] = await Promise.all([register(contextOf(phone(1)), store, POLICY), register(contextOf(phone(2)), store, POLICY)]);
      assert.deepEqual([status(first), status(second)], [200, 200]);
      assert.deepEqual((await store.lookup('bob')).map((b) => b.contact).sort(), ['sip:bob@10.0.0.1', 'sip:bob@10.0.0.2']);
      const listed = second.kind === 'respond' ? (second.extras?.contacts ?? []).map((c) => c.uri).sort() : [];
      assert.deepEqual(listed, ['sip:bob@10.0.0.1', 'sip:bob@10.0.0.2']);
    });

    test('eight phones at once: all bound; with maxContacts 5 exactly five are, the others get 403', async () => {
      const store = open();
      const all = await Promise.all([1, 2, 3, 4, 5, 6, 7, 8].map((n) => register(contextOf(phone(n)), store, POLICY)));
      assert.deepEqual(all.map(status), [200, 200, 200, 200, 200, 200, 200, 200]);
      assert.equal((await store.lookup('bob')).length, 8);

      const limited = open();
      const some = await Promise.all([1, 2, 3, 4, 5, 6, 7, 8].map((n) => register(contextOf(phone(n)), limited, { ...POLICY, maxContacts: 5 })));
      assert.deepEqual(some.map(status).sort(), [200, 200, 200, 200, 200, 403, 403, 403]);
      assert.equal((await limited.lookup('bob')).length, 5);
    });

    test('new users registering at once cannot pass maxUsers together', async () => {
      const store = open();
      const users = ['u1', 'u2', 'u3', 'u4'];
      const answers = await Promise.all(users.map((u) => register(contextOf(phone(1, u)), store, { ...POLICY, maxUsers: 2 })));
      assert.deepEqual(answers.map(status).sort(), [200, 200, 503, 503]);
      assert.equal(store.size(), 2);
    });

    test('a plain and a SIP REGISTER of one user at once: both bindings stay', async () => {
      const store = open();
      const plainReq = plainRequest('REGISTER bob\n', ALICE_ADDR);
      await Promise.all([register(contextOf(plainReq), store, POLICY), register(contextOf(phone(1)), store, POLICY)]);
      assert.deepEqual((await store.lookup('bob')).map((b) => b.dialect).sort(), ['plain', 'sip']);
    });
  });
}
