import { isIP } from 'node:net';
import { LogThrottle, MediaRefused, type Logger, type MediaEvent, type MediaStream, type OpenMap, type RelayedStream, type Reply, type Request } from '../../core/module.ts';
import type { CallSide, RelayBackend, RelayCall, RelayChoice } from './backend.ts';
import type { MediaHints } from './module-apis.ts';

/** A call whose media the relay follows, as its first relayed description showed it. */
export interface FollowedCall extends RelayCall {
  /** The caller's From tag: an in-dialog request carrying another one comes from the callee. */
  readonly callerTag: string | undefined;
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
}

export interface MediaHandlerOptions {
  readonly backend: RelayBackend;
  readonly asks: MediaAsks;
  /** The calls the relay follows, by Call-ID; the module forgets a call when its dialog ends. */
  readonly calls: OpenMap<FollowedCall>;
  readonly hints: MediaHints | undefined;
  readonly log: Logger;
}

/** Transports the relay forwards: RTP in any profile, or bare UDP (the plain protocol's). */
const RELAYED_PROTO = /(^|\/)(RTP|UDP)(\/|$)/i;

/**
 * The media hook of both dialects: a description of a followed call, or one a route asked for,
 * has its streams taken over by the relay and rewritten to point at it. A request comes from
 * the caller unless it carries another From tag than the call's first request; a reply comes
 * from the party the request went to. A description the relay finds no port for passes as it
 * was, unless its wire can only name a relay (relayRequired): that one is refused with 503
 * 'no media port'. Descriptions nobody asked for return at once, without a promise.
 */
export function createMediaHandler(o: MediaHandlerOptions): (e: MediaEvent) => void | Promise<void> {
  const hostWarnings = new LogThrottle(1000);

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
    const streams = offer.streams.filter((s) => relayable(s, call.callId));
    if (streams.length === 0) return;
    const requestFromCaller = call.callerTag === undefined || e.request.from.tag === call.callerTag;
    const side: CallSide = (e.reply === null) === requestFromCaller ? 'caller' : 'callee';
    const tag = e.reply === null ? e.request.from.tag : e.reply.to.tag;
    // A request is read where its branch goes; a reply by whoever sent the request.
    const signal = (e.reply ?? e.request).source.address;
    const readerSignal = e.reply === null ? e.txn?.target.address : e.request.source.address;
    // A request offers (an ACK answers a 200's late offer); a reply answers.
    const role = e.reply === null && e.request.method !== 'ACK' ? 'offer' : 'answer';
    const choice = o.asks.choices.get(e.request);
    const relayed = await o.backend.relay({
      call, side, tag, streams, description: offer, signal, role,
      ...(readerSignal !== undefined ? { readerSignal } : {}), ...(choice === undefined ? {} : { choice }),
    });
    // SDP left as the party wrote it still describes a media path; the plain protocol's does not.
    if (relayed.size === 0 && offer.relayRequired) throw new MediaRefused(503, 'no media port');
    const done: RelayedStream[] = [];
    for (const stream of streams) {
      const to = relayed.get(stream.index);
      if (to === undefined) continue;
      offer.relay(stream.index, to);
      done.push({ stream, to });
    }
    if (done.length > 0) o.hints?.apply(offer, done, call.callId, side === 'caller' ? 'callee' : 'caller');
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
      call = { callId: request.callId, caller: request.from.user, callee: request.to.user, callerTag: request.from.tag };
      o.calls.set(call.callId, call);
    }
    return relayParty(e, call);
  };
}
