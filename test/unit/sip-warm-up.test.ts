import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createSipDialect } from '../../core/sip-proxy/dialect.ts';
import { warmUpSipCodec } from '../../core/sip-proxy/warm-up.ts';

describe('SIP codec warm-up', () => {
  it('parses, edits and serializes every message of each round without a parse error or a 400', () => {
    const dialect = createSipDialect();
    assert.equal(warmUpSipCodec(dialect, 20), 20 * 7);
    const stats = dialect.stats();
    assert.equal(stats.answered400, 0);
    assert.deepEqual(Object.keys(stats).filter((k) => k.startsWith('dropped.')), []);
  });
});
