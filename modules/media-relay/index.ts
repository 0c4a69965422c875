import { z } from 'zod';
import { defineModule, fn, optional, required } from '../../core/kernel/define-module.ts';
import type { Reply, Request } from '../../core/model/message.ts';
import { defaultAdvertise } from '../../core/dialects/sip/local-node.ts';
import { OpenMap } from '../../core/lib/open-map.ts';
import { isSdp, otherSide, requestSide, rewriteSdp, type SdpHints, type Side, type SipMediaCall } from './sip-media.ts';
import type { IceHintsApi } from '../ice-hints/index.ts';
import type { DialogApi } from '../dialog/index.ts';
import { answerPlainCall } from './plain-media.ts';
import { MediaRelay } from './relay/media-relay.ts';
import { parsePortRange } from './relay/port-pool.ts';
import type { SessionStats } from './relay/engine.ts';
import { createMediaEngine } from './relay/select-engine.ts';

const ignore = (): void => undefined;

export type { SessionStats };

export type EndMediaResult =
  | { readonly ok: true; readonly stats: SessionStats }
  | { readonly ok: false; readonly reason: 'no-session' };

export interface MediaRelayApi {
  readonly relay: MediaRelay;
}

const schema = z.object({
  /** Media ports, `min-max`. Ports another program holds are skipped. */
  ports: z.string().refine((s) => parsePortRange(s) !== null, { message: 'expected a port range like "5000-5999" (1-65535, min <= max)' }).default('5000-5999'),
  /** Address media sockets bind to: `::` is dual-stack; an IPv4 literal makes IPv4-only sockets. */
  host: z.string().min(1).default('::'),
  /**
   * What forwards the datagrams: `native` (worker threads in C, recvmmsg/sendmmsg; built at
   * install), `js` (dgram on the event loop), or `auto`: native when built, else js.
   */
  engine: z.enum(['auto', 'native', 'js']).default('auto'),
  /** Native engine threads, each forwarding its share of the sessions; `auto`: one per core. */
  workers: z.union([z.number().int().min(1).max(64), z.literal('auto')]).default('auto'),
  /** A session with no datagram in either direction for this long is ended and its port freed. */
  idleTimeoutSec: z.number().positive().default(60),
  /** SIP: the address written into rewritten SDP (behind 1:1 NAT: the public one). Default: `host`, or the first non-loopback IPv4 when `host` is a wildcard. */
  advertise: z.string().min(1).optional(),
});

interface RelayState {
  readonly relay: MediaRelay;
  /** Call requests whose route engaged the relay; their answer opens the session (plain) or their SDP is rewritten (SIP). */
  readonly engaged: WeakSet<Request>;
  /** Messages a route asked to rewrite once, without following the call (useMediaProxy). */
  readonly usedRequests: WeakSet<Request>;
  readonly usedReplies: WeakSet<Reply>;
  /** SIP calls the relay follows, by Call-ID. */
  readonly sipCalls: OpenMap<SipMediaCall>;
}

export const mediaRelay = defineModule({
  name: 'media-relay',
  description: 'Embedded UDP media relay: one port per call, symmetric latching, idle timeout, per-session counters',
  schema,
  reloadable: ['idleTimeoutSec'],
  dependsOn: { dialog: required<DialogApi>('dialog'), iceHints: optional<IceHintsApi>('ice-hints') },

  setup: ({ config, core, log, deps }): RelayState => {
    const c = config();
    const engine = createMediaEngine({ engine: c.engine, workers: c.workers, host: c.host }, log);
    log.info({ engine: engine.kind, workers: engine.workers, ports: c.ports }, 'media relay ready');
    const relay = new MediaRelay({ range: parsePortRange(c.ports)!, idleTimeoutMs: c.idleTimeoutSec * 1000 }, engine, log);
    const engaged = new WeakSet<Request>();
    const usedRequests = new WeakSet<Request>();
    const usedReplies = new WeakSet<Reply>();
    const sipCalls = new OpenMap<SipMediaCall>();
    const dialogs = deps.dialog;
    const ice = deps.iceHints;
    const hintsFor = (callId: string, side: Side): SdpHints | undefined =>
      ice === undefined ? undefined : (sdp, streams) => { ice.apply(sdp, streams, advertise, callId, side === 'a' ? 'callee' : 'caller'); };
    const advertise = c.advertise ?? defaultAdvertise(c.host);
    const sipCall = (req: Request): SipMediaCall => {
      let call = sipCalls.get(req.callId);
      if (call === undefined) {
        call = { callId: req.callId, callerTag: req.from.tag, streams: new Map() };
        sipCalls.set(req.callId, call);
      }
      return call;
    };

    core.hooks.onAnswer((e) => {
      if (e.request.dialect !== 'plain' || !(engaged.has(e.request) || usedRequests.has(e.request))) return 'pass';
      return answerPlainCall(e, relay, core);
    });
    // SIP: the offer and answer of an engaged call go through the relay, whichever message carries them.
    // A message without SDP returns at once, without a promise: only an offer or answer waits for ports.
    core.hooks.onRequestForward((e) => {
      if (e.sip === undefined) return;
      const following = engaged.has(e.request) || (e.request.inDialog && sipCalls.has(e.request.callId));
      if (!following && !usedRequests.has(e.request)) return;
      const call = sipCall(e.request);
      if (!isSdp(e.sip)) return;
      const side = requestSide(e.request, call);
      return rewriteSdp(e.sip, side, call, relay, advertise, log, hintsFor(call.callId, side)).then(ignore);
    });
    core.hooks.onReplyForward((e) => {
      if (e.sip === undefined) return;
      const call = sipCalls.get(e.request.callId);
      if (call === undefined && !usedReplies.has(e.reply)) return;
      const c2 = call ?? sipCall(e.request);
      if (!isSdp(e.sip)) return;
      const side = otherSide(requestSide(e.request, c2));
      return rewriteSdp(e.sip, side, c2, relay, advertise, log, hintsFor(c2.callId, side)).then(ignore);
    });
    // Engaged once, the relay follows the call: a failed or ended dialog ends its media.
    dialogs.onEnded(({ dialog, reason }) => {
      relay.endAll(dialog.callId, reason === 'bye' ? 'bye' : 'dialog');
      sipCalls.delete(dialog.callId);
    });
    relay.onEnd((session, reason) => {
      // A plain call has one session, keyed by its call: idle media ends the call. A SIP stream
      // session (`<call>#<stream>`) going quiet is not the end of its dialog (hold, one-way video).
      if (reason === 'idle' && !session.key.includes('#')) dialogs.terminate(session.key, 'timeout');
    });
    return { relay, engaged, usedRequests, usedReplies, sipCalls };
  },

  onConfigChange: ({ state, config }) => {
    state.relay.setIdleTimeout(config().idleTimeoutSec * 1000);
  },

  functions: ({ state }) => ({
    /** Relays the media of this call for its whole life: opened on answer, ended with the dialog. */
    engageMediaProxy: fn(['request'], (mc): { readonly ok: true } => {
      state.engaged.add(mc.msg);
      return { ok: true };
    }),
    /**
     * Rewrites just this message's media through the relay, without following the call:
     * in a request route the request's SDP (plain: the call's MEDIA_PORT), in a reply route the reply's.
     */
    useMediaProxy: fn(['request', 'reply'], (mc): { readonly ok: true } => {
      if (mc.kind === 'reply' && mc.reply !== null) state.usedReplies.add(mc.reply);
      else state.usedRequests.add(mc.msg);
      return { ok: true };
    }),
    /** Ends the call's media now and returns the counters of its (first) session. */
    endMediaSession: fn(['request', 'reply', 'failure'], (mc): EndMediaResult => {
      const callId = mc.msg.callId;
      const stats = state.relay.end(callId, 'ended') ?? state.relay.end(`${callId}#0`, 'ended');
      state.relay.endAll(callId, 'ended');
      state.sipCalls.delete(callId);
      return stats === null ? { ok: false, reason: 'no-session' } : { ok: true, stats };
    }),
  }),

  api: ({ state }): MediaRelayApi => ({ relay: state.relay }),

  onClose: ({ state }) => state.relay.close(),
});
