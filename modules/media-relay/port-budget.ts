import { unmapIPv4 } from '../../core/module.ts';

/** What one call holds: its signaling source and the ports charged per stream. */
interface Charged {
  readonly source: string;
  readonly streams: Map<number, number>;
}

/**
 * Media ports held per signaling source: each stream of a call costs the ports its sessions
 * take, charged to the IP the call's first request came from until the call's media ends. One
 * source (a scanner, a flood of unanswered INVITEs) cannot hold more than its budget, so the
 * range stays open to everyone else.
 */
export class PortBudget {
  private readonly calls = new Map<string, Charged>();
  private readonly bySource = new Map<string, number>();

  constructor(private readonly limit: () => number) {}

  /**
   * Charges the streams of `costs` (index → ports) that the call has not paid for yet, all or
   * none: false when they would take its source past the budget.
   */
  charge(callId: string, source: string, costs: ReadonlyMap<number, number>): boolean {
    let call = this.calls.get(callId);
    let extra = 0;
    for (const [index, ports] of costs) if (call?.streams.has(index) !== true) extra += ports;
    if (extra === 0) return true;
    const ip = call?.source ?? unmapIPv4(source);
    const held = this.bySource.get(ip) ?? 0;
    if (held + extra > this.limit()) return false;
    if (call === undefined) {
      call = { source: ip, streams: new Map() };
      this.calls.set(callId, call);
    }
    for (const [index, ports] of costs) if (!call.streams.has(index)) call.streams.set(index, ports);
    this.bySource.set(ip, held + extra);
    return true;
  }

  /** A stream charged but not opened after all: its ports go back to the source. */
  refund(callId: string, index: number): void {
    const call = this.calls.get(callId);
    const ports = call?.streams.get(index);
    if (call === undefined || ports === undefined) return;
    call.streams.delete(index);
    this.give(call.source, ports);
  }

  /** The call's media ended: its source gets its ports back. */
  release(callId: string): void {
    const call = this.calls.get(callId);
    if (call === undefined) return;
    this.calls.delete(callId);
    let ports = 0;
    for (const n of call.streams.values()) ports += n;
    this.give(call.source, ports);
  }

  private give(source: string, ports: number): void {
    const left = (this.bySource.get(source) ?? 0) - ports;
    if (left > 0) this.bySource.set(source, left);
    else this.bySource.delete(source);
  }

  /** Ports charged to a source now. */
  heldBy(source: string): number {
    return this.bySource.get(unmapIPv4(source)) ?? 0;
  }
}
