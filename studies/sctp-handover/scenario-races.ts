// (d) The races of the handover, each provoked on purpose by the seeded
// delay/loss shim, and each resolved by the protocol of (c): the sender picks
// the cut point, END travels in order behind the last relayed message, the
// receiver merges by end-to-end seq, and B resets the old stream only after
// both ENDs were delivered.

import { runHandover, type HandoverReport, type RaceSetup } from './scenario-handover.ts';
import { runResetBarrier, type ResetBarrierReport } from './scenario-reset-barrier.ts';

export type RaceId = 'R1' | 'R2' | 'R3' | 'R4' | 'R5' | 'R9' | 'fallback';

export interface RaceDefinition {
  readonly id: RaceId;
  readonly title: string;
  readonly race: RaceSetup;
  /** Evidence that the race really happened in this run. */
  readonly observed: (report: HandoverReport) => boolean;
  readonly describe: (report: HandoverReport) => string;
  /** Whether the flow is expected to end up on the direct path. */
  readonly expectSwitch: boolean;
}

const JITTER = { relayMaxMs: 6, directMaxMs: 2 } as const;

function aToC(report: HandoverReport) {
  return report.directions[0]!;
}

function cToA(report: HandoverReport) {
  return report.directions[1]!;
}

function at(report: HandoverReport, label: string): number {
  return report.timeline.find((event) => event.label === label)?.atMs ?? Number.NaN;
}

export const RACES: readonly RaceDefinition[] = [
  {
    id: 'R1',
    title: 'snapshot at B vs messages A still sends',
    race: { burstAtGo: 40, jitter: JITTER },
    expectSwitch: true,
    observed: (report) => (aToC(report).lastSeqViaRelay ?? 0) - (report.relayedSeqAtGo ?? 0) >= 40,
    describe: (report) =>
      `B had relayed up to seq ${report.relayedSeqAtGo} when it sent GO; A cut after seq ${aToC(report).lastSeqViaRelay}, ` +
      `so ${(aToC(report).lastSeqViaRelay ?? 0) - (report.relayedSeqAtGo ?? 0)} messages were in flight that a snapshot would have lost`,
  },
  {
    id: 'R2',
    title: 'direct path overtakes the relayed tail',
    race: { directOvertakesRelay: true, jitter: JITTER },
    expectSwitch: true,
    observed: (report) => (aToC(report).receiver.heldWhenEndArrived ?? 0) > 0,
    describe: (report) =>
      `C held ${aToC(report).receiver.heldWhenEndArrived} direct messages (at most ${aToC(report).receiver.maxHeld}) ` +
      `until END ${aToC(report).receiver.endLastSeq} arrived through B`,
  },
  {
    id: 'R3',
    title: 'loss and retransmission on the old path after the switch',
    race: { loseOldPathTail: true, relayLoss: 0.01, jitter: JITTER },
    expectSwitch: true,
    observed: (report) => report.endTransmissionsAtoB >= 2,
    describe: (report) =>
      `END went out ${report.endTransmissionsAtoB} times on A→B (${report.droppedDatagrams} datagrams lost in all); ` +
      `C held ${aToC(report).receiver.heldWhenEndArrived} direct messages meanwhile`,
  },
  {
    id: 'R4',
    title: 'both directions switch at the same time',
    race: { bothEndsInFlight: true, jitter: JITTER, relayLoss: 0.01 },
    expectSwitch: true,
    observed: (report) =>
      at(report, 'C: cut over') < at(report, 'C: END from A delivered') && at(report, 'A: cut over') < at(report, 'A: END from C delivered'),
    describe: (report) =>
      `A cut after ${aToC(report).lastSeqViaRelay}, C cut after ${cToA(report).lastSeqViaRelay} ` +
      `before either END had arrived; both directions exact`,
  },
  {
    id: 'R5',
    title: 'stream resets crossing each other',
    race: { crossingResets: true, jitter: JITTER },
    expectSwitch: true,
    observed: (report) => report.reset?.crossed === true,
    describe: (report) =>
      `requests on the wire A ${report.reset?.requests.A}, B ${report.reset?.requests.B}, C ${report.reset?.requests.C}; ` +
      `stream 1 back to SSN 0: ${report.reset?.flowStreamAtZero}, streams 2 and 3 untouched: ${report.reset?.otherStreamsIntact}`,
  },
  {
    id: 'R9',
    title: 'a token C did not issue',
    race: { wrongToken: true },
    expectSwitch: false,
    observed: (report) => report.outcome.initiator === 'cancelled' && report.outcome.acceptor === 'cancelled',
    describe: (report) => `C refused the association (${report.outcome.cancelReason}); the flow stayed on the relay`,
  },
  {
    id: 'fallback',
    title: 'direct path unreachable',
    race: { blockDirectPath: true },
    expectSwitch: false,
    observed: (report) => report.outcome.initiator === 'cancelled',
    describe: (report) => `A gave up (${report.outcome.cancelReason}) before sending END; the flow stayed on the relay`,
  },
];

export interface RaceRun {
  readonly definition: RaceDefinition;
  readonly report: HandoverReport;
  readonly observed: boolean;
}

export async function runRace(id: RaceId, seed: number, flowMessages = 300): Promise<RaceRun> {
  const definition = RACES.find((race) => race.id === id);
  if (!definition) throw new Error(`unknown race ${id}`);
  const report = await runHandover({ seed, flowMessages, race: definition.race });
  return { definition, report, observed: definition.observed(report) };
}

export interface ResetBarrierComparison {
  readonly immediately: ResetBarrierReport;
  readonly afterEndDelivered: ResetBarrierReport;
}

/** R3 continued: the optional stream reset with and without the END barrier. */
export async function runResetBarrierComparison(): Promise<ResetBarrierComparison> {
  return {
    immediately: await runResetBarrier('reset-immediately'),
    afterEndDelivered: await runResetBarrier('reset-after-end-delivered'),
  };
}
