/** The flood limits' counting and bans (modules/flood-limits), on a clock the test moves. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { gatedHooks, ProxyHooks } from '../../core/kernel/hooks.ts';
import { AddressSet } from '../../core/lib/address-set.ts';
import { sourceKey, v6Prefix } from '../../modules/flood-limits/source-key.ts';
import { SourceLimiter, type LimiterSettings } from '../../modules/flood-limits/source-limiter.ts';

const SETTINGS: LimiterSettings = { maxMessages: 10, intervalMs: 1000, banMs: 5000, maxSources: 100, v6PrefixBits: 64 };

function limiter(o: { settings?: Partial<LimiterSettings>; trusted?: string[] } = {}) {
  let t = 1_000_000;
  const events: string[] = [];
  const peers = new AddressSet(o.trusted ?? []);
  const l = new SourceLimiter({ ...SETTINGS, ...o.settings }, (a) => peers.has(a), {
    banned: (key, messages, by) => events.push(`banned ${key} ${messages} ${by}`),
    ended: (key, dropped) => events.push(`ended ${key} ${dropped}`),
  }, () => t);
  return { l, events, advance: (ms: number) => { t += ms; } };
}

/** Sends `n` messages from `address`; how many were let in. */
function send(l: SourceLimiter, address: string, n: number): number {
  let passed = 0;
  for (let i = 0; i < n; i++) if (l.admit(address)) passed++;
  return passed;
}

describe('flood limits: a source over its rate', () => {
  test('is let in up to the limit, then banned: that message and the rest are dropped', () => {
    const { l, events } = limiter();
    assert.equal(send(l, '192.0.2.1', 10), 10);
    assert.equal(l.admit('192.0.2.1'), false, 'the 11th message within the interval');
    assert.deepEqual(events, ['banned 192.0.2.1 11 rate']);
    assert.equal(send(l, '192.0.2.1', 100), 0);
    assert.equal(l.bansTotal, 1);
    assert.equal(l.droppedTotal, 101);
    assert.equal(l.banned(), 1);
  });

  test('other sources are not affected', () => {
    const { l } = limiter();
    send(l, '192.0.2.1', 50);
    assert.equal(send(l, '192.0.2.2', 10), 10);
    assert.equal(send(l, '::ffff:192.0.2.3', 10), 10);
  });

  test('a steady rate under the limit is never banned, across many intervals', () => {
    const { l, advance } = limiter();
    for (let i = 0; i < 200; i++) {
      assert.equal(l.admit('192.0.2.1'), true, `message ${i}`);
      advance(125); // 8 a second
    }
    assert.equal(l.bansTotal, 0);
  });

  test('the window slides: a burst at the end of one interval and the start of the next counts together', () => {
    const { l, advance } = limiter();
    advance(900);
    assert.equal(send(l, '192.0.2.1', 8), 8);
    advance(200); // a new fixed window; 90 % of the last is still inside the sliding one
    assert.equal(send(l, '192.0.2.1', 2), 2);
    assert.equal(l.admit('192.0.2.1'), false, '8 · 0.9 + 3 > 10');
  });

  test('the ban expires: the source is let in again, counted afresh, and its end reported with what it lost', () => {
    const { l, events, advance } = limiter();
    send(l, '192.0.2.1', 30);
    advance(4999);
    assert.equal(l.admit('192.0.2.1'), false, 'still banned');
    advance(2);
    assert.equal(l.admit('192.0.2.1'), true, 'the ban ran out');
    assert.deepEqual(events, ['banned 192.0.2.1 11 rate', 'ended 192.0.2.1 21']);
    assert.equal(l.banned(), 0);
    assert.equal(send(l, '192.0.2.1', 9), 9, 'counted afresh after the ban');
  });

  test('expired bans end as windows pass, even for a source that is not heard again', () => {
    const { l, events, advance } = limiter();
    send(l, '192.0.2.1', 11);
    advance(6000);
    l.admit('192.0.2.9');
    assert.deepEqual(events, ['banned 192.0.2.1 11 rate', 'ended 192.0.2.1 1']);
  });

  test('a source that floods again after its ban is banned again', () => {
    const { l, advance } = limiter();
    send(l, '192.0.2.1', 11);
    advance(5001);
    assert.equal(send(l, '192.0.2.1', 20), 10);
    assert.equal(l.bansTotal, 2);
  });
});

describe('flood limits: trusted peers', () => {
  test('are never counted nor banned, by rate or by the script', () => {
    const { l } = limiter({ trusted: ['198.51.100.0/24', '2001:db8:5::/48'] });
    assert.equal(send(l, '198.51.100.7', 1000), 1000);
    assert.equal(send(l, '::ffff:198.51.100.8', 1000), 1000);
    assert.equal(send(l, '2001:db8:5::1', 1000), 1000);
    assert.equal(l.ban('198.51.100.7', 1000), 'trusted-peer');
    assert.equal(l.admit('198.51.100.7'), true);
    assert.equal(l.bansTotal, 0);
  });

  test('an untrusted neighbour in the same IPv6 /64 is still limited', () => {
    const { l } = limiter({ trusted: ['2001:db8::5'] });
    assert.equal(send(l, '2001:db8::6', 20), 10);
    assert.equal(send(l, '2001:db8::5', 20), 20, 'the trusted one passes though its /64 is banned');
  });
});

describe('flood limits: bans from the script', () => {
  test('ban() drops the source for the time given; a longer ban is not shortened', () => {
    const { l, events, advance } = limiter();
    assert.equal(l.admit('192.0.2.1'), true);
    assert.equal(l.ban('192.0.2.1', 60_000), 'banned');
    assert.equal(l.ban('192.0.2.1', 1000), 'banned');
    advance(30_000);
    assert.equal(l.admit('192.0.2.1'), false);
    advance(30_001);
    assert.equal(l.admit('192.0.2.1'), true);
    assert.deepEqual(events, ['banned 192.0.2.1 1 script', 'ended 192.0.2.1 1']);
    assert.equal(l.bansTotal, 1, 'one ban, extended');
  });
});

describe('flood limits: bounded memory', () => {
  test('sources beyond maxSources pass uncounted and are counted as such', () => {
    const { l } = limiter({ settings: { maxSources: 16 } });
    for (let i = 0; i < 16; i++) l.admit(`10.0.0.${i}`);
    assert.equal(l.tracked(), 16);
    assert.equal(send(l, '10.0.1.1', 50), 50);
    assert.equal(l.untrackedTotal, 50);
  });

  test('the counts start over each interval: sources heard once leave after two', () => {
    const { l, advance } = limiter();
    for (let i = 0; i < 50; i++) l.admit(`10.0.0.${i}`);
    advance(1000);
    l.admit('10.0.1.1');
    assert.equal(l.tracked(), 1);
  });

  test('with the table of sources full, a banned source is still dropped', () => {
    const { l } = limiter({ settings: { maxSources: 16 } });
    assert.equal(l.ban('10.0.9.9', 1000), 'banned');
    for (let i = 0; i < 16; i++) l.admit(`10.0.0.${i}`);
    assert.equal(l.admit('10.0.9.9'), false);
    assert.equal(l.admit('::ffff:10.0.9.9'), false);
    assert.equal(l.admit('10.0.9.10'), true, 'uncounted');
  });

  test('new settings take effect at once: a peer trusted from now on passes though it was counted', () => {
    const { l } = limiter();
    assert.equal(send(l, '192.0.2.7', 10), 10, 'at the limit');
    l.configure(SETTINGS, (a) => a === '192.0.2.7');
    assert.equal(send(l, '192.0.2.7', 50), 50);
    assert.equal(l.bansTotal, 0);
  });

  test('bans beyond maxSources are refused: the table never grows past it', () => {
    const { l } = limiter({ settings: { maxSources: 16 } });
    for (let i = 0; i < 16; i++) assert.equal(l.ban(`10.0.0.${i}`, 1000), 'banned');
    assert.equal(l.ban('10.0.1.1', 1000), 'table-full');
    assert.equal(l.banned(), 16);
  });
});

describe('source keys', () => {
  test('IPv4 as it is, IPv4-mapped as IPv4, IPv6 by its prefix', () => {
    assert.equal(sourceKey('192.0.2.1', 64), '192.0.2.1');
    assert.equal(sourceKey('::ffff:192.0.2.1', 64), '192.0.2.1');
    assert.equal(sourceKey('2001:db8:1:2:aaaa:bbbb:cccc:dddd', 64), '2001:db8:1:2::/64');
    assert.equal(sourceKey('2001:db8:1:2::1', 64), '2001:db8:1:2::/64');
    assert.equal(sourceKey('2001:db8::1', 64), '2001:db8:0:0::/64');
    assert.equal(sourceKey('::1', 128), '0:0:0:0:0:0:0:1::/128');
  });

  test('prefixes that cut a group, zones, embedded IPv4', () => {
    assert.equal(v6Prefix('2001:db8:abcd:ef01::1', 56), '2001:db8:abcd:ef00::/56');
    assert.equal(v6Prefix('2001:db8:abcd:ffff::1', 48), '2001:db8:abcd::/48');
    assert.equal(v6Prefix('fe80::1%eth0', 64), 'fe80:0:0:0::/64');
    assert.equal(v6Prefix('64:ff9b::192.0.2.1', 128), '64:ff9b:0:0:0:0:c000:201::/128');
  });

  test('an address with its first four groups written out takes the short way to the same key', () => {
    for (const a of ['2001:db8:1:2:aaaa:bbbb:cccc:dddd', '2001:db8:1:2::1', '2001:db8:1:2:3::', 'fe80:0:0:1::1%eth0', '2001:db8::1', '::1', '1:2:3::4']) {
      assert.equal(sourceKey(a, 64), v6Prefix(a, 64), a);
    }
  });

  test('what is not an IPv6 literal is its own key', () => {
    assert.equal(v6Prefix('1::2::3', 64), '1::2::3');
    assert.equal(v6Prefix('1:2:3:4:5:6:7:8:9', 64), '1:2:3:4:5:6:7:8:9');
    assert.equal(v6Prefix('zz::1', 64), 'zz::1');
  });
});

describe('the arrival hook', () => {
  test('a handler that returns false drops the message; while its module is disabled it is not asked', () => {
    const bus = new ProxyHooks();
    assert.equal(bus.admits({ address: '192.0.2.1', port: 5060 }), true, 'no handler: all in');
    let enabled = true;
    let asked = 0;
    gatedHooks(bus, () => enabled).onArrival((source) => { asked++; return source.address !== '192.0.2.1'; });
    assert.equal(bus.admits({ address: '192.0.2.1', port: 5060 }), false);
    assert.equal(bus.admits({ address: '192.0.2.2', port: 5060 }), true);
    enabled = false;
    assert.equal(bus.admits({ address: '192.0.2.1', port: 5060 }), true);
    assert.equal(asked, 2);
  });
});
