// (a) A–B and B–C, each with several streams carrying numbered messages both
// ways. Shows that each association has its own tags and its own TSN space.

import type { WeriftAssociation } from './association.ts';
import { Topology } from './topology.ts';
import { DeliveryLog, PacedSender, backgroundFlowName, startTrafficOnBoth, type SequenceCheck } from './traffic.ts';
import { waitFor } from './timing.ts';
import { weriftDeliveryFixApplied } from './werift.ts';

export interface AssociationFacts {
  readonly label: string;
  /** Verification tag each end expects in packets sent to it (RFC 9260 §5.3.1: fixed for the association's life). */
  readonly tagAtClient: number;
  readonly tagAtServer: number;
  /** Both ends agree on each other's tag. */
  readonly tagsConsistent: boolean;
  readonly streamsNegotiated: number;
  readonly nextTsnAtClient: number;
  readonly nextTsnAtServer: number;
}

export interface MultistreamReport {
  readonly associations: readonly AssociationFacts[];
  readonly flows: readonly { readonly flow: string; readonly check: SequenceCheck }[];
  readonly unordered: SequenceCheck;
  readonly distinctTags: number;
  readonly deliveryFixApplied: boolean;
  readonly durationMs: number;
}

export interface MultistreamOptions {
  readonly streams?: readonly number[];
  readonly messagesPerStream?: number;
  readonly intervalMs?: number;
}

function factsOf(label: string, pair: { client: WeriftAssociation; server: WeriftAssociation }): AssociationFacts {
  const client = pair.client.tags();
  const server = pair.server.tags();
  return {
    label,
    tagAtClient: client.local,
    tagAtServer: server.local,
    tagsConsistent: client.remote === server.local && server.remote === client.local,
    streamsNegotiated: Math.min(pair.client.sctp.maxChannels ?? 0, pair.server.sctp.maxChannels ?? 0),
    nextTsnAtClient: pair.client.nextTsn(),
    nextTsnAtServer: pair.server.nextTsn(),
  };
}

export async function runMultistream(options: MultistreamOptions = {}): Promise<MultistreamReport> {
  const streams = options.streams ?? [1, 2, 3];
  const count = options.messagesPerStream ?? 200;
  const intervalMs = options.intervalMs ?? 2;
  const started = performance.now();
  const topology = await Topology.create();
  try {
    const ab = await topology.connect('A', 'B');
    const bc = await topology.connect('B', 'C');
    const log = new DeliveryLog();

    const unorderedFlow = 'A>B#unordered';
    ab.server.onMessage((_stream, message) => {
      if (message.kind === 'data' && message.flow === unorderedFlow) log.record(message.flow, message.seq);
    });

    const senders = startTrafficOnBoth(ab, bc, streams, count, intervalMs, log);
    const unorderedSender = new PacedSender(1, 5, (seq) => ab.client.send(streams.at(-1)!, { kind: 'data', flow: unorderedFlow, seq }, false));
    await Promise.all([...senders.map((sender) => sender.start()), unorderedSender.start()]);

    const flows = (['A>B', 'B>A', 'B>C', 'C>B'] as const).flatMap((direction) => {
      const [from, to] = direction.split('>') as [string, string];
      return streams.map((stream) => backgroundFlowName(from, to, stream));
    });
    await waitFor(() => flows.every((flow) => log.count(flow) >= count) && log.count(unorderedFlow) >= 1, 10_000);

    const associations = [factsOf('A–B', ab), factsOf('B–C', bc)];
    const tags = associations.flatMap((facts) => [facts.tagAtClient, facts.tagAtServer]);
    return {
      associations,
      flows: flows.map((flow) => ({ flow, check: log.check(flow, count) })),
      unordered: log.check(unorderedFlow, 1),
      distinctTags: new Set(tags).size,
      deliveryFixApplied: weriftDeliveryFixApplied(),
      durationMs: performance.now() - started,
    };
  } finally {
    await topology.close();
  }
}
