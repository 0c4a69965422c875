// (d) The handover races, provoked through the seeded delay/loss shim, each resolved by the protocol of (c).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { HandoverReport } from '../../studies/sctp-handover/scenario-handover.ts';
import { runRace, runResetBarrierComparison, type RaceId } from '../../studies/sctp-handover/scenario-races.ts';

const FLOW_MESSAGES = 300;

/** The invariants of (c), which every race must leave intact. */
function assertFlowIntact(report: HandoverReport, expectSwitch: boolean): void {
  for (const direction of report.directions) {
    const label = `${direction.direction} (seed ${report.seed})`;
    assert.equal(direction.check.delivered, FLOW_MESSAGES, `${label}: count`);
    assert.equal(direction.check.missing, 0, `${label}: missing`);
    assert.equal(direction.check.duplicates, 0, `${label}: duplicates`);
    assert.equal(direction.check.outOfOrder, 0, `${label}: order`);
    assert.ok(direction.check.exact, label);
    assert.equal(direction.relayCarriedAfterSwitch, 0, `${label}: nothing above the switch point on the relay`);
    if (expectSwitch) {
      const switchPoint = direction.lastSeqViaRelay;
      assert.ok(switchPoint !== undefined && switchPoint > 0 && switchPoint < FLOW_MESSAGES, `${label}: switch point ${switchPoint}`);
      assert.equal(direction.receiver.viaRelay + direction.receiver.viaDirect, FLOW_MESSAGES, `${label}: relay + direct`);
      assert.equal(direction.receiver.endMatchedRelay, true, `${label}: END names the last relayed seq`);
    } else {
      assert.equal(direction.lastSeqViaRelay, undefined, `${label}: no END was sent`);
      assert.equal(direction.receiver.viaRelay, FLOW_MESSAGES, `${label}: everything via B`);
      assert.equal(direction.directCarried, 0, `${label}: nothing on A–C`);
    }
  }
  assert.equal(report.background.length, 8);
  for (const { flow, check } of report.background) {
    assert.equal(check.delivered, FLOW_MESSAGES, `${flow}: count`);
    assert.ok(check.exact, `${flow}: exact`);
  }
  assert.equal(report.tagsUnchanged, true, 'A–B and B–C keep their tags');
  assert.equal(report.abortsOnRelayLinks, 0, 'no ABORT on A–B or B–C');
  assert.equal(report.relayStrays, 0);
  if (expectSwitch) {
    assert.deepEqual([report.outcome.initiator, report.outcome.acceptor, report.outcome.coordinator], ['switched', 'switched', 'drained']);
    assert.ok(report.reset, 'the old stream was reset');
    assert.equal(report.reset.flowStreamAtZero, true);
    assert.equal(report.reset.otherStreamsIntact, true);
    assert.ok(report.reset.reuse.exact);
  } else {
    assert.deepEqual([report.outcome.initiator, report.outcome.coordinator], ['cancelled', 'cancelled']);
    assert.equal(report.reset, undefined);
  }
}

async function race(id: RaceId, seed: number) {
  const run = await runRace(id, seed, FLOW_MESSAGES);
  assert.ok(run.observed, `${id} (seed ${seed}) was provoked: ${run.definition.describe(run.report)}`);
  return run.report;
}

describe('(d) races of the handover', () => {
  test('R1: B\'s snapshot lags what A is still sending; the cut point chosen by A covers it', async () => {
    const report = await race('R1', 1);
    const a2c = report.directions[0]!;
    assert.ok((a2c.lastSeqViaRelay ?? 0) - (report.relayedSeqAtGo ?? 0) >= 40, 'at least the burst was in flight at GO');
    assertFlowIntact(report, true);
  });

  test('R2: the direct path overtakes the relayed tail; C holds direct messages until END', async () => {
    const report = await race('R2', 1);
    assert.ok((report.directions[0]!.receiver.heldWhenEndArrived ?? 0) >= 1);
    assertFlowIntact(report, true);
  });

  for (const seed of [1, 2]) {
    test(`R3 (seed ${seed}): the old path loses its tail and END; retransmission after the switch changes nothing`, async () => {
      const report = await race('R3', seed);
      assert.ok(report.endTransmissionsAtoB >= 2, 'END was retransmitted');
      assert.ok(report.droppedDatagrams >= 2);
      assertFlowIntact(report, true);
    });
  }

  for (const seed of [1, 2]) {
    test(`R4 (seed ${seed}): both directions switch while both ENDs are in flight`, async () => {
      assertFlowIntact(await race('R4', seed), true);
    });
  }

  test('R5: stream resets requested by both ends cross; stream 1 ends at SSN 0, streams 2 and 3 untouched', async () => {
    const report = await race('R5', 1);
    assert.equal(report.reset?.crossed, true);
    assertFlowIntact(report, true);
  });

  test('R9: a HELLO with a token C did not issue is refused and the flow stays on the relay', async () => {
    const report = await race('R9', 1);
    assert.match(report.outcome.cancelReason ?? '', /token/);
    assert.equal(report.outcome.acceptor, 'cancelled');
    assertFlowIntact(report, false);
  });

  test('fallback: when A–C cannot be set up, A never sends END and nothing is lost', async () => {
    const report = await race('fallback', 1);
    assert.match(report.outcome.cancelReason ?? '', /did not come up/);
    assert.ok(report.droppedDatagrams >= 1, 'the INIT to C was lost');
    assertFlowIntact(report, false);
  });

  test('R3/RFC 6525 E2: resetting the stream before END is delivered strands the tail; after END it loses nothing', async () => {
    const { immediately, afterEndDelivered } = await runResetBarrierComparison();

    assert.equal(immediately.requestOvertookTail, true);
    assert.equal(immediately.oldUse.delivered, 10, 'only the part sent before the reset arrived');
    assert.equal(immediately.oldUse.missing, 10);
    assert.equal(immediately.endDelivered, false);
    assert.equal(immediately.newUse.delivered, 0, 'the stranded tail blocks the stream');

    assert.equal(afterEndDelivered.requestOvertookTail, false);
    assert.equal(afterEndDelivered.oldUse.delivered, 20);
    assert.ok(afterEndDelivered.oldUse.exact);
    assert.equal(afterEndDelivered.endDelivered, true);
    assert.equal(afterEndDelivered.newUse.delivered, 3);
    assert.ok(afterEndDelivered.newUse.exact);
  });
});
