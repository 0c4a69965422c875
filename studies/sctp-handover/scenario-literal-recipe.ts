// (b) Why "add C's address to A–B and let C take over a stream" fails.
//
// Neither npm stack implements ADD-IP (RFC 5061). The ASCONF that B would send
// is put on the wire as bytes, and what a compliant A does after accepting it
// is played by hand: C's address joins A–B's peer addresses as UNCONFIRMED and
// A probes it with a HEARTBEAT carrying A–B's verification tag (RFC 5061 §5.3,
// RFC 9260 §5.4). What happens next runs on real code:
//   - C has B–C, and A's address was cross-added to it: the lookup finds B–C,
//     the tag does not match, C drops the probe silently (RFC 9260 §8.5);
//   - C has no association for A: the probe is out of the blue and C answers
//     ABORT with the T bit and A–B's tag reflected (§8.4 rule 8); A must accept
//     it (§8.5.1 B) and removes A–B (§9.1), taking every stream with it.
// The `sctp` package plays A, B and C here because it follows §8.4/§8.5.1
// literally. werift-sctp, used for everything else, is checked separately.

import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { addIpAsconfChunk } from './asconf.ts';
import { SCTP_PORT } from './association.ts';
import { encodeMessage, APP_PPID } from './messages.ts';
import { Network, type LoopbackHost } from './network.ts';
import { DatagramPort, SctpSocket, encodePacket, heartbeatChunk, type SctpPackageSocket } from './sctp-package.ts';
import { sleep, waitFor, within } from './timing.ts';
import { HOST_IPS, Topology } from './topology.ts';
import { DeliveryLog, startTrafficOnBoth } from './traffic.ts';
import { ChunkType } from './wire.ts';
import { abortPacket, dataPacket } from './werift.ts';

const STREAMS = [1, 2, 3] as const;
const SETTLE_MS = 300;

export interface AddressSharedCase {
  /** Datagrams from C to A after the probe: none, the probe was silently discarded. */
  readonly repliesFromC: number;
  readonly heartbeatAcks: number;
  readonly abStillEstablished: boolean;
  readonly bcStillEstablished: boolean;
}

export interface OutOfTheBlueCase {
  readonly abortFromC: { readonly tBit: boolean; readonly verificationTag: number } | undefined;
  /** The ABORT carries exactly the tag A had put on its probe. */
  readonly tagReflected: boolean;
  readonly communicationLostAtA: boolean;
  readonly stateAtA: string;
  /** B is not told: its side stays ESTABLISHED until its own error counters run out. */
  readonly stateAtB: string;
  readonly deliveredPerStreamBeforeAbort: Readonly<Record<number, number>>;
  readonly deliveredPerStreamAfterAbort: Readonly<Record<number, number>>;
  /** A keeps writing numbered messages on streams 1..3 after the ABORT; none of them reaches B. */
  readonly lastSeqWrittenBeforeAbort: number;
  readonly lastSeqWritten: number;
  readonly highestSeqDeliveredPerStream: Readonly<Record<number, number>>;
  /** B–C, not involved, kept delivering. */
  readonly bcDeliveredAfterAbort: number;
}

export interface WeriftChecks {
  /** A DATA chunk built from A–B's tag and next TSN, sent to C: C's werift association drops it. */
  readonly foreignTagDataDelivered: number;
  readonly repliesFromCToA: number;
  readonly bcKeptDelivering: boolean;
  /** werift-sctp 0.0.11 ignores ABORT(T=1, peer's tag), unlike RFC 9260 §8.5.1 B and the `sctp` package. */
  readonly tBitAbortClosedAB: boolean;
  readonly abKeptDelivering: boolean;
}

export interface LiteralRecipeReport {
  readonly asconfIgnoredByA: boolean;
  /** The tag A puts on packets of A–B (B's Initiate Tag); the probe to C carries it. */
  readonly abTagTowardsB: number;
  readonly bcTags: { readonly atB: number; readonly atC: number };
  readonly addressShared: AddressSharedCase;
  readonly outOfTheBlue: OutOfTheBlueCase;
  readonly werift: WeriftChecks;
  readonly durationMs: number;
}

interface SctpEnd {
  readonly socket: SctpPackageSocket;
  readonly port: DatagramPort;
}

function sctpEnd(host: LoopbackHost, peer: LoopbackHost, passive: boolean): SctpEnd {
  const port = new DatagramPort(host).listen(peer.address);
  const socket = new SctpSocket();
  socket.on('error', () => undefined);
  socket.connect({
    passive,
    localPort: SCTP_PORT,
    port: SCTP_PORT,
    udpTransport: port,
    udpPeer: { address: peer.address.ip, port: peer.address.port },
    OS: 4,
    MIS: 4,
  });
  return { socket, port };
}

interface StreamTally {
  readonly counts: Record<number, number>;
  /** Highest message number seen per stream. */
  readonly highest: Record<number, number>;
}

/** Tallies the newline-terminated message numbers arriving on each stream of `socket`. */
function tallyPerStream(socket: SctpPackageSocket): StreamTally {
  const tally: StreamTally = { counts: {}, highest: {} };
  socket.on('stream', (readable: NodeJS.ReadableStream, streamId: number) => {
    readable.on('data', (chunk: Buffer) => {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (line.length === 0) continue;
        tally.counts[streamId] = (tally.counts[streamId] ?? 0) + 1;
        tally.highest[streamId] = Math.max(tally.highest[streamId] ?? 0, Number(line));
      }
    });
  });
  return tally;
}

function sumOf(counts: Readonly<Record<number, number>>): number {
  return Object.values(counts).reduce((sum, value) => sum + value, 0);
}

function minus(later: Readonly<Record<number, number>>, earlier: Readonly<Record<number, number>>): Record<number, number> {
  return Object.fromEntries(STREAMS.map((stream) => [stream, (later[stream] ?? 0) - (earlier[stream] ?? 0)]));
}

async function runSctpPackageChain(network: Network, hosts: Record<'A' | 'B' | 'C', LoopbackHost>) {
  const { A, B, C } = hosts;
  const ends: SctpEnd[] = [];
  const timers: NodeJS.Timeout[] = [];
  try {
    const abAtB = sctpEnd(B, A, true);
    const abAtA = sctpEnd(A, B, false);
    const bcAtC = sctpEnd(C, B, true);
    const bcAtB = sctpEnd(B, C, false);
    ends.push(abAtB, abAtA, bcAtC, bcAtB);
    const up = await within(
      Promise.all([once(abAtA.socket, 'connect'), once(bcAtB.socket, 'connect')]).then(() => true),
      5000,
      false,
    );
    if (!up) throw new Error('sctp package associations did not come up');
    const atB = tallyPerStream(abAtB.socket);
    const atC = tallyPerStream(bcAtC.socket);

    // Numbered traffic on A–B streams 1..3 and B–C stream 1, every 5 ms, until the chain is done.
    // A's application is not told about the ABORT in time and keeps writing.
    const writersAtA = STREAMS.map((stream) => abAtA.socket.createStream(stream));
    const writerAtB = bcAtB.socket.createStream(1);
    let seq = 0;
    let lastSeqWrittenBeforeAbort = 0;
    let abortedAt: number | undefined;
    abAtA.socket.once('end', () => {
      abortedAt ??= network.now();
      lastSeqWrittenBeforeAbort = seq;
    });
    const traffic = setInterval(() => {
      seq++;
      for (const writer of writersAtA) writer.write(`${seq}\n`);
      writerAtB.write(`${seq}\n`);
    }, 5);
    timers.push(traffic);
    const flowing = await waitFor(() => STREAMS.every((stream) => (atB.counts[stream] ?? 0) >= 10) && (atC.counts[1] ?? 0) >= 10, 5000);
    if (!flowing) throw new Error('no traffic on the sctp package associations');
    /** Resolves once C has delivered a B–C message written after this call, i.e. has processed what came before. */
    const cCaughtUp = () => {
      const mark = seq;
      return waitFor(() => (atC.highest[1] ?? 0) > mark, 5000);
    };

    const abTagTowardsB = abAtA.socket.association!.peer_tag;
    const abTagTowardsA = abAtB.socket.association!.peer_tag;

    // B announces C's address on A–B. The package has no ADD-IP: the chunk is parsed and ignored.
    B.send(encodePacket(SCTP_PORT, SCTP_PORT, abTagTowardsA, [addIpAsconfChunk(1, B.address.ip, C.address.ip)]), A.address);
    await sleep(50);
    const asconfIgnoredByA = abAtA.socket.association?.state === 'ESTABLISHED';

    // Played by hand: A accepted the new address as UNCONFIRMED and verifies it with a nonce HEARTBEAT.
    abAtA.port.listen(C.address);
    const probe = () => encodePacket(SCTP_PORT, SCTP_PORT, abTagTowardsB, [heartbeatChunk(randomBytes(8), C.address.ip)]);
    const fromCToA = (afterId: number) => network.wire.filter((record) => record.id > afterId && record.from === 'C' && record.to === 'A');

    // Case: A's address had been cross-added to B–C, so C's lookup finds B–C and the tag check fails.
    bcAtC.port.listen(A.address);
    const sharedProbeId = network.wire.length;
    A.send(probe(), C.address);
    await cCaughtUp();
    const sharedReplies = fromCToA(sharedProbeId);
    const addressShared: AddressSharedCase = {
      repliesFromC: sharedReplies.length,
      heartbeatAcks: sharedReplies.filter((record) => record.packet?.chunks.some((chunk) => chunk.type === ChunkType.HEARTBEAT_ACK)).length,
      abStillEstablished: abAtA.socket.association?.state === 'ESTABLISHED',
      bcStillEstablished: bcAtC.socket.association?.state === 'ESTABLISHED',
    };
    bcAtC.port.stopListening(A.address);

    // Case: C has no association that A's address belongs to: the probe is out of the blue.
    const responder = { socket: new SctpSocket(), port: new DatagramPort(C, true).listenToUnrouted() };
    responder.socket.on('error', () => undefined);
    responder.socket.connect({
      passive: true,
      localPort: SCTP_PORT,
      port: SCTP_PORT,
      udpTransport: responder.port,
      udpPeer: { address: A.address.ip, port: A.address.port },
    });
    ends.push(responder);
    const ootbProbeId = network.wire.length;
    A.send(probe(), C.address);
    await waitFor(() => abortedAt !== undefined, 5000);
    await sleep(50);
    const beforeAbort = { ...atB.counts };
    const bcBefore = sumOf(atC.counts);
    await sleep(SETTLE_MS);
    await cCaughtUp();
    const abortRecord = fromCToA(ootbProbeId).find((record) => record.packet?.chunks.some((chunk) => chunk.type === ChunkType.ABORT));
    const abortChunk = abortRecord?.packet?.chunks.find((chunk) => chunk.type === ChunkType.ABORT);
    const outOfTheBlue: OutOfTheBlueCase = {
      abortFromC: abortChunk && abortRecord?.packet ? { tBit: abortChunk.tBit, verificationTag: abortRecord.packet.verificationTag } : undefined,
      tagReflected: abortRecord?.packet?.verificationTag === abTagTowardsB,
      communicationLostAtA: abortedAt !== undefined,
      stateAtA: abAtA.socket.association?.state ?? 'none',
      stateAtB: abAtB.socket.association?.state ?? 'none',
      deliveredPerStreamBeforeAbort: beforeAbort,
      deliveredPerStreamAfterAbort: minus(atB.counts, beforeAbort),
      lastSeqWrittenBeforeAbort,
      lastSeqWritten: seq,
      highestSeqDeliveredPerStream: { ...atB.highest },
      bcDeliveredAfterAbort: sumOf(atC.counts) - bcBefore,
    };
    return {
      asconfIgnoredByA,
      abTagTowardsB,
      bcTags: { atB: bcAtB.socket.association!.my_tag, atC: bcAtC.socket.association!.my_tag },
      addressShared,
      outOfTheBlue,
    };
  } finally {
    for (const timer of timers) clearInterval(timer);
    for (const end of ends) end.port.close();
  }
}

async function runWeriftChecks(): Promise<WeriftChecks> {
  const topology = await Topology.create();
  const { hosts, network } = topology;
  try {
    const ab = await topology.connect('A', 'B');
    const bc = await topology.connect('B', 'C');
    const log = new DeliveryLog();
    const senders = startTrafficOnBoth(ab, bc, [1], 150, 4, log);
    const running = Promise.all(senders.map((sender) => sender.start()));
    await waitFor(() => log.count('A>B#1') >= 10 && log.count('B>C#1') >= 10, 5000);
    /** Resolves once `flow` has delivered more than it had when called. */
    const progressed = (flow: string) => {
      const mark = log.count(flow);
      return waitFor(() => log.count(flow) > mark, 5000);
    };

    // Exactly the packet A would send next to B on stream 1, but addressed to C, whose B–C now also listens to A.
    const forgedFlow = 'A>C#forged';
    bc.server.onMessage((_stream, message) => {
      if (message.kind === 'data' && message.flow === forgedFlow) log.record(forgedFlow, message.seq);
    });
    bc.server.acceptAlsoFrom(hosts.A.address);
    const forgedAt = network.wire.length;
    hosts.A.send(
      dataPacket(ab.client.tags().remote, SCTP_PORT, {
        tsn: ab.client.nextTsn(),
        streamId: 1,
        ssn: ab.client.outboundSsn(1),
        ppid: APP_PPID,
        userData: encodeMessage({ kind: 'data', flow: forgedFlow, seq: 1 }),
      }),
      hosts.C.address,
    );
    // B's later packets reach C after the forged one, so once they are delivered C has dealt with it.
    const bcKeptDelivering = (await progressed('B>C#1')) && !bc.server.isClosed;
    const repliesFromCToA = network.wire.filter((record) => record.id > forgedAt && record.from === 'C' && record.to === 'A').length;

    // ABORT with the T bit and A–B's tag, arriving at A from C's address, which A now lists for A–B.
    ab.client.acceptAlsoFrom(hosts.C.address);
    hosts.C.send(abortPacket(ab.client.tags().remote, SCTP_PORT, true), hosts.A.address);
    const abKeptDelivering = (await progressed('B>A#1')) && (await progressed('A>B#1'));
    const tBitAbortClosedAB = ab.client.isClosed;

    for (const sender of senders) sender.stop();
    await running;
    return {
      foreignTagDataDelivered: log.count(forgedFlow),
      repliesFromCToA,
      bcKeptDelivering,
      tBitAbortClosedAB,
      abKeptDelivering,
    };
  } finally {
    await topology.close();
  }
}

export async function runLiteralRecipe(): Promise<LiteralRecipeReport> {
  const started = performance.now();
  const network = new Network();
  let chain: Awaited<ReturnType<typeof runSctpPackageChain>>;
  try {
    const [A, B, C] = await Promise.all([
      network.addHost('A', HOST_IPS.A),
      network.addHost('B', HOST_IPS.B),
      network.addHost('C', HOST_IPS.C),
    ]);
    chain = await runSctpPackageChain(network, { A, B, C });
  } finally {
    await network.close();
  }
  const werift = await runWeriftChecks();
  return { ...chain, werift, durationMs: performance.now() - started };
}
