/**
 * What media-relay asks of a relay, whichever it is: the embedded one (embedded-backend.ts) or a
 * remote one driven over a control protocol (rtpengine's NG: offer/answer/delete/query per call
 * and per leg tag). The module decides which descriptions go through the relay and which party
 * wrote each; the backend owns ports, sessions and counters.
 */
import type { MediaAttribute, MediaOffer, MediaStream, RelayedAddress } from '../../core/module.ts';
import type { NgLegFlags } from './bridge.ts';
import type { SessionCounters, SessionEndReason, SessionKey, SessionStats } from './session.ts';

/** The party that wrote a description: the caller (the call's first request) or the callee. */
export type CallSide = 'caller' | 'callee';

/** The call a description belongs to, as the module first saw it. */
export interface RelayCall {
  readonly callId: string;
  /** The parties' users, for counters and logs. */
  readonly caller: string;
  readonly callee: string;
}

/** One party's media, for the relay to take over. */
export interface PartyMedia {
  readonly call: RelayCall;
  readonly side: CallSide;
  /** The party's own tag where the dialect has one (SIP: its From or To tag; NG's from-tag / to-tag). */
  readonly tag: string | undefined;
  /**
   * The streams to relay, as the party described them: enabled, RTP or UDP, at IP literals. A
   * stream with RTCP (a port of its own or multiplexed) gets an RTP/RTCP pair; one without
   * (the plain protocol's) one port.
   */
  readonly streams: readonly MediaStream[];
  /**
   * The whole description, read only, for a backend that works on whole descriptions: an NG
   * client renders it as SDP (streams with their formats and attribute lines), sends it as
   * offer or answer under the call's Call-ID and the side's tag, and reads the relay's
   * addresses back per stream from the SDP it gets.
   */
  readonly description: MediaOffer;
  /** The IP the party's signaling came from: strict latching accepts it besides its SDP IP. */
  readonly signal?: string;
  /**
   * The signaling IP of the party that reads this description (where a request goes, where a
   * reply returns): the relay's address is given in its family until its own description says
   * which family it uses for media.
   */
  readonly readerSignal?: string;
  /**
   * Whether the description offers or answers, as its message says (a request offers, a reply
   * or an ACK answers); a backend that speaks offer/answer (NG) corrects it where the message
   * cannot tell (a 200 that offers after an INVITE without SDP).
   */
  readonly role?: 'offer' | 'answer';
  /**
   * This call's latching rule instead of the backend's (a relay node told so per call, NG
   * `strict-source`): true, a leg latches only to its SDP or signaling IP. Read when a stream's
   * legs open.
   */
  readonly strictSource?: boolean;
  /** For a new call: the relay or set the route asked for (a backend with one relay ignores it). */
  readonly choice?: RelayChoice;
  /**
   * The NG flags for the reader of this description (the route's, or the bridge's): given, the
   * relay is sent the whole description, ICE included, with these flags over its own, and the
   * reader gets the relay's description of each stream it took (`RelayedStreams.description`).
   * Only a backend that `convertsMedia` is given them.
   */
  readonly ng?: NgLegFlags;
}

/** What a route asks of a backend with several relays for a new call. */
export interface RelayChoice {
  /** This relay, by name (MediaProxy's media_relay_avp). */
  readonly relay?: string;
  /** A relay of this set, by weight. */
  readonly set?: string;
}

/** A stream as the relay described it to the reader: its profile, formats and attribute lines. */
export interface RelayStreamDescription {
  readonly proto: string;
  readonly formats: readonly string[];
  readonly attributes: readonly MediaAttribute[];
}

/**
 * The relay's own description for the reader, when it converts the media (NG flags): it stands
 * for the party's in each relayed stream (profile, formats, attribute lines: ICE, DTLS
 * fingerprint and setup, rtcp-mux, crypto) and in the session's attribute lines.
 */
export interface RelayDescription {
  readonly sessionAttributes: readonly MediaAttribute[];
  readonly streams: ReadonlyMap<number, RelayStreamDescription>;
}

/**
 * Where each relayed stream now is, by stream index; a stream not in it was left alone. With
 * NG flags, also the relay's description of them.
 */
export type RelayedStreams = ReadonlyMap<number, RelayedAddress> & { readonly description?: RelayDescription };

/** The counters of a call's sessions, stream order, RTP before RTCP. */
export interface CallMediaStats {
  readonly sessions: readonly SessionCounters[];
}

export interface RelayTotals {
  sessionsStarted: number;
  sessionsEnded: number;
  packetsRelayed: number;
  bytesRelayed: number;
  strangersDropped: number;
  noPortFailures: number;
}

/** A session the relay ended, for whatever reason (an idle one on its own). */
export interface SessionEnd {
  readonly key: SessionKey;
  readonly reason: SessionEndReason;
  readonly stats: SessionStats;
}

export interface RelayBackend {
  readonly kind: string;
  /**
   * Whether it takes NG flags per leg and may convert the media between them (an NG relay such
   * as rtpengine: DTLS-SRTP with ICE to RTP). The embedded relay forwards datagrams as they are.
   */
  readonly convertsMedia: boolean;
  /**
   * Takes over a party's streams: the call's sessions are opened for streams it has not seen
   * (both parties share them), and told where this party sends from. A stream missing from the
   * result got no ports; the backend logs why.
   */
  relay(media: PartyMedia): Promise<RelayedStreams>;
  /**
   * Ends a call's media now and returns the counters of the sessions this ended; null when it
   * had none. Synchronous, because route scripts read the counters at once: a remote relay sends
   * its delete and returns the counters it last learnt, its final ones coming through onEnded.
   */
  end(callId: string, reason: SessionEndReason): CallMediaStats | null;
  /** The live counters of a call's sessions; null when the relay has none for it. */
  stats(callId: string): Promise<CallMediaStats | null>;
  totals(): Promise<RelayTotals>;
  onEnded(listener: (e: SessionEnd) => void): void;
  /** How long a session may carry nothing before it is ended. */
  setIdleTimeout(ms: number): void;
  /**
   * Remote relays: told the calls of a relay that was lost (down for good), which the backend
   * has forgotten; their media is gone and the module ends them.
   */
  onCallsLost?(listener: (e: { readonly relay: string; readonly callIds: readonly string[] }) => void): void;
  close(): void;
}
