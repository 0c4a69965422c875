// (a) Two associations, A–B and B–C, each carrying numbered messages on several streams.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { runMultistream, type MultistreamReport } from '../../studies/sctp-handover/scenario-multistream.ts';

const STREAMS = [1, 2, 3] as const;
const MESSAGES = 150;

let pending: Promise<MultistreamReport> | undefined;
const report = () => (pending ??= runMultistream({ streams: STREAMS, messagesPerStream: MESSAGES }));

describe('(a) A–B and B–C with several streams', () => {
  test('every stream of both associations delivers 1..N exactly once and in order, both ways', async () => {
    const { flows } = await report();
    const expected = ['A>B', 'B>A', 'B>C', 'C>B'].flatMap((direction) => STREAMS.map((stream) => `${direction}#${stream}`));
    assert.deepEqual(flows.map((entry) => entry.flow).sort(), expected.sort());
    for (const { flow, check } of flows) {
      assert.equal(check.delivered, MESSAGES, `${flow}: count`);
      assert.equal(check.missing, 0, `${flow}: missing`);
      assert.equal(check.duplicates, 0, `${flow}: duplicates`);
      assert.equal(check.outOfOrder, 0, `${flow}: order`);
      assert.ok(check.exact, `${flow}: exactly 1..${MESSAGES}`);
    }
  });

  test('an unordered message is delivered once', async () => {
    const { unordered } = await report();
    assert.equal(unordered.delivered, 1);
    assert.ok(unordered.exact);
  });

  test('each association has its own pair of verification tags and its own TSN spaces', async () => {
    const { associations, distinctTags } = await report();
    assert.equal(associations.length, 2);
    for (const facts of associations) {
      assert.ok(facts.tagsConsistent, `${facts.label}: both ends agree on the tags`);
      assert.notEqual(facts.tagAtClient, 0);
      assert.notEqual(facts.tagAtServer, 0);
      assert.ok(facts.streamsNegotiated >= 4, `${facts.label}: at least 4 streams`);
    }
    assert.equal(distinctTags, 4, 'no tag is shared between A–B and B–C');
    const [ab, bc] = associations;
    assert.notEqual(ab!.nextTsnAtServer, bc!.nextTsnAtClient, "B's next TSN differs per association");
  });

  test('werift-sctp delivery fix is in place', async () => {
    assert.equal((await report()).deliveryFixApplied, true);
  });
});
