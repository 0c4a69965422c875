import { constants } from 'node:os';
import { asSeenBy, loadAddon, type AddonLoad, type Endpoint } from '../../../core/module.ts';
import type { PartyStats, SessionKey, SessionStats } from '../session.ts';
import { MEDIA_SOCKET_BUFFER_BYTES, type BoundPort, type LegOptions, type MediaEngine, type PartySpec, type RelaySession, type RelayThreadCounters } from './engine.ts';

/** native/relay.c, as its bindings see it. */
interface NativeRelay {
  create(workers: number, rcvbufBytes: number): NativeHandle;
  destroy(engine: NativeHandle): void;
  open(engine: NativeHandle, port: number, host: string): number;
  close(engine: NativeHandle, port: number): void;
  setParty(engine: NativeHandle, port: number, which: 0 | 1, address: string, partyPort: number): void;
  /** Makes two open ports the legs of one session; 0 or -errno. */
  link(engine: NativeHandle, portA: number, portB: number, strict: boolean): number;
  /** A leg's party's signaling IP ('' forgets it). */
  setSignal(engine: NativeHandle, port: number, address: string): void;
  /** A leg's party latches anew at its next datagram. */
  unlatch(engine: NativeHandle, port: number): void;
  /** Null for a port never opened. */
  stats(engine: NativeHandle, port: number): NativeStats | null;
  relayed(engine: NativeHandle, port: number): number;
  strangers(engine: NativeHandle, port: number): number;
  /** stats() in numbers: fills `out` (10) and returns both parties' addresses, space-separated; null for a port never opened. */
  counters(engine: NativeHandle, port: number, out: Float64Array): string | null;
  /** Fills `out` (7 per worker: RelayThreadCounters in field order) and returns the number of workers. */
  threadCounters(engine: NativeHandle, out: Float64Array): number;
}
/** A party as native/relay.c's stats() reports it: `address` is '' while unknown. */
interface NativeParty { packets: number; bytes: number; latched: boolean; address: string; port: number }
interface NativeStats { parties: [NativeParty, NativeParty]; strangers: number; sendErrors: number }
declare const nativeHandle: unique symbol;
type NativeHandle = { readonly [nativeHandle]: true };

/** native/relay.c as built at install time, or why it cannot be had. */
export function loadNativeRelay(): AddonLoad<NativeRelay> {
  return loadAddon<NativeRelay>('relay', 'a C compiler');
}

/** errno → its name (EADDRINUSE...), for the errors of the addon's `-errno` results. */
const ERRNO_NAMES = new Map(Object.entries(constants.errno).map(([name, n]) => [n, name]));

/**
 * The native engine: sessions are sockets owned by worker threads in C (epoll, recvmmsg and
 * sendmmsg, no JavaScript per datagram); JavaScript opens, steers and closes them.
 */
export class NativeEngine implements MediaEngine {
  readonly kind = 'native';
  readonly handle: NativeHandle;
  /** Addresses are compared in the form the engine's sockets report them. */
  private readonly dualStack: boolean;
  private closed = false;

  constructor(readonly addon: NativeRelay, private readonly host: string, readonly workers: number) {
    this.handle = addon.create(workers, MEDIA_SOCKET_BUFFER_BYTES);
    this.dualStack = host.includes(':');
    this.threadNumbers = new Float64Array(8 * workers);
  }

  startLegs(key: SessionKey, legA: BoundPort, legB: BoundPort, a: PartySpec, b: PartySpec, opts: LegOptions): RelaySession {
    const rc = this.addon.link(this.handle, legA.port, legB.port, opts.strictSource);
    if (rc < 0) throw Object.assign(new Error(`link ${ERRNO_NAMES.get(-rc) ?? `errno ${-rc}`} ${legA.port}/${legB.port}`), { code: ERRNO_NAMES.get(-rc) });
    return new NativeLegSession(this, key, legA.port, legB.port, a, b);
  }

  async bind(port: number): Promise<BoundPort> {
    const rc = this.addon.open(this.handle, port, this.host);
    if (rc < 0) {
      const code = ERRNO_NAMES.get(-rc) ?? `errno ${-rc}`;
      throw Object.assign(new Error(`bind ${code} ${this.host}:${port}`), { code });
    }
    return {
      port,
      start: (key, a, b) => new NativeSession(this, key, port, a, b),
      release: () => this.addon.close(this.handle, port),
    };
  }

  private readonly numbers = new Float64Array(10);

  /** A port's counters as stats() gives them, read without building objects in C. */
  counters(port: number): NativeStats | null {
    if (this.closed) return null;
    const n = this.numbers;
    const text = this.addon.counters(this.handle, port, n);
    if (text === null) return null;
    const space = text.indexOf(' ');
    const party = (i: 0 | 1, address: string): NativeParty => ({ packets: n[4 * i]!, bytes: n[4 * i + 1]!, latched: n[4 * i + 2] === 1, address, port: n[4 * i + 3]! });
    return { parties: [party(0, text.slice(0, space)), party(1, text.slice(space + 1))], strangers: n[8]!, sendErrors: n[9]! };
  }

  private readonly threadNumbers: Float64Array;

  /** What each worker thread did so far (read in C without any session's lock); empty once closed. */
  threads(): RelayThreadCounters[] {
    if (this.closed) return [];
    const n = this.threadNumbers;
    const count = this.addon.threadCounters(this.handle, n);
    return Array.from({ length: count }, (_, i) => {
      const at = 8 * i;
      return { wakeups: n[at]!, received: n[at + 1]!, receivedBytes: n[at + 2]!, sent: n[at + 3]!, fullReads: n[at + 4]!, ports: n[at + 5]!, cpuSeconds: n[at + 6]!, noSession: n[at + 7]! };
    });
  }

  seen(e: Endpoint): Endpoint {
    return { address: asSeenBy(e.address, this.dualStack), port: e.port };
  }

  get isClosed(): boolean {
    return this.closed;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.addon.destroy(this.handle);
  }
}

const NO_PARTY: NativeParty = { packets: 0, bytes: 0, latched: false, address: '', port: 0 };
/** A port the engine has no slot for (never opened), or an engine already closed. */
const NO_STATS: NativeStats = { parties: [NO_PARTY, NO_PARTY], strangers: 0, sendErrors: 0 };

function partyStats(spec: PartySpec, role: PartyStats['role'], relayPort: number, p: NativeParty): PartyStats {
  return { name: spec.name, role, relayPort, media: { address: p.address, port: p.port }, latched: p.latched, packets: p.packets, bytes: p.bytes };
}

/** A session of the native engine on one shared port: the counters and addresses live in C, read on demand. */
class NativeSession implements RelaySession {
  readonly ports: readonly number[];
  private readonly startedAt = Date.now();
  private readonly expected_: [Endpoint, Endpoint];
  /** The counters at close, kept because the port's slot in C is reused by the next session. */
  private final: SessionStats | null = null;

  constructor(private readonly engine: NativeEngine, readonly key: SessionKey, readonly port: number, private readonly a: PartySpec, private readonly b: PartySpec) {
    this.ports = [port];
    this.expected_ = [engine.seen(a.address), engine.seen(b.address)];
    engine.addon.setParty(engine.handle, port, 0, this.expected_[0].address, this.expected_[0].port);
    engine.addon.setParty(engine.handle, port, 1, this.expected_[1].address, this.expected_[1].port);
  }

  get ended(): boolean {
    return this.final !== null;
  }

  setExpected(which: 'a' | 'b', e: Endpoint): void {
    if (this.final !== null) return;
    const i = which === 'a' ? 0 : 1;
    const next = this.engine.seen(e);
    if (this.expected_[i].address === next.address && this.expected_[i].port === next.port) return;
    this.expected_[i] = next;
    this.engine.addon.setParty(this.engine.handle, this.port, i, next.address, next.port);
  }

  expected(which: 'a' | 'b'): Endpoint {
    return this.expected_[which === 'a' ? 0 : 1];
  }

  /** A shared port tells its parties apart by their expected IPs: no other address is accepted. */
  setSignal(): void {}

  legCounters(which: 'a' | 'b'): { packets: number; strangers: number } {
    const s = this.stats();
    return { packets: s.parties[which === 'a' ? 0 : 1].packets, strangers: s.strangers };
  }

  /** A shared port's party re-latches through setExpected. */
  unlatch(): void {}

  relayedCount(): number {
    if (this.final !== null) return this.final.parties[0]!.packets + this.final.parties[1]!.packets;
    return this.engine.addon.relayed(this.engine.handle, this.port);
  }

  stats(): SessionStats {
    if (this.final !== null) return this.final;
    const s = this.engine.counters(this.port) ?? NO_STATS;
    return {
      port: this.port,
      durationMs: Date.now() - this.startedAt,
      parties: [partyStats(this.a, 'caller', this.port, s.parties[0]), partyStats(this.b, 'callee', this.port, s.parties[1])],
      strangers: s.strangers,
      sendErrors: s.sendErrors,
    };
  }

  close(): void {
    if (this.final !== null) return;
    this.final = this.stats();
    if (!this.engine.isClosed) this.engine.addon.close(this.engine.handle, this.port);
  }
}

/**
 * A session of the native engine with one port per party (rules: RelaySession; in C:
 * drain_leg). Each leg's party is party 0 of its own port's slot.
 */
class NativeLegSession implements RelaySession {
  readonly ports: readonly [number, number];
  private readonly startedAt = Date.now();
  private readonly expected_: [Endpoint, Endpoint];
  private final: SessionStats | null = null;

  constructor(private readonly engine: NativeEngine, readonly key: SessionKey, portA: number, portB: number, private readonly a: PartySpec, private readonly b: PartySpec) {
    this.ports = [portA, portB];
    this.expected_ = [engine.seen(a.address), engine.seen(b.address)];
    engine.addon.setParty(engine.handle, portA, 0, this.expected_[0].address, this.expected_[0].port);
    engine.addon.setParty(engine.handle, portB, 0, this.expected_[1].address, this.expected_[1].port);
  }

  get port(): number {
    return this.ports[0];
  }

  get ended(): boolean {
    return this.final !== null;
  }

  private live(): boolean {
    return this.final === null && !this.engine.isClosed;
  }

  setExpected(which: 'a' | 'b', e: Endpoint): void {
    if (!this.live()) return;
    const i = which === 'a' ? 0 : 1;
    const next = this.engine.seen(e);
    if (this.expected_[i].address === next.address && this.expected_[i].port === next.port) return;
    this.expected_[i] = next;
    this.engine.addon.setParty(this.engine.handle, this.ports[i], 0, next.address, next.port);
  }

  expected(which: 'a' | 'b'): Endpoint {
    return this.expected_[which === 'a' ? 0 : 1];
  }

  setSignal(which: 'a' | 'b', address: string): void {
    if (this.live()) this.engine.addon.setSignal(this.engine.handle, this.ports[which === 'a' ? 0 : 1], address === '' ? '' : this.engine.seen({ address, port: 0 }).address);
  }

  legCounters(which: 'a' | 'b'): { packets: number; strangers: number } {
    if (!this.live()) return { packets: 0, strangers: 0 };
    const port = this.ports[which === 'a' ? 0 : 1];
    return { packets: this.engine.addon.relayed(this.engine.handle, port), strangers: this.engine.addon.strangers(this.engine.handle, port) };
  }

  unlatch(which: 'a' | 'b'): void {
    if (this.live()) this.engine.addon.unlatch(this.engine.handle, this.ports[which === 'a' ? 0 : 1]);
  }

  relayedCount(): number {
    if (this.final !== null) return this.final.parties[0].packets + this.final.parties[1].packets;
    return this.engine.addon.relayed(this.engine.handle, this.ports[0]) + this.engine.addon.relayed(this.engine.handle, this.ports[1]);
  }

  stats(): SessionStats {
    if (this.final !== null) return this.final;
    const sa = this.engine.counters(this.ports[0]) ?? NO_STATS;
    const sb = this.engine.counters(this.ports[1]) ?? NO_STATS;
    return {
      port: this.ports[0],
      durationMs: Date.now() - this.startedAt,
      parties: [partyStats(this.a, 'caller', this.ports[0], sa.parties[0]), partyStats(this.b, 'callee', this.ports[1], sb.parties[0])],
      strangers: sa.strangers + sb.strangers,
      sendErrors: sa.sendErrors + sb.sendErrors,
    };
  }

  close(): void {
    if (this.final !== null) return;
    this.final = this.stats();
    if (this.engine.isClosed) return;
    this.engine.addon.close(this.engine.handle, this.ports[0]);
    this.engine.addon.close(this.engine.handle, this.ports[1]);
  }
}
