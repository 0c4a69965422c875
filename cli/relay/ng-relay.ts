/**
 * The relay node's NG handler: rtpengine's commands over the media relay of this process.
 * `offer` and `answer` take over the streams of the SDP one leg sends and rewrite it to point
 * at the relay, in the family of that SDP; `delete` ends the call and returns its counters;
 * `query` gives per-leg packets and bytes; `list` and `statistics` are for operators. A call
 * whose RTP goes idle is ended as a whole, as rtpengine's timeout does.
 */
import type { Logger } from '../../core/lib/log.ts';
import { readSdpOffer } from '../../core/dialects/sip/media-offer.ts';
import type { CallMediaStats, CallSide, RelayBackend, RelayCall } from '../../modules/media-relay/backend.ts';
import type { NgDeleteReply, NgHandler, NgListReply, NgQueryReply, NgReply, NgSdpReply, NgStatisticsReply } from '../../modules/media-relay/ng/handler.ts';
import type { NgAnswerRequest, NgDeleteRequest, NgListRequest, NgOfferRequest, NgQueryRequest } from '../../modules/media-relay/ng/messages.ts';
import type { SessionEndReason } from '../../modules/media-relay/session.ts';
import type { AdvertiseTable } from './advertise.ts';
import { relayableStreams, removeIce, replaceOrigin, targetFamily } from './leg-sdp.ts';
import { nodeCallStats, type LegMedia, type NodeCall, type NodeLeg } from './node-stats.ts';

/** rtpengine's words for a call it does not know. */
const UNKNOWN_CALL = 'Unknown call-id';

export interface NgRelayCounters {
  offers: number;
  answers: number;
  deletes: number;
  /** Calls ended because their RTP went idle. */
  timedOut: number;
  /** Offers and answers refused (malformed SDP, a family the node does not serve, no port). */
  rejected: number;
  callsEnded: number;
}

export class NgRelay implements NgHandler {
  private readonly calls = new Map<string, NodeCall>();
  readonly counters: NgRelayCounters = { offers: 0, answers: 0, deletes: 0, timedOut: 0, rejected: 0, callsEnded: 0 };
  private readonly startedAt = Date.now();

  constructor(private readonly backend: RelayBackend, private readonly advertise: AdvertiseTable, private readonly log: Logger) {
    // RTCP may go quiet on its own (some phones send none); RTP that stops means the call is gone.
    backend.onEnded(({ key, reason }) => {
      if (reason !== 'idle' || key.component === 'rtcp' || !this.calls.has(key.callId)) return;
      this.counters.timedOut++;
      this.log.info({ callId: key.callId }, 'call timed out: no media');
      this.endCall(key.callId, 'idle');
    });
  }

  get callCount(): number {
    return this.calls.size;
  }

  async offer(request: NgOfferRequest): Promise<NgReply<NgSdpReply>> {
    this.counters.offers++;
    return this.relayLeg(request, request.fromTag);
  }

  async answer(request: NgAnswerRequest): Promise<NgReply<NgSdpReply>> {
    this.counters.answers++;
    if (!this.calls.has(request.callId)) {
      this.counters.rejected++;
      return { ok: false, reason: UNKNOWN_CALL };
    }
    return this.relayLeg(request, request.toTag);
  }

  /** The SDP `owner` (the offer's from-tag, the answer's to-tag) sent, taken over and rewritten. */
  private async relayLeg(request: NgOfferRequest | NgAnswerRequest, owner: string): Promise<NgReply<NgSdpReply>> {
    let offer;
    try {
      offer = readSdpOffer(request.sdp);
    } catch {
      this.counters.rejected++;
      return { ok: false, reason: 'Failed to parse SDP' };
    }
    const streams = relayableStreams(offer, request);
    const family = targetFamily(request, streams);
    const address = this.advertise.for(family);
    if (address === undefined) {
      this.counters.rejected++;
      return { ok: false, reason: `No ${family === 'IP4' ? 'IPv4' : 'IPv6'} address on this relay` };
    }
    const now = Date.now();
    let call = this.calls.get(request.callId);
    if (call === undefined) {
      call = { callId: request.callId, callerTag: owner, created: now, lastSignal: now, legs: new Map() };
      this.calls.set(call.callId, call);
    }
    call.lastSignal = now;
    const side: CallSide = owner === call.callerTag ? 'caller' : 'callee';
    const relayCall: RelayCall = { callId: call.callId, caller: call.callerTag, callee: side === 'callee' ? owner : '' };
    // received-from: where the party's signaling came from, which strict latching accepts too.
    const signal = request.receivedFrom?.address;
    // strict-source asks for strict latching on this call, whatever the node's default.
    const strict = request.flags.has('strict-source') ? { strictSource: true } : {};
    const relayed = await this.backend.relay({ call: relayCall, side, tag: owner, streams, description: offer, ...(signal === undefined ? {} : { signal }), ...strict });
    if (this.calls.get(request.callId) !== call) return { ok: false, reason: UNKNOWN_CALL }; // deleted meanwhile
    if (streams.length > 0 && relayed.size === 0) {
      this.counters.rejected++;
      if (call.legs.size === 0) this.endCall(call.callId, 'ended');
      return { ok: false, reason: 'Ran out of ports' };
    }
    const medias = new Map<number, LegMedia>();
    for (const s of streams) {
      const to = relayed.get(s.index);
      if (to === undefined) continue;
      const here = { ...to, address };
      offer.relay(s.index, here);
      medias.set(s.index, { kind: s.kind, proto: s.proto, sdpAddress: { address: s.rtp!.address, port: s.rtp!.port, rtcpPort: s.rtcp?.port ?? null }, relayed: here });
    }
    const leg: NodeLeg = { tag: owner, side, label: request.label, created: call.legs.get(owner)?.created ?? now, medias };
    call.legs.set(owner, leg);
    let warning: string | undefined;
    if (medias.size > 0) {
      const iceRemoved = removeIce(offer);
      if (iceRemoved > 0 && request.ice !== undefined && request.ice !== 'remove') warning = 'ICE is not supported by this relay: candidates removed';
      if (request.replace.has('origin')) replaceOrigin(offer, address);
    }
    if (medias.size < streams.length) warning = `${streams.length - medias.size} stream(s) not relayed: no port`;
    return warning === undefined ? { ok: true, sdp: offer.toBuffer() } : { ok: true, sdp: offer.toBuffer(), warning };
  }

  async delete(request: NgDeleteRequest): Promise<NgReply<NgDeleteReply>> {
    this.counters.deletes++;
    const call = this.calls.get(request.callId);
    if (call === undefined) {
      if (request.flags.has('fatal')) return { ok: false, reason: UNKNOWN_CALL };
      return { ok: true, warning: 'Call-ID not found or tags didn\'t match' };
    }
    const ended = this.endCall(request.callId, 'bye');
    if (request.flags.has('fast')) return { ok: true };
    return { ok: true, stats: nodeCallStats(call, ended?.sessions ?? []) };
  }

  async query(request: NgQueryRequest): Promise<NgReply<NgQueryReply>> {
    const call = this.calls.get(request.callId);
    if (call === undefined) return { ok: false, reason: UNKNOWN_CALL };
    const live = await this.backend.stats(request.callId);
    return { ok: true, stats: nodeCallStats(call, live?.sessions ?? []) };
  }

  async list(request: NgListRequest): Promise<NgReply<NgListReply>> {
    const out: string[] = [];
    for (const id of this.calls.keys()) {
      if (out.length >= request.limit) break;
      out.push(id);
    }
    return { ok: true, calls: out };
  }

  async statistics(): Promise<NgReply<NgStatisticsReply>> {
    const totals = await this.backend.totals();
    let livePackets = 0;
    let liveBytes = 0;
    for (const id of this.calls.keys()) {
      for (const s of (await this.backend.stats(id))?.sessions ?? []) {
        for (const p of s.stats.parties) {
          livePackets += p.packets;
          liveBytes += p.bytes;
        }
      }
    }
    const uptime = Math.floor((Date.now() - this.startedAt) / 1000);
    return {
      ok: true,
      statistics: {
        currentstatistics: { sessionsown: this.calls.size, sessionsforeign: 0, sessionstotal: this.calls.size, transcodedmedia: 0 },
        totalstatistics: {
          uptime,
          managedsessions: this.counters.callsEnded + this.calls.size,
          rejectedsessions: this.counters.rejected,
          timeoutsessions: this.counters.timedOut,
          regularterminatedsessions: this.counters.callsEnded - this.counters.timedOut,
          relayedpackets: totals.packetsRelayed + livePackets,
          relayedbytes: totals.bytesRelayed + liveBytes,
          relayedpacketerrors: 0,
          strangersdropped: totals.strangersDropped,
          noportfailures: totals.noPortFailures,
        },
      },
    };
  }

  private endCall(callId: string, reason: SessionEndReason): CallMediaStats | null {
    if (!this.calls.delete(callId)) return null;
    this.counters.callsEnded++;
    return this.backend.end(callId, reason);
  }

  /** Ends every call (shutdown). */
  close(): void {
    for (const id of [...this.calls.keys()]) this.endCall(id, 'shutdown');
  }
}
