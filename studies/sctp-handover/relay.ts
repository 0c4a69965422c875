// B's relay: splices one stream of A–B onto the same stream of B–C and back.
// This is always RFC-compliant (two independent associations, B is an
// application in the middle), and it is where a handover starts from.

import type { WeriftAssociation } from './association.ts';
import type { AppMessage } from './messages.ts';

export type RelayDirection = 'A→C' | 'C→A';

interface DirectionState {
  forwarded: number;
  /** Highest flow seq forwarded so far: what a "snapshot" of the relay would report. */
  lastSeq: number;
  endForwarded: boolean;
  /** Messages of another flow, or arriving after END while still relaying; never forwarded. Must stay 0. */
  strays: number;
}

export class StreamRelay {
  private readonly directions: Record<RelayDirection, DirectionState> = {
    'A→C': { forwarded: 0, lastSeq: 0, endForwarded: false, strays: 0 },
    'C→A': { forwarded: 0, lastSeq: 0, endForwarded: false, strays: 0 },
  };
  private active = true;
  private readonly endListeners: ((direction: RelayDirection, lastSeq: number) => void)[] = [];

  constructor(
    readonly towardsA: WeriftAssociation,
    readonly towardsC: WeriftAssociation,
    readonly stream: number,
    readonly flow: string,
  ) {
    towardsA.onMessage((stream, message) => {
      if (stream === this.stream) this.forward('A→C', towardsC, message);
    });
    towardsC.onMessage((stream, message) => {
      if (stream === this.stream) this.forward('C→A', towardsA, message);
    });
  }

  state(direction: RelayDirection): Readonly<DirectionState> {
    return this.directions[direction];
  }

  get fullyEnded(): boolean {
    return this.directions['A→C'].endForwarded && this.directions['C→A'].endForwarded;
  }

  onEnd(listener: (direction: RelayDirection, lastSeq: number) => void): void {
    this.endListeners.push(listener);
  }

  /** Stops forwarding; the stream is left to whoever owns it next (e.g. after a stream reset). */
  stop(): void {
    this.active = false;
  }

  private forward(direction: RelayDirection, out: WeriftAssociation, message: AppMessage): void {
    if (!this.active) return;
    const state = this.directions[direction];
    if (state.endForwarded || message.flow !== this.flow) {
      state.strays++;
      return;
    }
    out.send(this.stream, message);
    state.forwarded++;
    if (message.kind === 'data') state.lastSeq = Math.max(state.lastSeq, message.seq);
    if (message.kind === 'end') {
      state.endForwarded = true;
      for (const listener of this.endListeners) listener(direction, message.lastSeq);
    }
  }
}
