// (c) Flow F runs A→C and C→A on stream 1, relayed by B, while streams 2 and 3
// of A–B and B–C carry their own numbered traffic. Midway, B hands F over to a
// direct A–C association (see handover.ts). The same runner, with race knobs
// switched on, drives the race scenarios (d).

import type { WeriftAssociation } from './association.ts';
import {
  FLOW_STREAM,
  FlowReceiver,
  FlowSender,
  HandoverAcceptor,
  HandoverCoordinator,
  HandoverInitiator,
  Timeline,
  type AcceptorOutcome,
  type CoordinatorOutcome,
  type FlowReceiverStats,
  type InitiatorOutcome,
} from './handover.ts';
import { peekMessage } from './messages.ts';
import type { Datagram, Hold, Network } from './network.ts';
import { SeededRandom } from './random.ts';
import { StreamRelay } from './relay.ts';
import { sleep, waitFor } from './timing.ts';
import { Topology } from './topology.ts';
import { DeliveryLog, PacedSender, backgroundFlowName, startTrafficOnBoth, type SequenceCheck } from './traffic.ts';
import { ChunkType } from './wire.ts';
import { countChunks, distinctDataSeqs, flowChunks, reconfigRequestsFrom, resetRequestsCrossed } from './wire-queries.ts';

export const FLOW = 'F';
const REUSE_FLOW = 'G';
const REUSE_MESSAGES = 5;
const BACKGROUND_STREAMS = [2, 3] as const;

/** Knobs that provoke the races listed in docs/sctp-handover.md; each is resolved by the protocol, not avoided. */
export interface RaceSetup {
  /** Seeded per-datagram delay on every link (FIFO per link, so it delays but never reorders a link). */
  readonly jitter?: { readonly relayMaxMs: number; readonly directMaxMs: number };
  /** Seeded loss of first transmissions of DATA on A–B and B–C (SCTP retransmits them). */
  readonly relayLoss?: number;
  /** R1: when GO arrives, A sends this many flow messages at once, before it cuts over. */
  readonly burstAtGo?: number;
  /** R2: relay traffic towards C is held back from A's cut until C has a direct message in hand. */
  readonly directOvertakesRelay?: boolean;
  /** R3: from GO until END, the first transmission of every flow datagram A→B is lost, END included. */
  readonly loseOldPathTail?: boolean;
  /** R4: relay traffic is held from A's cut until C's cut, so both ENDs are in flight at once. */
  readonly bothEndsInFlight?: boolean;
  /** R5: A and C reset their outgoing flow stream at the same moment as B does. */
  readonly crossingResets?: boolean;
  /** R9: A presents a token that C did not issue. */
  readonly wrongToken?: boolean;
  /** Fallback: every datagram between A and C is lost. */
  readonly blockDirectPath?: boolean;
}

export interface HandoverOptions {
  readonly seed?: number;
  readonly flowMessages?: number;
  readonly backgroundMessages?: number;
  readonly intervalMs?: number;
  /** B starts the handover when A has sent this many flow messages. */
  readonly beginAtSeq?: number;
  readonly resetFlowStream?: boolean;
  readonly race?: RaceSetup;
}

export interface DirectionReport {
  readonly direction: 'A→C' | 'C→A';
  readonly check: SequenceCheck;
  /** Switch point: the last seq that went through B. */
  readonly lastSeqViaRelay: number | undefined;
  readonly receiver: FlowReceiverStats;
  /** SSN of the first directly sent message on the new association (a new association starts at 0). */
  readonly firstDirectSsn: number | undefined;
  /** Flow data with seq above the switch point seen on A–B or B–C: must be 0. */
  readonly relayCarriedAfterSwitch: number;
  /** Distinct seqs above the switch point seen on the direct A–C link. */
  readonly directCarried: number;
}

export interface ResetReport {
  /** Stream 1 is back to SSN 0 in all four directions of A–B and B–C. */
  readonly flowStreamAtZero: boolean;
  /** Streams 2 and 3 kept their SSNs (= messages carried) at both ends: the reset touched stream 1 only. */
  readonly otherStreamsIntact: boolean;
  readonly requests: { readonly A: number; readonly B: number; readonly C: number };
  readonly crossed: boolean;
  /** A new flow on A–B stream 1 after the reset. */
  readonly reuse: SequenceCheck;
  readonly reuseFirstSsn: number | undefined;
}

export interface HandoverReport {
  readonly seed: number;
  readonly outcome: {
    readonly initiator: InitiatorOutcome;
    readonly acceptor: AcceptorOutcome;
    readonly coordinator: CoordinatorOutcome;
    readonly cancelReason: string | undefined;
  };
  readonly directions: readonly DirectionReport[];
  readonly background: readonly { readonly flow: string; readonly check: SequenceCheck }[];
  readonly tagsUnchanged: boolean;
  /** ABORT chunks on A–B or B–C before teardown: must be 0 (A–C may see one if A gives up on it). */
  readonly abortsOnRelayLinks: number;
  readonly relayStrays: number;
  /** R1: what B had relayed when it sent GO versus the cut point A chose. */
  readonly relayedSeqAtGo: number | undefined;
  /** A's END datagram on A→B, counting retransmissions. */
  readonly endTransmissionsAtoB: number;
  readonly droppedDatagrams: number;
  readonly heldDatagrams: number;
  readonly reset: ResetReport | undefined;
  readonly timeline: readonly { readonly atMs: number; readonly label: string }[];
  readonly durationMs: number;
}

function linkOf(datagram: Datagram): 'relay' | 'direct' | 'other' {
  const ends = [datagram.from, datagram.to].sort().join('');
  if (ends === 'AB' || ends === 'BC') return 'relay';
  if (ends === 'AC') return 'direct';
  return 'other';
}

function firstDataTsn(datagram: Datagram): number | undefined {
  return datagram.packet?.chunks.find((chunk) => chunk.type === ChunkType.DATA)?.data?.tsn;
}

function carriesFlow(datagram: Datagram, flow: string): 'data' | 'end' | undefined {
  for (const chunk of datagram.packet?.chunks ?? []) {
    const message = chunk.data ? peekMessage(chunk.data.userData) : undefined;
    if (message?.flow === flow && (message.kind === 'data' || message.kind === 'end')) return message.kind;
  }
  return undefined;
}

function streamsKeptNumbers(a: WeriftAssociation, b: WeriftAssociation, count: number): boolean {
  return BACKGROUND_STREAMS.every(
    (stream) =>
      a.outboundSsn(stream) === count && b.inboundSsn(stream) === count && b.outboundSsn(stream) === count && a.inboundSsn(stream) === count,
  );
}

function flowStreamAtZero(...associations: WeriftAssociation[]): boolean {
  return associations.every((association) => association.outboundSsn(FLOW_STREAM) === 0 && association.inboundSsn(FLOW_STREAM) === 0);
}

/**
 * Installs the seeded link rules of `race`, in precedence order: blocked direct path, targeted
 * loss of the old path's tail (armed when GO arrives), random loss, jitter.
 */
function installLinkImpairments(network: Network, race: RaceSetup, seed: number): { readonly armOldPathTailLoss: () => void } {
  let droppedOldPathTail: Set<number> | undefined;
  if (race.blockDirectPath) {
    network.addRule((datagram) => (linkOf(datagram) === 'direct' ? { action: 'drop', reason: 'direct path blocked' } : undefined));
  }
  if (race.loseOldPathTail) {
    network.addRule((datagram) => {
      if (!droppedOldPathTail || datagram.from !== 'A' || datagram.to !== 'B') return undefined;
      const kind = carriesFlow(datagram, FLOW);
      const tsn = firstDataTsn(datagram);
      if (kind === undefined || tsn === undefined || droppedOldPathTail.has(tsn)) return undefined;
      droppedOldPathTail.add(tsn);
      if (kind === 'end') droppedOldPathTail = undefined;
      return { action: 'drop', reason: 'old path tail, first transmission' };
    });
  }
  if (race.relayLoss !== undefined) {
    const lossRandom = new SeededRandom(seed + 1);
    const seen = new Set<string>();
    const probability = race.relayLoss;
    network.addRule((datagram) => {
      const tsn = firstDataTsn(datagram);
      if (linkOf(datagram) !== 'relay' || tsn === undefined) return undefined;
      const key = `${datagram.from}>${datagram.to}:${tsn}`;
      if (seen.has(key)) return undefined;
      seen.add(key);
      return lossRandom.chance(probability) ? { action: 'drop', reason: 'seeded loss' } : undefined;
    });
  }
  if (race.jitter) {
    const jitterRandom = new SeededRandom(seed + 2);
    const { relayMaxMs, directMaxMs } = race.jitter;
    network.addRule((datagram) => {
      const link = linkOf(datagram);
      if (link === 'other') return undefined;
      return { action: 'deliver', delayMs: jitterRandom.between(0, link === 'relay' ? relayMaxMs : directMaxMs) };
    });
  }
  return {
    armOldPathTailLoss: () => {
      if (race.loseOldPathTail) droppedOldPathTail = new Set();
    },
  };
}

export async function runHandover(options: HandoverOptions = {}): Promise<HandoverReport> {
  const seed = options.seed ?? 1;
  const flowMessages = options.flowMessages ?? 400;
  const backgroundMessages = options.backgroundMessages ?? flowMessages;
  const intervalMs = options.intervalMs ?? 2;
  const beginAtSeq = options.beginAtSeq ?? Math.floor(flowMessages / 3);
  const resetFlowStream = options.resetFlowStream ?? true;
  const race = options.race ?? {};
  const started = performance.now();

  const topology = await Topology.create();
  const { network, hosts } = topology;
  try {
    const ab = await topology.connect('A', 'B');
    const bc = await topology.connect('B', 'C');
    const tagsBefore = [ab.client.tags(), ab.server.tags(), bc.client.tags(), bc.server.tags()];
    const timeline = new Timeline(() => network.now());
    const log = new DeliveryLog();
    const random = new SeededRandom(seed);
    const token = random.hex(8);

    // Flow F, both directions, first through B.
    const senderAtA = new FlowSender(FLOW, { name: 'relay', association: ab.client, stream: FLOW_STREAM });
    const senderAtC = new FlowSender(FLOW, { name: 'relay', association: bc.server, stream: FLOW_STREAM });
    const receiverAtC = new FlowReceiver(FLOW, (seq) => log.record('F:A→C', seq));
    const receiverAtA = new FlowReceiver(FLOW, (seq) => log.record('F:C→A', seq));
    const relay = new StreamRelay(ab.server, bc.client, FLOW_STREAM, FLOW);

    const impairments = installLinkImpairments(network, race, seed);

    const coordinator = new HandoverCoordinator({
      flow: FLOW,
      towardsA: ab.server,
      towardsC: bc.client,
      addressOfA: hosts.A.address,
      relay,
      token,
      resetFlowStream,
      timeline,
    });
    const track = (association: WeriftAssociation) => topology.track(association);
    const initiator = new HandoverInitiator({
      flow: FLOW,
      host: hosts.A,
      relay: ab.client,
      sender: senderAtA,
      receiver: receiverAtA,
      timeline,
      track,
      connectTimeoutMs: race.blockDirectPath ? 300 : 5000,
      answerTimeoutMs: 3000,
      ...(race.wrongToken ? { presentToken: (issued: string) => `${issued}-stale` } : {}),
      beforeConnect: () => {
        impairments.armOldPathTailLoss();
        for (let i = 0; i < (race.burstAtGo ?? 0) && senderAtA.lastSeq < flowMessages; i++) senderAtA.sendNext();
      },
      ...(race.crossingResets ? { onDrained: () => ab.client.resetOutgoingStreams([FLOW_STREAM]) } : {}),
    });
    const acceptor = new HandoverAcceptor({
      flow: FLOW,
      host: hosts.C,
      relay: bc.server,
      sender: senderAtC,
      receiver: receiverAtC,
      timeline,
      track,
      ...(race.crossingResets ? { onDrained: () => bc.server.resetOutgoingStreams([FLOW_STREAM]) } : {}),
    });

    receiverAtC.onEnd(() => timeline.mark('C: END from A delivered'));
    receiverAtA.onEnd(() => timeline.mark('A: END from C delivered'));

    let relayTailHold: Hold | undefined;
    if (race.directOvertakesRelay) {
      senderAtA.onCutOver(() => {
        relayTailHold = network.hold(
          'relay towards C',
          (datagram) => datagram.from === 'B' && datagram.to === 'C' && firstDataTsn(datagram) !== undefined,
          1500,
        );
      });
      receiverAtC.onFirstDirect(() => relayTailHold?.release());
    }

    if (race.bothEndsInFlight) {
      let relayHold: Hold | undefined;
      senderAtA.onCutOver(() => {
        relayHold = network.hold(
          'relay from B',
          (datagram) => datagram.from === 'B' && datagram.to !== 'B' && firstDataTsn(datagram) !== undefined,
          1500,
        );
      });
      senderAtC.onCutOver(() => relayHold?.release());
    }

    // Reuse of stream 1 on A–B once it was reset.
    ab.server.onMessage((stream, message) => {
      if (stream === FLOW_STREAM && message.kind === 'data' && message.flow === REUSE_FLOW) log.record(REUSE_FLOW, message.seq);
    });

    const background = startTrafficOnBoth(ab, bc, BACKGROUND_STREAMS, backgroundMessages, intervalMs, log);
    const flowAtA = new PacedSender(flowMessages, intervalMs, () => {
      if (senderAtA.lastSeq < flowMessages) senderAtA.sendNext();
      if (senderAtA.lastSeq >= beginAtSeq) coordinator.begin();
    });
    const flowAtC = new PacedSender(flowMessages, intervalMs, () => {
      if (senderAtC.lastSeq < flowMessages) senderAtC.sendNext();
    });
    await Promise.all([...background.map((sender) => sender.start()), flowAtA.start(), flowAtC.start()]);

    const backgroundFlows = (['A>B', 'B>A', 'B>C', 'C>B'] as const).flatMap((direction) => {
      const [from, to] = direction.split('>') as [string, string];
      return BACKGROUND_STREAMS.map((stream) => backgroundFlowName(from, to, stream));
    });
    await waitFor(
      () =>
        (initiator.outcome === 'switched' || initiator.outcome === 'cancelled') &&
        (coordinator.outcome === 'drained' || coordinator.outcome === 'cancelled'),
      10_000,
    );
    await waitFor(
      () =>
        log.count('F:A→C') >= flowMessages &&
        log.count('F:C→A') >= flowMessages &&
        backgroundFlows.every((flow) => log.count(flow) >= backgroundMessages),
      20_000,
    );

    let reset: ResetReport | undefined;
    if (resetFlowStream && coordinator.outcome === 'drained') {
      const associations = [ab.client, ab.server, bc.client, bc.server];
      const atZero = await waitFor(() => flowStreamAtZero(...associations), 5000);
      for (let seq = 1; seq <= REUSE_MESSAGES; seq++) ab.client.send(FLOW_STREAM, { kind: 'data', flow: REUSE_FLOW, seq });
      await waitFor(() => log.count(REUSE_FLOW) >= REUSE_MESSAGES, 5000);
      reset = {
        flowStreamAtZero: atZero,
        otherStreamsIntact:
          streamsKeptNumbers(ab.client, ab.server, backgroundMessages) && streamsKeptNumbers(bc.client, bc.server, backgroundMessages),
        requests: {
          A: reconfigRequestsFrom(network.wire, 'A'),
          B: reconfigRequestsFrom(network.wire, 'B'),
          C: reconfigRequestsFrom(network.wire, 'C'),
        },
        crossed: resetRequestsCrossed(network.wire, 'A', 'B') || resetRequestsCrossed(network.wire, 'B', 'C'),
        reuse: log.check(REUSE_FLOW, REUSE_MESSAGES),
        reuseFirstSsn: flowChunks(network.wire, 'A', 'B', REUSE_FLOW)[0]?.ssn,
      };
    }
    // Let the last SACKs and control messages settle before reading the wire.
    await sleep(50);
    const teardownAt = network.now();

    const tagsAfter = [ab.client.tags(), ab.server.tags(), bc.client.tags(), bc.server.tags()];
    const wire = network.wire;
    const direction = (
      name: 'A→C' | 'C→A',
      sender: FlowSender,
      receiver: FlowReceiver,
      path: readonly [string, string, string],
    ): DirectionReport => {
      const [source, relayHost, target] = path;
      const switchPoint = sender.lastSeqOnRelay;
      const afterSwitch = switchPoint ?? Number.POSITIVE_INFINITY;
      const onRelay = [...flowChunks(wire, source, relayHost, FLOW), ...flowChunks(wire, relayHost, target, FLOW)];
      const onDirect = flowChunks(wire, source, target, FLOW);
      return {
        direction: name,
        check: log.check(`F:${name}`, flowMessages),
        lastSeqViaRelay: switchPoint,
        receiver: { ...receiver.stats },
        firstDirectSsn: onDirect.find((chunk) => chunk.message.kind === 'data' && chunk.message.seq === afterSwitch + 1)?.ssn,
        relayCarriedAfterSwitch: distinctDataSeqs(onRelay, afterSwitch),
        directCarried: distinctDataSeqs(onDirect, switchPoint ?? flowMessages),
      };
    };

    return {
      seed,
      outcome: {
        initiator: initiator.outcome,
        acceptor: acceptor.outcome,
        coordinator: coordinator.outcome,
        cancelReason: initiator.cancelReason,
      },
      directions: [
        direction('A→C', senderAtA, receiverAtC, ['A', 'B', 'C']),
        direction('C→A', senderAtC, receiverAtA, ['C', 'B', 'A']),
      ],
      background: backgroundFlows.map((flow) => ({ flow, check: log.check(flow, backgroundMessages) })),
      tagsUnchanged: tagsBefore.every(
        (tags, index) => tags.local === tagsAfter[index]!.local && tags.remote === tagsAfter[index]!.remote,
      ),
      abortsOnRelayLinks: countChunks(wire, ChunkType.ABORT, (record) => record.atMs < teardownAt && linkOf(record) === 'relay'),
      relayStrays: relay.state('A→C').strays + relay.state('C→A').strays,
      relayedSeqAtGo: coordinator.relayedSeqAtGo,
      endTransmissionsAtoB: flowChunks(wire, 'A', 'B', FLOW).filter((chunk) => chunk.message.kind === 'end').length,
      droppedDatagrams: wire.filter((record) => record.fate === 'dropped').length,
      heldDatagrams: wire.filter((record) => record.fate === 'held').length,
      reset,
      timeline: timeline.events,
      durationMs: performance.now() - started,
    };
  } finally {
    await topology.close();
  }
}
