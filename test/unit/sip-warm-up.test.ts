import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createSipDialect } from '../../core/sip-proxy/dialect.ts';
import { warmUpSipCodec } from '../../core/sip-proxy/warm-up.ts';
import { warmUpSipPath } from '../../core/sip-proxy/warm-up-path.ts';
import { createLogger } from '../../core/log.ts';

describe('SIP codec warm-up', () => {
  it('parses, edits and serializes every message of each round without a parse error or a 400', () => {
    const dialect = createSipDialect();
    assert.equal(warmUpSipCodec(dialect, 20), 20 * 7);
    const stats = dialect.stats();
    assert.equal(stats.answered400, 0);
    assert.deepEqual(Object.keys(stats).filter((k) => k.startsWith('dropped.')), []);
  });
});

describe('SIP transaction layer warm-up', () => {
  it('plays whole calls through a private engine, every request forwarded and every reply parsed', async () => {
    const dialect = createSipDialect();
    // 6 messages a call: INVITE, 180, 200, ACK, BYE, 200; a request the engine did not forward would throw.
    assert.equal(await warmUpSipPath(dialect, 20, createLogger({ level: 'silent' })), 20 * 6);
    assert.equal(dialect.stats().answered400, 0);
  });
});
