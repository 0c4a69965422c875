// (c) Handover of flow F (stream 1) from A–B–C relaying to a direct A–C association,
// while streams 2 and 3 of A–B and B–C keep carrying their own traffic.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { runHandover, type HandoverReport } from '../../studies/sctp-handover/scenario-handover.ts';

const FLOW_MESSAGES = 400;
const BACKGROUND_MESSAGES = 400;

let pending: Promise<HandoverReport> | undefined;
const report = () => (pending ??= runHandover({ seed: 1, flowMessages: FLOW_MESSAGES, backgroundMessages: BACKGROUND_MESSAGES }));

describe('(c) compliant handover of one stream', () => {
  test('all three parties complete the handover', async () => {
    const { outcome } = await report();
    assert.deepEqual(
      { initiator: outcome.initiator, acceptor: outcome.acceptor, coordinator: outcome.coordinator },
      { initiator: 'switched', acceptor: 'switched', coordinator: 'drained' },
    );
  });

  for (const [index, name] of ['A→C', 'C→A'].entries()) {
    test(`flow F ${name}: 1..${FLOW_MESSAGES} exactly once and in order, across the switch`, async () => {
      const direction = (await report()).directions[index]!;
      assert.equal(direction.direction, name);
      assert.equal(direction.check.delivered, FLOW_MESSAGES);
      assert.equal(direction.check.missing, 0);
      assert.equal(direction.check.duplicates, 0);
      assert.equal(direction.check.outOfOrder, 0);
      assert.ok(direction.check.exact);

      const switchPoint = direction.lastSeqViaRelay;
      assert.ok(switchPoint !== undefined && switchPoint > 0 && switchPoint < FLOW_MESSAGES, `switch point ${switchPoint}`);
      assert.equal(direction.receiver.viaRelay, switchPoint, 'everything up to the switch point came through B');
      assert.equal(direction.receiver.viaDirect, FLOW_MESSAGES - switchPoint, 'everything after it came on A–C');
      assert.equal(direction.receiver.endLastSeq, switchPoint);
      assert.equal(direction.receiver.endMatchedRelay, true);
      assert.equal(direction.receiver.relayAfterEnd, 0);
      assert.equal(direction.relayCarriedAfterSwitch, 0, 'no message above the switch point crossed A–B or B–C');
      assert.equal(direction.directCarried, FLOW_MESSAGES - switchPoint);
      assert.equal(direction.firstDirectSsn, 0, 'the new association numbers its stream from SSN 0');
    });
  }

  test('streams 2 and 3 of A–B and B–C deliver all their messages in order throughout', async () => {
    const { background } = await report();
    assert.equal(background.length, 8);
    for (const { flow, check } of background) {
      assert.equal(check.delivered, BACKGROUND_MESSAGES, `${flow}: count`);
      assert.equal(check.duplicates, 0, `${flow}: duplicates`);
      assert.equal(check.outOfOrder, 0, `${flow}: order`);
      assert.ok(check.exact, flow);
    }
  });

  test('A–B and B–C are never disturbed: same tags, no ABORT, nothing stray at the relay', async () => {
    const result = await report();
    assert.equal(result.tagsUnchanged, true);
    assert.equal(result.abortsOnRelayLinks, 0);
    assert.equal(result.relayStrays, 0);
  });

  test('the RFC 6525 reset returns stream 1 to SSN 0 in all four directions, leaves streams 2 and 3 alone, and the stream is reusable', async () => {
    const { reset } = await report();
    assert.ok(reset, 'the reset ran');
    assert.equal(reset.flowStreamAtZero, true);
    assert.equal(reset.otherStreamsIntact, true);
    assert.ok(reset.requests.B >= 2, 'B asked for the reset on both associations');
    assert.equal(reset.reuse.delivered, 5);
    assert.ok(reset.reuse.exact);
    assert.equal(reset.reuseFirstSsn, 0);
  });
});
