// The standards-compatible handover of one flow from A–B–C relaying to a
// direct A–C association. Everything here is application logic on top of
// ordinary associations: no SCTP state moves between associations.
//
//   B → C   prepare{token, peer=A}         (B–C control stream)
//   C → B   ready{address}
//   B → A   go{token, target=C}            (A–B control stream)
//   A → C   INIT … new association A–C, then hello{token}
//   C → A   welcome
//   A       END{lastSeq=N} on A–B flow stream, then seq N+1… on A–C only
//   A → C   switched                       C then does the same for C→A
//   C, A    hold direct messages until END arrived on the relay path,
//           then deliver in seq order; each tells B end-delivered
//   B       both ENDs delivered → drained; optional RFC 6525 reset of the flow stream

import { WeriftAssociation } from './association.ts';
import type { AppMessage } from './messages.ts';
import type { LoopbackHost, UdpAddress } from './network.ts';
import type { StreamRelay } from './relay.ts';
import { within } from './timing.ts';

export const CONTROL_STREAM = 0;
export const FLOW_STREAM = 1;

export type PathName = 'relay' | 'direct';

export interface FlowPath {
  readonly name: PathName;
  readonly association: WeriftAssociation;
  readonly stream: number;
}

export class Timeline {
  readonly events: { readonly atMs: number; readonly label: string }[] = [];

  constructor(private readonly now: () => number) {}

  mark(label: string): void {
    this.events.push({ atMs: this.now(), label });
  }

  at(label: string): number | undefined {
    return this.events.find((event) => event.label === label)?.atMs;
  }
}

/** One direction of a flow at its source. The cut point is chosen here, by the sender. */
export class FlowSender {
  private path: FlowPath;
  private seq = 0;
  lastSeqOnRelay: number | undefined;
  private readonly cutListeners: ((lastSeq: number) => void)[] = [];

  constructor(
    readonly flow: string,
    relayPath: FlowPath,
  ) {
    this.path = relayPath;
  }

  get lastSeq(): number {
    return this.seq;
  }

  get pathName(): PathName {
    return this.path.name;
  }

  sendNext(): void {
    this.seq++;
    this.path.association.send(this.path.stream, { kind: 'data', flow: this.flow, seq: this.seq });
  }

  onCutOver(listener: (lastSeq: number) => void): void {
    this.cutListeners.push(listener);
  }

  /** END goes on the same ordered stream as the data, so it arrives after seq N; returns N. */
  cutOver(direct: FlowPath): number {
    if (this.lastSeqOnRelay !== undefined) return this.lastSeqOnRelay;
    this.path.association.send(this.path.stream, { kind: 'end', flow: this.flow, lastSeq: this.seq });
    this.lastSeqOnRelay = this.seq;
    this.path = direct;
    for (const listener of this.cutListeners) listener(this.seq);
    return this.seq;
  }
}

export interface FlowReceiverStats {
  viaRelay: number;
  viaDirect: number;
  /** Largest number of direct-path messages held back at once, waiting for END on the relay path. */
  maxHeld: number;
  heldWhenEndArrived: number | undefined;
  endLastSeq: number | undefined;
  /** END's lastSeq equals the last seq delivered from the relay. */
  endMatchedRelay: boolean | undefined;
  /** Relay-path data after END; must stay 0. */
  relayAfterEnd: number;
}

/** One direction of a flow at its destination: merges relay and direct path by end-to-end seq. */
export class FlowReceiver {
  private next = 1;
  private relayEnded = false;
  private sawDirect = false;
  private readonly held = new Set<number>();
  private readonly endListeners: ((lastSeq: number) => void)[] = [];
  private readonly firstDirectListeners: (() => void)[] = [];
  readonly stats: FlowReceiverStats = {
    viaRelay: 0,
    viaDirect: 0,
    maxHeld: 0,
    heldWhenEndArrived: undefined,
    endLastSeq: undefined,
    endMatchedRelay: undefined,
    relayAfterEnd: 0,
  };

  constructor(
    readonly flow: string,
    private readonly deliver: (seq: number, path: PathName) => void,
  ) {}

  onEnd(listener: (lastSeq: number) => void): void {
    this.endListeners.push(listener);
  }

  onFirstDirect(listener: () => void): void {
    this.firstDirectListeners.push(listener);
  }

  fromRelay(message: AppMessage): void {
    if (message.flow !== this.flow) return;
    if (message.kind === 'data') {
      if (this.relayEnded) {
        this.stats.relayAfterEnd++;
        return;
      }
      this.stats.viaRelay++;
      this.deliverNow(message.seq, 'relay');
    } else if (message.kind === 'end' && !this.relayEnded) {
      this.relayEnded = true;
      this.stats.endLastSeq = message.lastSeq;
      this.stats.endMatchedRelay = message.lastSeq === this.next - 1;
      this.stats.heldWhenEndArrived = this.held.size;
      this.drain();
      for (const listener of this.endListeners) listener(message.lastSeq);
    }
  }

  fromDirect(message: AppMessage): void {
    if (message.flow !== this.flow || message.kind !== 'data') return;
    if (!this.sawDirect) {
      this.sawDirect = true;
      for (const listener of this.firstDirectListeners) listener();
    }
    if (this.relayEnded && message.seq === this.next) {
      this.stats.viaDirect++;
      this.deliverNow(message.seq, 'direct');
      this.drain();
      return;
    }
    this.held.add(message.seq);
    this.stats.maxHeld = Math.max(this.stats.maxHeld, this.held.size);
    if (this.relayEnded) this.drain();
  }

  private drain(): void {
    while (this.held.has(this.next)) {
      this.held.delete(this.next);
      this.stats.viaDirect++;
      this.deliverNow(this.next, 'direct');
    }
  }

  private deliverNow(seq: number, path: PathName): void {
    this.next = Math.max(this.next, seq + 1);
    this.deliver(seq, path);
  }
}

export interface HandoverEndOptions {
  readonly flow: string;
  readonly host: LoopbackHost;
  /** This end's association with the relay B. */
  readonly relay: WeriftAssociation;
  readonly sender: FlowSender;
  readonly receiver: FlowReceiver;
  readonly timeline: Timeline;
  readonly track: (association: WeriftAssociation) => void;
  /** Called when B reports both directions drained (used to provoke crossing stream resets). */
  readonly onDrained?: () => void;
}

/** Wires the flow stream and END acknowledgement shared by A and C. */
function attachToRelay(options: HandoverEndOptions, onControl: (message: AppMessage) => void): void {
  const { flow, relay, receiver } = options;
  relay.onMessage((stream, message) => {
    if (message.flow !== flow) return;
    if (stream === FLOW_STREAM) receiver.fromRelay(message);
    else if (stream === CONTROL_STREAM) {
      if (message.kind === 'drained') options.onDrained?.();
      else onControl(message);
    }
  });
  receiver.onEnd((lastSeq) => relay.send(CONTROL_STREAM, { kind: 'end-delivered', flow, lastSeq }));
}

export type InitiatorOutcome = 'waiting' | 'connecting' | 'switched' | 'cancelled';

/** A: on GO, opens the direct association, and cuts its direction over once C welcomed it. */
export class HandoverInitiator {
  outcome: InitiatorOutcome = 'waiting';
  cancelReason: string | undefined;
  direct: WeriftAssociation | undefined;

  constructor(
    private readonly options: HandoverEndOptions & {
      readonly connectTimeoutMs: number;
      readonly answerTimeoutMs: number;
      /** What A presents as token; identity by default. Race tests use it to present a stale one. */
      readonly presentToken?: (token: string) => string;
      /** Runs when GO arrives, before anything else (race tests use it to send a burst). */
      readonly beforeConnect?: () => void;
    },
  ) {
    attachToRelay(options, (message) => {
      if (message.kind === 'go') void this.handleGo(message.token, message.target);
    });
  }

  private async handleGo(token: string, target: UdpAddress): Promise<void> {
    if (this.outcome !== 'waiting') return;
    this.outcome = 'connecting';
    const { flow, host, timeline, sender, receiver } = this.options;
    timeline.mark('A: go received');
    this.options.beforeConnect?.();

    const direct = WeriftAssociation.open('A–C@A', host, target, 'client');
    this.options.track(direct);
    this.direct = direct;
    let answer: (verdict: string) => void = () => undefined;
    const answered = new Promise<string>((resolve) => {
      answer = resolve;
    });
    direct.onMessage((stream, message) => {
      if (message.flow !== flow) return;
      if (stream === FLOW_STREAM) receiver.fromDirect(message);
      else if (message.kind === 'welcome') answer('welcome');
      else if (message.kind === 'refused') answer(`refused: ${message.reason}`);
    });

    if (!(await direct.established(this.options.connectTimeoutMs))) {
      this.cancel('direct association did not come up');
      return;
    }
    timeline.mark('A: A–C established');
    direct.send(CONTROL_STREAM, { kind: 'hello', flow, token: this.options.presentToken?.(token) ?? token });
    const verdict = await within(answered, this.options.answerTimeoutMs, 'no answer');
    if (verdict !== 'welcome') {
      this.cancel(verdict);
      return;
    }
    const lastSeq = sender.cutOver({ name: 'direct', association: direct, stream: FLOW_STREAM });
    timeline.mark('A: cut over');
    direct.send(CONTROL_STREAM, { kind: 'switched', flow, lastSeqOnRelay: lastSeq });
    this.outcome = 'switched';
  }

  /** Before END was sent nothing has moved, so giving up leaves the relay as it was. */
  private cancel(reason: string): void {
    this.outcome = 'cancelled';
    this.cancelReason = reason;
    this.options.timeline.mark('A: cancelled');
    this.options.relay.send(CONTROL_STREAM, { kind: 'cancel', flow: this.options.flow, reason });
    void this.direct?.close();
  }
}

export type AcceptorOutcome = 'idle' | 'ready' | 'welcomed' | 'switched' | 'refused' | 'cancelled';

/** C: accepts the direct association from A if the token matches, and cuts C→A after A switched. */
export class HandoverAcceptor {
  outcome: AcceptorOutcome = 'idle';
  direct: WeriftAssociation | undefined;
  private expectedToken: string | undefined;

  constructor(private readonly options: HandoverEndOptions) {
    attachToRelay(options, (message) => {
      if (message.kind === 'prepare') this.prepare(message.token, message.peer);
      else if (message.kind === 'cancel') this.abandon();
    });
  }

  private prepare(token: string, peer: UdpAddress): void {
    if (this.outcome !== 'idle') return;
    const { flow, host, timeline, sender, receiver, relay } = this.options;
    this.expectedToken = token;
    const direct = WeriftAssociation.open('A–C@C', host, peer, 'server');
    this.options.track(direct);
    this.direct = direct;
    direct.onMessage((stream, message) => {
      if (message.flow !== flow) return;
      if (stream === FLOW_STREAM) {
        if (this.outcome === 'welcomed' || this.outcome === 'switched') receiver.fromDirect(message);
        return;
      }
      if (message.kind === 'hello') {
        if (message.token === this.expectedToken && this.outcome === 'ready') {
          this.outcome = 'welcomed';
          timeline.mark('C: hello accepted');
          direct.send(CONTROL_STREAM, { kind: 'welcome', flow });
        } else {
          this.outcome = 'refused';
          timeline.mark('C: hello refused');
          direct.send(CONTROL_STREAM, { kind: 'refused', flow, reason: 'token does not match' });
        }
      } else if (message.kind === 'switched' && this.outcome === 'welcomed') {
        sender.cutOver({ name: 'direct', association: direct, stream: FLOW_STREAM });
        timeline.mark('C: cut over');
        this.outcome = 'switched';
      }
    });
    this.outcome = 'ready';
    timeline.mark('C: ready');
    relay.send(CONTROL_STREAM, { kind: 'ready', flow, token, address: host.address });
  }

  private abandon(): void {
    if (this.outcome === 'switched') return;
    this.outcome = 'cancelled';
    this.options.timeline.mark('C: cancelled');
    void this.direct?.close();
  }
}

export type CoordinatorOutcome = 'relaying' | 'preparing' | 'go-sent' | 'cancelled' | 'drained';

/** B: starts the handover, keeps relaying until both ENDs were delivered, then steps out. */
export class HandoverCoordinator {
  outcome: CoordinatorOutcome = 'relaying';
  /** What B itself knew about A→C when it sent GO: the last seq it had relayed. */
  relayedSeqAtGo: number | undefined;
  private readonly endDelivered = new Set<'A' | 'C'>();

  constructor(
    private readonly options: {
      readonly flow: string;
      readonly towardsA: WeriftAssociation;
      readonly towardsC: WeriftAssociation;
      readonly addressOfA: UdpAddress;
      readonly relay: StreamRelay;
      readonly token: string;
      /** After the drain, reset the flow stream on both associations (RFC 6525), so it can be reused. */
      readonly resetFlowStream: boolean;
      readonly timeline: Timeline;
    },
  ) {
    const { flow, towardsA, towardsC } = options;
    towardsC.onMessage((stream, message) => {
      if (stream !== CONTROL_STREAM || message.flow !== flow) return;
      if (message.kind === 'ready' && message.token === options.token) this.sendGo(message.address);
      else if (message.kind === 'end-delivered') this.noteEndDelivered('C');
    });
    towardsA.onMessage((stream, message) => {
      if (stream !== CONTROL_STREAM || message.flow !== flow) return;
      if (message.kind === 'cancel') {
        this.outcome = 'cancelled';
        options.timeline.mark('B: cancelled, still relaying');
        towardsC.send(CONTROL_STREAM, { kind: 'cancel', flow, reason: message.reason });
      } else if (message.kind === 'end-delivered') this.noteEndDelivered('A');
    });
  }

  begin(): void {
    if (this.outcome !== 'relaying') return;
    this.outcome = 'preparing';
    this.options.timeline.mark('B: prepare');
    const { flow, token, addressOfA } = this.options;
    this.options.towardsC.send(CONTROL_STREAM, { kind: 'prepare', flow, token, peer: addressOfA });
  }

  private sendGo(target: UdpAddress): void {
    if (this.outcome !== 'preparing') return;
    this.outcome = 'go-sent';
    this.relayedSeqAtGo = this.options.relay.state('A→C').lastSeq;
    this.options.timeline.mark('B: go');
    const { flow, token } = this.options;
    this.options.towardsA.send(CONTROL_STREAM, { kind: 'go', flow, token, target });
  }

  private noteEndDelivered(end: 'A' | 'C'): void {
    this.endDelivered.add(end);
    this.options.timeline.mark(`B: END delivered at ${end}`);
    if (this.endDelivered.size < 2 || this.outcome === 'drained') return;
    this.outcome = 'drained';
    const { flow, towardsA, towardsC, relay } = this.options;
    relay.stop();
    this.options.timeline.mark('B: drained, relay stopped');
    towardsA.send(CONTROL_STREAM, { kind: 'drained', flow });
    towardsC.send(CONTROL_STREAM, { kind: 'drained', flow });
    if (this.options.resetFlowStream) {
      // Safe without RFC 6525 deferred processing: both ENDs were delivered, the stream is idle.
      towardsA.resetOutgoingStreams([FLOW_STREAM]);
      towardsC.resetOutgoingStreams([FLOW_STREAM]);
      this.options.timeline.mark('B: flow stream reset requested');
    }
  }
}
