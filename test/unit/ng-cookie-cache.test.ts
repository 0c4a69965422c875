import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CookieCache, type CookieCacheOptions } from '../../modules/media-relay/ng/cookie-cache.ts';

function cache(options: Partial<CookieCacheOptions> = {}): { cache: CookieCache; clock: { now: number } } {
  const clock = { now: 1000 };
  return { cache: new CookieCache({ maxEntries: 100, maxBytes: 10_000, ttlMs: 30_000, maxInFlight: 10, now: () => clock.now, ...options }), clock };
}

const answer = (s: string): Buffer => Buffer.from(s);

test('a command is new once, in flight while handled, then answered from the cache', () => {
  const { cache: c } = cache();
  const key = CookieCache.key('::ffff:127.0.0.1', 5000, 'c1');
  assert.equal(c.begin(key).kind, 'new');
  assert.equal(c.begin(key).kind, 'in-flight');
  assert.equal(c.begin(key).kind, 'in-flight');
  assert.equal(c.finish(key, answer('a1')), 2, 'two copies came meanwhile, each owed the answer');
  const again = c.begin(key);
  assert.ok(again.kind === 'answered');
  assert.equal(again.answer.toString(), 'a1');
});

test('the same cookie from another source is another command', () => {
  const { cache: c } = cache();
  assert.equal(c.begin(CookieCache.key('::1', 5000, 'c1')).kind, 'new');
  assert.equal(c.begin(CookieCache.key('::1', 5001, 'c1')).kind, 'new');
  assert.equal(c.begin(CookieCache.key('::2', 5000, 'c1')).kind, 'new');
});

test('copies owed are bounded', () => {
  const { cache: c } = cache();
  c.begin('k');
  for (let i = 0; i < 100; i++) c.begin('k');
  assert.equal(c.finish('k', answer('x')), 4);
});

test('answers expire after the ttl', () => {
  const { cache: c, clock } = cache({ ttlMs: 30_000 });
  c.begin('k');
  c.finish('k', answer('x'));
  clock.now += 30_000;
  assert.equal(c.begin('k').kind, 'answered');
  c.finish('k', answer('x'));
  clock.now += 30_001;
  assert.equal(c.begin('k').kind, 'new', 'expired: handled again');
});

test('bounded by count and by bytes, oldest first', () => {
  const { cache: c, clock } = cache({ maxEntries: 3, maxBytes: 10 });
  for (const k of ['a', 'b', 'c', 'd']) {
    c.begin(k);
    c.finish(k, answer('12'));
    clock.now++;
  }
  assert.equal(c.size.answered, 3);
  assert.equal(c.begin('a').kind, 'new', 'the oldest went');
  c.release('a');
  assert.equal(c.begin('d').kind, 'answered');
  c.begin('big');
  c.finish('big', answer('123456789'));
  assert.ok(c.size.bytes <= 10, `${c.size.bytes} bytes kept`);
  assert.equal(c.begin('big').kind, 'answered', 'the newest stays');
  c.begin('huge');
  c.finish('huge', answer('x'.repeat(11)));
  assert.equal(c.begin('huge').kind, 'new', 'an answer larger than the whole budget is not kept');
});

test('commands in flight are bounded: beyond, busy', () => {
  const { cache: c } = cache({ maxInFlight: 2 });
  assert.equal(c.begin('a').kind, 'new');
  assert.equal(c.begin('b').kind, 'new');
  assert.equal(c.begin('c').kind, 'busy');
  assert.equal(c.release('a'), 0);
  assert.equal(c.begin('c').kind, 'new');
  assert.equal(c.begin('a').kind, 'busy', 'a released command keeps no answer');
});

test('expired answers are dropped as new ones come', () => {
  const { cache: c, clock } = cache({ ttlMs: 10 });
  for (let i = 0; i < 50; i++) {
    c.begin(`k${i}`);
    c.finish(`k${i}`, answer('x'));
    clock.now += 5;
  }
  assert.ok(c.size.answered <= 3, `${c.size.answered} kept`);
});
