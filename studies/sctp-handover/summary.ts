// Turns scenario reports into readable lines and into named pass/fail checks.

import type { HandoverReport } from './scenario-handover.ts';
import type { LiteralRecipeReport } from './scenario-literal-recipe.ts';
import type { MultistreamReport } from './scenario-multistream.ts';
import type { RaceRun, ResetBarrierComparison } from './scenario-races.ts';
import { HOST_IPS } from './topology.ts';
import { formatCheck } from './traffic.ts';
import { hex32 } from './wire.ts';

export interface Check {
  readonly name: string;
  readonly ok: boolean;
}

export interface Section {
  readonly lines: readonly string[];
  readonly checks: readonly Check[];
}

const ms = (value: number) => `${value.toFixed(0)} ms`;

export function multistreamSection(report: MultistreamReport): Section {
  const lines = report.associations.map(
    (facts) =>
      `${facts.label}: tags ${hex32(facts.tagAtClient)} / ${hex32(facts.tagAtServer)}, ${facts.streamsNegotiated} streams, ` +
      `next TSN ${hex32(facts.nextTsnAtClient)} / ${hex32(facts.nextTsnAtServer)}`,
  );
  const exactFlows = report.flows.filter((flow) => flow.check.exact).length;
  const first = report.flows[0]?.check;
  lines.push(
    `${report.flows.length} numbered flows (3 streams × 2 directions × 2 associations): ${exactFlows} exact, ${first ? formatCheck(first) : '-'} each`,
    `unordered message: ${formatCheck(report.unordered)}; ${report.distinctTags} distinct verification tags; ${ms(report.durationMs)}`,
  );
  return {
    lines,
    checks: [
      { name: '(a) every stream delivered all messages in order', ok: exactFlows === report.flows.length && report.flows.length > 0 },
      { name: '(a) unordered message delivered once', ok: report.unordered.exact },
      { name: '(a) each association has its own tags', ok: report.distinctTags === 4 && report.associations.every((facts) => facts.tagsConsistent) },
    ],
  };
}

export function literalRecipeSection(report: LiteralRecipeReport): Section {
  const blue = report.outOfTheBlue;
  const perStream = (counts: Readonly<Record<number, number>>) => [1, 2, 3].map((stream) => counts[stream] ?? 0).join('/');
  return {
    lines: [
      `B→A ASCONF(Add IP ${HOST_IPS.C}): ${report.asconfIgnoredByA ? 'ignored by A (no ADD-IP in the npm stacks; A\'s compliant reaction is played by hand)' : 'changed A–B'}`,
      `A probes C's address with a nonce HEARTBEAT carrying A–B's tag ${hex32(report.abTagTowardsB)}`,
      `  C's B–C also holds A's address: ${report.addressShared.repliesFromC} replies (silently discarded), ` +
        `path stays UNCONFIRMED; A–B ${report.addressShared.abStillEstablished ? 'up' : 'down'}, B–C ${report.addressShared.bcStillEstablished ? 'up' : 'down'}`,
      `  C has no association for A: ${blue.abortFromC ? `ABORT T=${blue.abortFromC.tBit ? 1 : 0} tag ${hex32(blue.abortFromC.verificationTag)}` : 'no ABORT'}` +
        `${blue.tagReflected ? ' (A–B\'s tag reflected)' : ''} → A: ${blue.communicationLostAtA ? 'COMMUNICATION LOST' : 'nothing'}, A–B ${blue.stateAtA} at A, ${blue.stateAtB} at B`,
      `  A–B streams 1/2/3 delivered ${perStream(blue.deliveredPerStreamBeforeAbort)} messages before the ABORT and ` +
        `${perStream(blue.deliveredPerStreamAfterAbort)} after; A kept writing up to #${blue.lastSeqWritten} (ABORT after #${blue.lastSeqWrittenBeforeAbort}), ` +
        `B's highest is #${perStream(blue.highestSeqDeliveredPerStream)}; B–C delivered ${blue.bcDeliveredAfterAbort} more`,
      `werift-sctp: DATA with A–B's tag sent to C delivered ${report.werift.foreignTagDataDelivered} times, ${report.werift.repliesFromCToA} replies, ` +
        `B–C ${report.werift.bcKeptDelivering ? 'kept delivering' : 'stalled'}; ABORT(T=1) ${report.werift.tBitAbortClosedAB ? 'closed' : 'was ignored by'} werift's A–B (RFC 9260 §8.5.1 B says accept)`,
    ],
    checks: [
      { name: '(b) probe into B–C dropped silently, no HEARTBEAT ACK', ok: report.addressShared.repliesFromC === 0 && report.addressShared.heartbeatAcks === 0 },
      { name: '(b) C answers the out-of-the-blue probe with ABORT T=1 and A–B\'s tag', ok: blue.abortFromC?.tBit === true && blue.tagReflected },
      { name: '(b) the ABORT closes A–B at A', ok: blue.communicationLostAtA && blue.stateAtA === 'CLOSED' },
      {
        name: '(b) no stream of A–B delivers anything written after the ABORT',
        ok:
          blue.lastSeqWritten > blue.lastSeqWrittenBeforeAbort &&
          [1, 2, 3].every((stream) => (blue.highestSeqDeliveredPerStream[stream] ?? 0) <= blue.lastSeqWrittenBeforeAbort),
      },
      { name: '(b) B–C is not affected', ok: blue.bcDeliveredAfterAbort > 0 && report.werift.bcKeptDelivering },
      { name: '(b) C never delivers a packet with A–B\'s tag', ok: report.werift.foreignTagDataDelivered === 0 && report.werift.repliesFromCToA === 0 },
    ],
  };
}

function directionLine(report: HandoverReport, index: number): string {
  const direction = report.directions[index]!;
  const switchPoint = direction.lastSeqViaRelay;
  const route =
    switchPoint === undefined
      ? `all ${direction.receiver.viaRelay} via B (no switch)`
      : `1–${switchPoint} via B, END ${direction.receiver.endLastSeq}, ${switchPoint + 1}–${direction.check.expected} on A–C ` +
        `(first direct message at SSN ${direction.firstDirectSsn}), held back ${direction.receiver.heldWhenEndArrived ?? 0}`;
  return `${direction.direction}: ${formatCheck(direction.check)}; ${route}`;
}

export function handoverLines(report: HandoverReport): string[] {
  const events = report.timeline.map((event) => `${event.label} @${event.atMs.toFixed(1)}`).join(' → ');
  const exactBackground = report.background.filter((flow) => flow.check.exact).length;
  const lines = [
    `outcome: A ${report.outcome.initiator}, C ${report.outcome.acceptor}, B ${report.outcome.coordinator}${report.outcome.cancelReason ? ` (${report.outcome.cancelReason})` : ''}`,
    directionLine(report, 0),
    directionLine(report, 1),
    `streams 2 and 3 of A–B and B–C, both ways: ${exactBackground}/${report.background.length} flows exact (${report.background[0] ? formatCheck(report.background[0].check) : '-'} each)`,
    `A–B and B–C tags ${report.tagsUnchanged ? 'unchanged' : 'CHANGED'}, ABORTs on them ${report.abortsOnRelayLinks}, relay strays ${report.relayStrays}, ` +
      `flow data on the relay after the switch ${report.directions.reduce((sum, direction) => sum + direction.relayCarriedAfterSwitch, 0)}`,
  ];
  if (report.reset) {
    lines.push(
      `stream 1 reset: SSN 0 in all four directions ${report.reset.flowStreamAtZero}, streams 2/3 untouched ${report.reset.otherStreamsIntact}, ` +
        `reused for a new flow ${formatCheck(report.reset.reuse)} starting at SSN ${report.reset.reuseFirstSsn}`,
    );
  }
  lines.push(`timeline (ms): ${events}`);
  return lines;
}

export function handoverChecks(report: HandoverReport, label: string, expectSwitch: boolean): Check[] {
  const switched = report.outcome.initiator === 'switched' && report.outcome.acceptor === 'switched' && report.outcome.coordinator === 'drained';
  const fellBack = report.outcome.initiator === 'cancelled' && report.outcome.coordinator === 'cancelled';
  return [
    { name: `${label} flow F exact in both directions`, ok: report.directions.every((direction) => direction.check.exact) },
    { name: `${label} streams 2 and 3 exact on A–B and B–C`, ok: report.background.length === 8 && report.background.every((flow) => flow.check.exact) },
    { name: `${label} ${expectSwitch ? 'switched to A–C' : 'stayed on the relay'}`, ok: expectSwitch ? switched : fellBack },
    {
      name: `${label} no association disturbed`,
      ok: report.tagsUnchanged && report.abortsOnRelayLinks === 0 && report.relayStrays === 0,
    },
    {
      name: `${label} nothing of F on the relay after the switch`,
      ok: report.directions.every((direction) => direction.relayCarriedAfterSwitch === 0),
    },
    ...(report.reset
      ? [{ name: `${label} reset stream 1 only, and reused it`, ok: report.reset.flowStreamAtZero && report.reset.otherStreamsIntact && report.reset.reuse.exact }]
      : []),
  ];
}

export function raceSection(runs: readonly RaceRun[]): Section {
  const lines: string[] = [];
  const checks: Check[] = [];
  for (const run of runs) {
    const { definition, report } = run;
    const flows = report.directions.map((direction) => `${direction.direction} ${formatCheck(direction.check)}`).join(', ');
    lines.push(
      `${definition.id} ${definition.title} (seed ${report.seed}): ${run.observed ? 'provoked' : 'NOT provoked'}; ${flows}`,
      `    ${definition.describe(report)}`,
    );
    checks.push(
      { name: `(d) ${definition.id} seed ${report.seed} race provoked`, ok: run.observed },
      ...handoverChecks(report, `(d) ${definition.id} seed ${report.seed}`, definition.expectSwitch),
    );
  }
  return { lines, checks };
}

export function resetBarrierSection(comparison: ResetBarrierComparison): Section {
  const { immediately, afterEndDelivered } = comparison;
  return {
    lines: [
      `reset sent right after END (request overtook the tail: ${immediately.requestOvertookTail}): old use ${formatCheck(immediately.oldUse)}, ` +
        `END ${immediately.endDelivered ? 'delivered' : 'lost'}, next use ${formatCheck(immediately.newUse)}`,
      `reset sent after B acknowledged END: old use ${formatCheck(afterEndDelivered.oldUse)}, END ${afterEndDelivered.endDelivered ? 'delivered' : 'lost'}, ` +
        `next use ${formatCheck(afterEndDelivered.newUse)}`,
    ],
    checks: [
      { name: '(d) a reset that overtakes the tail strands it (werift has no RFC 6525 E2)', ok: immediately.requestOvertookTail && !immediately.oldUse.exact },
      {
        name: '(d) a reset after END was delivered loses nothing',
        ok: afterEndDelivered.oldUse.exact && afterEndDelivered.endDelivered && afterEndDelivered.newUse.exact,
      },
    ],
  };
}
