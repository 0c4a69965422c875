/**
 * The relays a proxy may use and which of them takes a new call (MediaProxy's dispatcher,
 * rtpengine sets): each relay has a name, a set, a weight and an NG client; health comes from
 * NG `ping` (and from commands that time out), with backoff while a relay stays down. A new
 * call goes to a healthy relay only: the one the route asked for, else one of the set it asked
 * for, else any, chosen by weight (smooth weighted round robin, so spreading is exact, not
 * random). A call stays on the relay that took it.
 */
import type { Logger } from '../../../core/module.ts';
import type { RelayChoice } from '../backend.ts';
import type { NgClient } from '../ng/client.ts';

export interface RelayConfig {
  readonly name: string;
  readonly set: string;
  readonly weight: number;
}

export interface RelayHealth {
  readonly up: boolean;
  /** Failed pings (or timed-out commands) in a row. */
  readonly failures: number;
  /** Last ping round trip, ms. */
  readonly rttMs: number | null;
}

export interface RemoteRelay extends RelayConfig {
  readonly client: NgClient;
}


interface Member {
  readonly relay: RemoteRelay;
  up: boolean;
  failures: number;
  rttMs: number | null;
  /** Smooth weighted round robin's running weight. */
  current: number;
  nextProbe: NodeJS.Timeout | null;
  probing: boolean;
}

export interface HealthOptions {
  /** Between pings of a healthy relay. */
  readonly pingIntervalMs: number;
  /** The first retry of a relay that went down; doubled after each failure up to maxBackoffMs. */
  readonly minBackoffMs: number;
  readonly maxBackoffMs: number;
}

export class RelaySet {
  private readonly members: Member[];
  private closed = false;
  private readonly downListeners: ((name: string, failures: number) => void)[] = [];

  constructor(relays: readonly RemoteRelay[], private readonly health: HealthOptions, private readonly log: Logger) {
    // Up until a ping says otherwise: a proxy starting before its relays must not refuse calls it could place.
    this.members = relays.map((relay) => ({ relay, up: true, failures: 0, rttMs: null, current: 0, nextProbe: null, probing: false }));
    for (const m of this.members) this.schedule(m, 0);
  }

  get relays(): readonly RemoteRelay[] {
    return this.members.map((m) => m.relay);
  }

  /** Told each time a relay that is down fails again (a ping or a command), with the failures in a row. */
  onFailure(listener: (name: string, failures: number) => void): void {
    this.downListeners.push(listener);
  }

  private failedAgain(m: Member): void {
    for (const l of this.downListeners) l(m.relay.name, m.failures);
  }

  byName(name: string): RemoteRelay | undefined {
    return this.members.find((m) => m.relay.name === name)?.relay;
  }

  healthOf(name: string): RelayHealth | undefined {
    const m = this.members.find((x) => x.relay.name === name);
    return m === undefined ? undefined : { up: m.up, failures: m.failures, rttMs: m.rttMs };
  }

  /**
   * The relay for a new call, among healthy ones not in `exclude`: the one asked for by name
   * (none when it is down), else by weight within the set asked for, else over all. Null when
   * none is left.
   */
  pick(choice: RelayChoice | undefined, exclude: ReadonlySet<string> = new Set()): RemoteRelay | null {
    const candidates = this.members.filter((m) => m.up && !exclude.has(m.relay.name)
      && (choice?.relay === undefined ? m.relay.weight > 0 : m.relay.name === choice.relay)
      && (choice?.set === undefined || m.relay.set === choice.set));
    if (candidates.length === 0) return null;
    let total = 0;
    let best: Member | undefined;
    for (const m of candidates) {
      m.current += m.relay.weight;
      total += m.relay.weight;
      if (best === undefined || m.current > best.current) best = m;
    }
    best!.current -= total;
    return best!.relay;
  }

  /** A command to `name` got no answer in time: the relay takes no new call until a ping answers. */
  markFailed(name: string): void {
    const m = this.members.find((x) => x.relay.name === name);
    if (m === undefined || this.closed) return;
    if (m.up) this.log.warn({ relay: name }, 'media relay down: a command timed out');
    m.up = false;
    m.failures++;
    if (!m.probing) this.schedule(m, this.backoff(m));
    this.failedAgain(m);
  }

  private backoff(m: Member): number {
    return Math.min(this.health.maxBackoffMs, this.health.minBackoffMs * 2 ** Math.max(0, m.failures - 1));
  }

  private schedule(m: Member, delayMs: number): void {
    if (this.closed) return;
    if (m.nextProbe !== null) clearTimeout(m.nextProbe);
    m.nextProbe = setTimeout(() => void this.probe(m), delayMs);
    m.nextProbe.unref();
  }

  private async probe(m: Member): Promise<void> {
    m.nextProbe = null;
    m.probing = true;
    const r = await m.relay.client.ping();
    m.probing = false;
    if (this.closed) return;
    if (r.ok) {
      if (!m.up) this.log.info({ relay: m.relay.name, rttMs: Math.round(r.value.rttMs * 10) / 10 }, 'media relay up');
      m.up = true;
      m.failures = 0;
      m.rttMs = r.value.rttMs;
      this.schedule(m, this.health.pingIntervalMs);
      return;
    }
    if (m.up) this.log.warn({ relay: m.relay.name, error: r.error.message }, 'media relay down: ping failed');
    m.up = false;
    m.failures++;
    this.schedule(m, this.backoff(m));
    this.failedAgain(m);
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const m of this.members) if (m.nextProbe !== null) clearTimeout(m.nextProbe);
    await Promise.all(this.members.map((m) => m.relay.client.close()));
  }
}
