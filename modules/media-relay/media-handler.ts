import { isIP } from 'node:net';
import { flowOf, LogThrottle, MediaRefused, type Logger, type MediaEvent, type MediaOffer, type MediaStream, type OpenMap, type RelayedStream, type Reply, type Request } from '../../core/module.ts';
import type { CallSide, RelayBackend, RelayCall, RelayChoice, RelayDescription } from './backend.ts';
import { decideLegs, type BridgeKind, type CallLegFlags, type LegAsk } from './bridge.ts';
import type { MediaHints } from './module-apis.ts';
import type { PortBudget } from './port-budget.ts';

/** A call whose media the relay follows, as its first relayed description showed it. */
export interface FollowedCall extends RelayCall {
  /** The caller's From tag: an in-dialog request carrying another one comes from the callee. */
  readonly callerTag: string | undefined;
  /** The IP the call's first request came from: its relay ports count against this source's budget. */
  readonly source: string;
  /** The bridge or NG flags the route asked for the call. */
  readonly ask?: LegAsk;
  /** The NG flags of each leg, decided at the call's first relayed description; null: none (undefined: not yet). */
  legs?: (CallLegFlags & { readonly kind: BridgeKind | null }) | null;
}

/** The limits a description is held to (reloadable options of the module). */
export interface MediaLimits {
  /** Streams (m= lines) one description may have. */
  readonly maxStreamsPerCall: number;
}

/** What routes asked of the relay, by message. */
export interface MediaAsks {
  /** Call requests whose route engaged the relay: it follows their whole call. */
  readonly engaged: WeakSet<Request>;
  /** Messages whose route asked for their media alone to go through the relay (useMediaProxy). */
  readonly usedRequests: WeakSet<Request>;
  readonly usedReplies: WeakSet<Reply>;
  /** The relay or set a route named for its call (remote relays). */
  readonly choices: WeakMap<Request, RelayChoice>;
  /** The bridge or NG flags a route asked for its call. */
  readonly legs: WeakMap<Request, LegAsk>;
}

export interface MediaHandlerOptions {
  readonly backend: RelayBackend;
  readonly asks: MediaAsks;
  /** The calls the relay follows, by Call-ID; the module forgets a call when its dialog ends. */
  readonly calls: OpenMap<FollowedCall>;
  readonly hints: MediaHints | undefined;
  readonly limits: () => MediaLimits;
  /** The ports each signaling source holds. */
  readonly budget: PortBudget;
  readonly log: Logger;
}

/** Transports the relay forwards: RTP in any profile, or bare UDP (the plain protocol's). */
const RELAYED_PROTO = /(^|\/)(RTP|UDP)(\/|$)/i;

/** Relay ports a stream takes: SIP a pair per party, the plain protocol one port (two with RTCP). */
function portsOf(s: MediaStream, shared: boolean): number {
  if (!shared) return 4;
  return s.rtcp === null && !s.rtcpMux ? 1 : 2;
}

/**
 * The media hook of both dialects: a description of a followed call, or one a route asked for,
 * has its streams taken over by the relay and rewritten to point at it. A request comes from
 * the caller unless it carries another From tag than the call's first request; a reply comes
 * from the party the request went to. A request whose streams the relay cannot all take is
 * refused, never passed with its media unrelayed: 488 with more streams than maxStreamsPerCall,
 * 503 when its source holds its port budget or no port is free (the plain protocol's wording:
 * 'no media port'); a reply is passed as it was and the refusal logged (a SIP reply cannot be
 * refused). Descriptions nobody asked for return at once, without a promise.
 */
export function createMediaHandler(o: MediaHandlerOptions): (e: MediaEvent) => void | Promise<void> {
  const hostWarnings = new LogThrottle(1000);
  const refusalWarnings = new LogThrottle(1000);

  /** The refusal to throw, logged (at most once a second, with how many were not). */
  const refusal = (call: FollowedCall, status: number, sipReason: string, plain: boolean, fields: Record<string, unknown>): MediaRefused => {
    const unlogged = refusalWarnings.pass();
    if (unlogged !== null) o.log.warn({ callId: call.callId, source: call.source, status, reason: sipReason, ...fields, alsoSinceLastWarning: unlogged }, 'media not relayed: the description is refused');
    return new MediaRefused(status, plain ? 'no media port' : sipReason);
  };

  // Names in c= are not resolved: a name in SDP from an untrusted party would make the proxy query any DNS server it picks.
  const relayable = (s: MediaStream, callId: string): boolean => {
    if (s.disabled || s.rtp === null || !RELAYED_PROTO.test(s.proto)) return false;
    const host = isIP(s.rtp.address) === 0 ? s.rtp.address : s.rtcp !== null && isIP(s.rtcp.address) === 0 ? s.rtcp.address : null;
    if (host === null) return true;
    const unlogged = hostWarnings.pass();
    if (unlogged !== null) o.log.warn({ callId, stream: s.index, host, alsoSinceLastWarning: unlogged }, 'stream not relayed: its address is not an IP literal');
    return false;
  };

  const relayParty = async (e: MediaEvent, call: FollowedCall): Promise<void> => {
    const offer = e.offer();
    const plain = offer.relayRequired;
    const limits = o.limits();
    if (offer.streams.length > limits.maxStreamsPerCall) {
      throw refusal(call, 488, 'Too Many Media Streams', plain, { streams: offer.streams.length, maxStreamsPerCall: limits.maxStreamsPerCall });
    }
    const streams = offer.streams.filter((s) => relayable(s, call.callId));
    if (streams.length === 0) return;
    const requestFromCaller = call.callerTag === undefined || e.request.from.tag === call.callerTag;
    const side: CallSide = (e.reply === null) === requestFromCaller ? 'caller' : 'callee';
    if (call.legs === undefined) {
      // How the description reaches its reader: where the request's branch goes, or back to the caller.
      const readerTransport = e.reply === null ? e.txn?.targetTransport : flowOf(e.request).transport;
      call.legs = decideLegs(call.ask, streams, side, readerTransport);
      if (call.legs !== null && !o.backend.convertsMedia) {
        // `auto` found a WebRTC client and a plain RTP party: only an NG relay (rtpengine) converts between them.
        call.legs = null;
        if (e.reply === null || plain) throw refusal(call, 488, 'Media Bridge Unavailable', plain, { bridge: 'needs a remote NG relay (mediaRelay({ relays }))' });
        o.log.warn({ callId: call.callId }, 'a WebRTC client and a plain RTP party with the embedded relay, which cannot bridge them: the reply passes relayed as it is');
      } else if (call.legs !== null) {
        o.log.debug({ callId: call.callId, bridge: call.legs.kind, toCallee: call.legs.toCallee, toCaller: call.legs.toCaller }, 'media relay: NG flags per leg');
      }
    }
    const costs = new Map(streams.map((s) => [s.index, portsOf(s, offer.sharedRelayPort)]));
    if (!o.budget.charge(call.callId, call.source, costs)) {
      throw refusal(call, 503, 'Media Ports Exhausted For This Source', plain, { heldBySource: o.budget.heldBy(call.source) });
    }
    const tag = e.reply === null ? e.request.from.tag : e.reply.to.tag;
    // A request is read where its branch goes; a reply by whoever sent the request.
    const signal = (e.reply ?? e.request).source.address;
    const readerSignal = e.reply === null ? e.txn?.target.address : e.request.source.address;
    // A request offers (an ACK answers a 200's late offer); a reply answers.
    const role = e.reply === null && e.request.method !== 'ACK' ? 'offer' : 'answer';
    const choice = o.asks.choices.get(e.request);
    const ng = call.legs == null ? undefined : side === 'caller' ? call.legs.toCallee : call.legs.toCaller;
    const relayed = await o.backend.relay({
      call, side, tag, streams, description: offer, signal, role,
      ...(readerSignal !== undefined ? { readerSignal } : {}), ...(choice === undefined ? {} : { choice }), ...(ng === undefined ? {} : { ng }),
    });
    const missing = streams.filter((s) => !relayed.has(s.index));
    for (const s of missing) o.budget.refund(call.callId, s.index);
    if (missing.length > 0) {
      const reason = o.backend.kind === 'embedded' ? 'No Media Port' : 'Media Relay Unavailable';
      if (e.reply === null || plain) throw refusal(call, 503, reason, plain, { streams: missing.map((s) => s.index) });
      const unlogged = refusalWarnings.pass();
      if (unlogged !== null) o.log.warn({ callId: call.callId, status: e.reply.status, reason, streams: missing.map((s) => s.index), alsoSinceLastWarning: unlogged }, 'media of a reply not relayed: it passes as it was');
    }
    const done: RelayedStream[] = [];
    for (const stream of streams) {
      const to = relayed.get(stream.index);
      if (to === undefined) continue;
      offer.relay(stream.index, to);
      done.push({ stream, to });
    }
    if (done.length === 0) return;
    // The relay's description stands for the party's (its ICE, DTLS, profile): no hints over it.
    if (relayed.description !== undefined) describeAsRelay(offer, done, relayed.description);
    else o.hints?.apply(offer, done, call.callId, side === 'caller' ? 'callee' : 'caller');
  };

  return (e) => {
    const { request, reply } = e;
    const { engaged, usedRequests, usedReplies } = o.asks;
    let call = o.calls.get(request.callId);
    const asked = engaged.has(request) || usedRequests.has(request) || (reply !== null && usedReplies.has(reply));
    // A followed call's replies, and its requests inside the dialog (re-INVITE, UPDATE, the ACK of a late offer).
    const following = call !== undefined && (reply !== null || request.inDialog);
    if (!asked && !following) return;
    if (call === undefined) {
      const ask = o.asks.legs.get(request);
      call = { callId: request.callId, caller: request.from.user, callee: request.to.user, callerTag: request.from.tag, source: request.source.address, ...(ask === undefined ? {} : { ask }) };
      o.calls.set(call.callId, call);
    }
    return relayParty(e, call);
  };
}

/**
 * Writes the relay's description of each relayed stream in place of the party's: the m= line's
 * profile and formats and the stream's attribute lines (its ICE, DTLS fingerprint and setup,
 * rtcp-mux, crypto, codecs), and the session's attribute lines. Addresses and ports are the
 * relay's already (MediaOffer.relay).
 */
function describeAsRelay(offer: MediaOffer, done: readonly RelayedStream[], description: RelayDescription): void {
  let any = false;
  for (const { stream } of done) {
    const d = description.streams.get(stream.index);
    if (d === undefined) continue;
    any = true;
    offer.setTransport(stream.index, d.proto, d.formats);
    offer.removeAttributes(stream.index, () => true);
    offer.insertAttributes(stream.index, 0, d.attributes);
  }
  if (!any) return;
  offer.removeAttributes('session', () => true);
  offer.insertAttributes('session', 0, description.sessionAttributes);
}
