// (b) Adding C's address to A–B: what C does with A–B's verification tag, and what that does to A–B.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { runLiteralRecipe, type LiteralRecipeReport } from '../../studies/sctp-handover/scenario-literal-recipe.ts';

const STREAMS = [1, 2, 3] as const;

let pending: Promise<LiteralRecipeReport> | undefined;
const report = () => (pending ??= runLiteralRecipe());

describe('(b) the literal recipe', () => {
  test('the ASCONF is not understood by the npm stack, so the compliant reaction is emulated', async () => {
    const result = await report();
    assert.equal(result.asconfIgnoredByA, true);
    assert.notEqual(result.abTagTowardsB, result.bcTags.atB);
    assert.notEqual(result.abTagTowardsB, result.bcTags.atC);
  });

  test('C holding A–B\'s probe against B–C drops it silently: no HEARTBEAT ACK, the path cannot be confirmed', async () => {
    const { addressShared } = await report();
    assert.equal(addressShared.repliesFromC, 0);
    assert.equal(addressShared.heartbeatAcks, 0);
    assert.equal(addressShared.abStillEstablished, true);
    assert.equal(addressShared.bcStillEstablished, true);
  });

  test('C without an association for A answers the probe with ABORT, T bit set, A–B\'s tag reflected', async () => {
    const { outOfTheBlue, abTagTowardsB } = await report();
    assert.ok(outOfTheBlue.abortFromC, 'C sent an ABORT to A');
    assert.equal(outOfTheBlue.abortFromC.tBit, true);
    assert.equal(outOfTheBlue.abortFromC.verificationTag, abTagTowardsB);
    assert.equal(outOfTheBlue.tagReflected, true);
  });

  test('A accepts that ABORT and removes A–B: every stream stops, B is left half-open', async () => {
    const { outOfTheBlue } = await report();
    assert.equal(outOfTheBlue.communicationLostAtA, true);
    assert.equal(outOfTheBlue.stateAtA, 'CLOSED');
    assert.equal(outOfTheBlue.stateAtB, 'ESTABLISHED');
    assert.ok(outOfTheBlue.lastSeqWritten > outOfTheBlue.lastSeqWrittenBeforeAbort, 'A kept writing after the ABORT');
    for (const stream of STREAMS) {
      const before = outOfTheBlue.deliveredPerStreamBeforeAbort[stream] ?? 0;
      assert.ok(before >= 10, `stream ${stream} carried traffic before the ABORT (${before})`);
      assert.equal(outOfTheBlue.deliveredPerStreamAfterAbort[stream], 0, `stream ${stream} delivered nothing after the ABORT`);
      const highest = outOfTheBlue.highestSeqDeliveredPerStream[stream] ?? 0;
      assert.ok(
        highest <= outOfTheBlue.lastSeqWrittenBeforeAbort,
        `stream ${stream}: highest delivered #${highest} was written before the ABORT (#${outOfTheBlue.lastSeqWrittenBeforeAbort})`,
      );
    }
  });

  test('B–C is not affected by any of it', async () => {
    const { outOfTheBlue, werift } = await report();
    assert.ok(outOfTheBlue.bcDeliveredAfterAbort > 0);
    assert.equal(werift.bcKeptDelivering, true);
  });

  test('werift-sctp: C never delivers or acknowledges a DATA chunk carrying A–B\'s tag', async () => {
    const { werift } = await report();
    assert.equal(werift.foreignTagDataDelivered, 0);
    assert.equal(werift.repliesFromCToA, 0);
  });

  test('werift-sctp 0.0.11 ignores ABORT(T=1, peer tag): a deviation from RFC 9260 §8.5.1 B, not a way out', async () => {
    const { werift } = await report();
    assert.equal(werift.tBitAbortClosedAB, false);
    assert.equal(werift.abKeptDelivering, true);
  });
});
