import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LogThrottle } from '../../core/lib/log-throttle.ts';

test('a throttled warning passes once per interval and counts what it held back', () => {
  let now = 0;
  const t = new LogThrottle(1000, () => now);
  assert.equal(t.pass(), 0, 'the first one passes');
  for (let i = 0; i < 5; i++) {
    now += 100;
    assert.equal(t.pass(), null);
  }
  now = 999;
  assert.equal(t.pass(), null, 'still within the interval');
  now = 1000;
  assert.equal(t.pass(), 6, 'the next one says six were held back');
  now = 5000;
  assert.equal(t.pass(), 0);
});
