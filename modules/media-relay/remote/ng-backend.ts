/**
 * Remote relays over NG (switchyard relay nodes, rtpengine): each call is placed on one relay of
 * the set when its first description passes and stays there. A party's description is sent as
 * NG `offer` or `answer` under the call's Call-ID and the parties' tags; the relay's addresses
 * are read back from the SDP it returns and written into the description by the module. Every
 * command has a deadline with retransmissions (NgClient): a relay that does not answer costs a
 * new call at most `failoverTries` deadlines, after which the relay takes none of its streams (the module refuses the request),
 * and the relay takes no new call until a ping answers again.
 */
import { unmapIPv4, type Logger, type RelayedAddress } from '../../../core/module.ts';
import { familyOf, type AddressFamily } from '../embedded-backend.ts';
import type { NgLegFlags } from '../bridge.ts';
import type { NgSdpParams } from '../ng/messages.ts';
import type { CallMediaStats, CallSide, PartyMedia, RelayBackend, RelayedStreams, RelayTotals, SessionEnd } from '../backend.ts';
import type { NgClientResult, NgSdpResult } from '../ng/client.ts';
import type { SessionEndReason } from '../session.ts';
import type { RemoteCallStore } from './call-store.ts';
import { sessionCounters } from './ng-counters.ts';
import type { RelaySet, RemoteRelay } from './relay-set.ts';
import { readRelayDescription, readRelayed, renderSdp } from './sdp-text.ts';

interface RemoteCall {
  readonly callId: string;
  /** Null until a relay took the call. */
  relay: RemoteRelay | null;
  callerTag: string;
  calleeTag: string | undefined;
  /** The side whose offer the current exchange answers. */
  offerFrom: CallSide | null;
  /** The address family each party's own description last used, caller then callee. */
  readonly families: [AddressFamily | undefined, AddressFamily | undefined];
  /** Descriptions of one call are sent one after the other, in the order they passed. */
  queue: Promise<unknown>;
  ended: boolean;
}

export interface NgBackendOptions {
  readonly relays: RelaySet;
  /** Relays a new call's first description is tried on before the backend gives up on it. */
  readonly failoverTries: number;
  /** Failed pings (or timed-out commands) in a row after which a relay's calls are given up as lost. */
  readonly lostAfterFailures: number;
  /**
   * Asks the relay to latch each leg only to its SDP or signaling IP (NG `strict-source` with
   * `received-from`: the switchyard relay node started with --strict-source, rtpengine's own rule).
   */
  readonly strictSource?: boolean;
  /** Where the relay of each call is kept across restarts; none: in this process only. */
  readonly callStore?: RemoteCallStore | undefined;
  readonly log: Logger;
}

/**
 * The proxy's own flags with a leg's: `flags` and `replace` add up; ICE is the leg's mode when
 * it names one (else removed, as always), with its other items; the leg's address family wins
 * over the one the proxy chose; every other key the leg names is added.
 */
export function withLegFlags(own: Omit<NgSdpParams, 'fromTag'>, leg: NgLegFlags): Omit<NgSdpParams, 'fromTag'> {
  const mode = leg.ice ?? 'remove';
  const { addressFamily, ...rest } = own;
  const family = leg.addressFamily ?? addressFamily;
  return {
    ...rest,
    flags: [...new Set([...(own.flags ?? []), ...(leg.flags ?? [])])],
    replace: [...new Set([...(own.replace ?? []), ...(leg.replace ?? [])])],
    ice: leg.iceOptions === undefined || leg.iceOptions.length === 0 ? mode : [mode, ...leg.iceOptions],
    ...(family === undefined ? {} : { addressFamily: family }),
    ...(leg.transportProtocol === undefined ? {} : { transportProtocol: leg.transportProtocol }),
    ...(leg.dtls === undefined ? {} : { dtls: leg.dtls }),
    ...(leg.rtcpMux === undefined ? {} : { rtcpMux: leg.rtcpMux }),
    ...(leg.sdes === undefined ? {} : { sdes: leg.sdes }),
    ...(leg.direction === undefined ? {} : { direction: leg.direction }),
    ...(leg.mediaAddress === undefined ? {} : { mediaAddress: leg.mediaAddress }),
    ...(leg.label === undefined ? {} : { label: leg.label }),
    ...(leg.options === undefined ? {} : { options: leg.options }),
  };
}

export class NgBackend implements RelayBackend {
  readonly kind = 'ng';
  readonly convertsMedia = true;
  private readonly calls = new Map<string, RemoteCall>();
  private readonly listeners: ((e: SessionEnd) => void)[] = [];
  private readonly counts: RelayTotals = { sessionsStarted: 0, sessionsEnded: 0, packetsRelayed: 0, bytesRelayed: 0, strangersDropped: 0, noPortFailures: 0 };
  /** Calls placed per relay name since start. */
  readonly placed = new Map<string, number>();

  private readonly lostListeners: ((e: { readonly relay: string; readonly callIds: readonly string[] }) => void)[] = [];

  constructor(private readonly o: NgBackendOptions) {
    o.relays.onFailure((name, failures) => {
      if (failures !== o.lostAfterFailures) return;
      const callIds: string[] = [];
      for (const [id, call] of this.calls) {
        if (call.relay?.name !== name) continue;
        callIds.push(id);
        call.ended = true;
        call.relay = null;
        this.calls.delete(id);
        o.callStore?.remove(id);
      }
      if (callIds.length === 0) return;
      o.log.warn({ relay: name, calls: callIds.length, failures }, 'media relay lost: its calls are ended');
      for (const l of this.lostListeners) l({ relay: name, callIds });
    });
  }

  onCallsLost(listener: (e: { readonly relay: string; readonly callIds: readonly string[] }) => void): void {
    this.lostListeners.push(listener);
  }

  /** Each relay as operators see it: its health and the calls placed on it since start. */
  relayStates(): { readonly name: string; readonly set: string; readonly up: boolean; readonly rttMs: number | null; readonly placed: number }[] {
    return this.o.relays.relays.map((r) => {
      const h = this.o.relays.healthOf(r.name);
      return { name: r.name, set: r.set, up: h?.up ?? false, rttMs: h?.rttMs ?? null, placed: this.placed.get(r.name) ?? 0 };
    });
  }

  /** The relay a call is on, if any. */
  relayOf(callId: string): string | undefined {
    return this.calls.get(callId)?.relay?.name;
  }

  relay(media: PartyMedia): Promise<RelayedStreams> {
    let call = this.calls.get(media.call.callId);
    if (call === undefined) {
      call = { callId: media.call.callId, relay: null, callerTag: media.side === 'caller' ? media.tag ?? 'caller' : 'caller', calleeTag: undefined, offerFrom: null, families: [undefined, undefined], queue: Promise.resolve(), ended: false };
      this.calls.set(call.callId, call);
    }
    const held = call;
    const next = held.queue.then(() => this.send(held, media));
    held.queue = next.catch(() => undefined);
    return next;
  }

  private async send(call: RemoteCall, media: PartyMedia): Promise<RelayedStreams> {
    if (call.ended || media.streams.length === 0) return new Map();
    const tag = media.tag ?? media.side;
    if (media.side === 'callee') call.calleeTag ??= tag;
    const tagOf = (side: CallSide): string | undefined => (side === 'caller' ? call.callerTag : call.calleeTag);
    // An answer needs an offer from the other side; a description that cannot answer one offers.
    const answers = media.role === 'answer' && call.offerFrom !== null && call.offerFrom !== media.side;
    if (!answers) call.offerFrom = media.side;
    const sdp = renderSdp(media.description, new Set(media.streams.map((s) => s.index)), media.ng !== undefined);
    // Each party reads the relay in its own family: the family of its own description, else of
    // its signaling; the relay is asked for it where it differs from this description's.
    const side = media.side === 'caller' ? 0 : 1;
    const ownFamily = media.streams.map((s) => familyOf(s.rtp?.address)).find((f) => f !== undefined);
    if (ownFamily !== undefined) call.families[side] = ownFamily;
    const readerFamily = call.families[1 - side] ?? familyOf(media.readerSignal) ?? ownFamily;
    const signal = media.signal === undefined ? undefined : unmapIPv4(media.signal);
    const signalFamily = familyOf(signal);
    const own = {
      callId: call.callId, sdp, flags: this.o.strictSource === true ? ['trust-address', 'strict-source'] : ['trust-address'],
      replace: ['origin', 'session-connection'], ice: 'remove' as const,
      ...(signal !== undefined && signalFamily !== undefined ? { receivedFrom: { family: signalFamily === 'ipv4' ? 'IP4' as const : 'IP6' as const, address: signal } } : {}),
      ...(readerFamily !== undefined && readerFamily !== ownFamily ? { addressFamily: readerFamily === 'ipv4' ? 'IP4' as const : 'IP6' as const } : {}),
    };
    const common = media.ng === undefined ? own : withLegFlags(own, media.ng);
    const command = (relay: RemoteRelay): Promise<NgClientResult<NgSdpResult>> => {
      if (answers) return relay.client.answer({ ...common, fromTag: tagOf(call.offerFrom!)!, toTag: tag });
      const other = tagOf(media.side === 'caller' ? 'callee' : 'caller');
      return relay.client.offer({ ...common, fromTag: tag, ...(other === undefined ? {} : { toTag: other }) });
    };

    let result: NgClientResult<NgSdpResult> | null = null;
    if (call.relay !== null) {
      result = await command(call.relay);
      if (!result.ok) this.failed(call.relay, call.callId, result.error.kind, result.error.message);
    } else {
      const tried = new Set<string>();
      for (let attempt = 0; attempt < this.o.failoverTries; attempt++) {
        const relay = this.o.relays.pick(media.choice, tried);
        if (relay === null) break;
        tried.add(relay.name);
        result = await command(relay);
        if (result.ok) {
          call.relay = relay;
          this.placed.set(relay.name, (this.placed.get(relay.name) ?? 0) + 1);
          this.counts.sessionsStarted++;
          this.o.log.debug({ callId: call.callId, relay: relay.name }, 'call placed on media relay');
          break;
        }
        this.failed(relay, call.callId, result.error.kind, result.error.message);
      }
      if (call.relay === null) {
        this.counts.noPortFailures++;
        if (result === null) this.o.log.warn({ callId: call.callId, choice: media.choice }, 'no media relay available: media not relayed');
        if (!call.ended) this.calls.delete(call.callId);
        return new Map();
      }
    }
    if (call.ended) {
      // Ended while the command was out: the relay holds a call nobody will delete otherwise.
      this.deleteOn(call);
      return new Map();
    }
    if (result === null || !result.ok) return new Map();
    this.o.callStore?.save(call.callId, { relay: call.relay.name, callerTag: call.callerTag, calleeTag: call.calleeTag });
    const answered = result.value.sdp.toString('utf8');
    const relayed = readRelayed(answered, media.streams) as Map<number, RelayedAddress>;
    if (media.ng === undefined) return relayed;
    return Object.assign(relayed, { description: readRelayDescription(answered, media.streams) });
  }

  private failed(relay: RemoteRelay, callId: string, kind: string, message: string): void {
    if (kind === 'timeout') this.o.relays.markFailed(relay.name);
    this.o.log.warn({ relay: relay.name, callId, kind, error: message }, 'media relay command failed');
  }

  end(callId: string, reason: SessionEndReason): CallMediaStats | null {
    const call = this.calls.get(callId);
    if (call === undefined) {
      void this.endRestored(callId, reason);
      return null;
    }
    this.calls.delete(callId);
    this.o.callStore?.remove(callId);
    call.ended = true;
    // After what is queued, so the delete never overtakes the call's offer.
    void call.queue.then(() => {
      if (call.relay !== null) this.deleteOn(call, reason);
    });
    return null;
  }

  /** A call placed before this process started (a restart): its relay is in the call store. */
  private async endRestored(callId: string, reason: SessionEndReason): Promise<void> {
    const stored = await this.o.callStore?.take(callId);
    if (stored == null) return;
    const relay = this.o.relays.byName(stored.relay);
    if (relay === undefined) return;
    this.o.log.info({ callId, relay: relay.name }, 'ending a call placed before a restart');
    this.deleteOn({ callId, relay, callerTag: stored.callerTag, calleeTag: stored.calleeTag, offerFrom: null, families: [undefined, undefined], queue: Promise.resolve(), ended: true }, reason);
  }

  /** Sends the delete; its counters come to onEnded listeners. */
  private deleteOn(call: RemoteCall, reason: SessionEndReason = 'ended'): void {
    const relay = call.relay;
    if (relay === null) return;
    call.relay = null;
    void relay.client.delete({ callId: call.callId, fromTag: call.callerTag }).then((r) => {
      this.counts.sessionsEnded++;
      if (!r.ok) {
        this.failed(relay, call.callId, r.error.kind, r.error.message);
        return;
      }
      if (r.value.stats === undefined) return;
      for (const s of sessionCounters(call.callId, r.value.stats, { caller: call.callerTag, callee: call.calleeTag })) {
        this.counts.packetsRelayed += s.stats.parties[0]!.packets + s.stats.parties[1]!.packets;
        this.counts.bytesRelayed += s.stats.parties[0]!.bytes + s.stats.parties[1]!.bytes;
        for (const l of this.listeners) l({ key: s.key, reason, stats: s.stats });
      }
    });
  }

  async stats(callId: string): Promise<CallMediaStats | null> {
    const call = this.calls.get(callId);
    if (call?.relay == null) return null;
    const r = await call.relay.client.query({ callId, fromTag: call.callerTag });
    if (!r.ok) return null;
    const sessions = sessionCounters(callId, r.value, { caller: call.callerTag, callee: call.calleeTag });
    return sessions.length === 0 ? null : { sessions };
  }

  async totals(): Promise<RelayTotals> {
    return { ...this.counts };
  }

  onEnded(listener: (e: SessionEnd) => void): void {
    this.listeners.push(listener);
  }

  /** Remote relays time calls out by their own configuration. */
  setIdleTimeout(_ms: number): void {}

  /** Leaves the relays' calls alone: their media goes on while this proxy restarts. */
  close(): void {
    void this.o.relays.close();
    void this.o.callStore?.close();
  }
}
