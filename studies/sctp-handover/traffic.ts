// Numbered test traffic: a paced sender and a delivery log that checks counts
// and order per flow.

import type { WeriftAssociation } from './association.ts';

export interface SequenceCheck {
  readonly expected: number;
  readonly delivered: number;
  readonly missing: number;
  readonly duplicates: number;
  /** Deliveries whose seq is not exactly one more than the previous one (apart from missing/duplicates). */
  readonly outOfOrder: number;
  /** Exactly 1..expected, each once, in order. */
  readonly exact: boolean;
}

export function checkSequence(delivered: readonly number[], expected: number): SequenceCheck {
  const unique = new Set(delivered);
  let outOfOrder = 0;
  for (let i = 1; i < delivered.length; i++) {
    if (delivered[i]! <= delivered[i - 1]!) outOfOrder++;
  }
  let missing = 0;
  for (let seq = 1; seq <= expected; seq++) if (!unique.has(seq)) missing++;
  const exact = delivered.length === expected && delivered.every((seq, index) => seq === index + 1);
  return {
    expected,
    delivered: delivered.length,
    missing,
    duplicates: delivered.length - unique.size,
    outOfOrder,
    exact,
  };
}

export function formatCheck(check: SequenceCheck): string {
  const verdict = check.exact ? 'exact' : `missing ${check.missing}, duplicates ${check.duplicates}, out of order ${check.outOfOrder}`;
  return `${check.delivered}/${check.expected} (${verdict})`;
}

/** Records which seq numbers of which flow were delivered, in delivery order. */
export class DeliveryLog {
  private readonly byFlow = new Map<string, number[]>();

  record(flow: string, seq: number): void {
    let list = this.byFlow.get(flow);
    if (!list) {
      list = [];
      this.byFlow.set(flow, list);
    }
    list.push(seq);
  }

  sequence(flow: string): readonly number[] {
    return this.byFlow.get(flow) ?? [];
  }

  count(flow: string): number {
    return this.sequence(flow).length;
  }

  check(flow: string, expected: number): SequenceCheck {
    return checkSequence(this.sequence(flow), expected);
  }
}

/** Calls `send(seq)` for seq = 1..count, `perTick` at a time every `intervalMs`. Always ends. */
export class PacedSender {
  sent = 0;
  private timer: NodeJS.Timeout | undefined;
  private finish: (() => void) | undefined;

  constructor(
    private readonly count: number,
    private readonly intervalMs: number,
    private readonly send: (seq: number) => void,
    private readonly perTick = 1,
  ) {}

  start(): Promise<void> {
    return new Promise((resolve) => {
      this.finish = resolve;
      this.timer = setInterval(() => this.tick(), this.intervalMs);
    });
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.finish?.();
    this.finish = undefined;
  }

  private tick(): void {
    for (let i = 0; i < this.perTick && this.sent < this.count; i++) {
      this.sent++;
      this.send(this.sent);
    }
    if (this.sent >= this.count) this.stop();
  }
}

/** Background flow on one stream of one association, named like "A>B#2". */
export function backgroundFlowName(from: string, to: string, stream: number): string {
  return `${from}>${to}#${stream}`;
}

/**
 * Numbered traffic both ways on `streams` of an association, logged per flow on
 * the receiving side. Returns the senders so the caller can await or stop them.
 */
export function startBackgroundTraffic(
  ends: { readonly name: string; readonly association: WeriftAssociation }[],
  streams: readonly number[],
  count: number,
  intervalMs: number,
  log: DeliveryLog,
): PacedSender[] {
  const senders: PacedSender[] = [];
  for (const [index, end] of ends.entries()) {
    const peer = ends[1 - index]!;
    end.association.onMessage((stream, message) => {
      if (message.kind === 'data' && streams.includes(stream) && message.flow === backgroundFlowName(peer.name, end.name, stream)) {
        log.record(message.flow, message.seq);
      }
    });
    for (const stream of streams) {
      const flow = backgroundFlowName(end.name, peer.name, stream);
      senders.push(new PacedSender(count, intervalMs, (seq) => end.association.send(stream, { kind: 'data', flow, seq })));
    }
  }
  return senders;
}

/** startBackgroundTraffic on A–B and on B–C at once: the traffic every scenario keeps running. */
export function startTrafficOnBoth(
  ab: { readonly client: WeriftAssociation; readonly server: WeriftAssociation },
  bc: { readonly client: WeriftAssociation; readonly server: WeriftAssociation },
  streams: readonly number[],
  count: number,
  intervalMs: number,
  log: DeliveryLog,
): PacedSender[] {
  return [
    ...startBackgroundTraffic([{ name: 'A', association: ab.client }, { name: 'B', association: ab.server }], streams, count, intervalMs, log),
    ...startBackgroundTraffic([{ name: 'B', association: bc.client }, { name: 'C', association: bc.server }], streams, count, intervalMs, log),
  ];
}
