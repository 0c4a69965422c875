/**
 * A party's media description, whatever the wire says it in: SDP in SIP, the implicit one
 * stream of the plain protocol (a party's media comes from its signaling address). Modules
 * read and change it here; each dialect parses it from and renders it back to its own wire.
 */

/** The session as a whole, or one stream by its index. */
export type MediaTarget = 'session' | number;

/** An attribute line (SDP `a=name` or `a=name:value`), kept opaque beyond its name. */
export interface MediaAttribute {
  readonly name: string;
  /** Everything after the first colon; null for a flag attribute (`a=rtcp-mux`). */
  readonly value: string | null;
}

/** The transport address a stream's component is sent to (and, for a symmetric party, from). */
export interface MediaAddress {
  /** An IP literal, or a host name exactly as written (never resolved by the proxy). */
  readonly address: string;
  readonly port: number;
}

export interface MediaStream {
  /** Position among the description's streams (the m= line index in SDP). */
  readonly index: number;
  /** `audio`, `video`, `application`, ... */
  readonly kind: string;
  /** `RTP/AVP`, `RTP/SAVPF`, `UDP/TLS/RTP/SAVPF`, `udp`, ...; the plain protocol's one stream is `udp`. */
  readonly proto: string;
  /** The media formats offered (SDP: the m= line's payload types); none for the plain protocol. */
  readonly formats: readonly string[];
  /** Where the party receives this stream; null when the description names no address for it. */
  readonly rtp: MediaAddress | null;
  /**
   * Where it receives RTCP: `a=rtcp` when given (even with rtcp-mux), else the RTP port + 1;
   * null with rtcp-mux and no `a=rtcp`, for a disabled stream, and for media without RTCP (the plain protocol).
   */
  readonly rtcp: MediaAddress | null;
  /** RTCP is multiplexed on the RTP port (RFC 5761). */
  readonly rtcpMux: boolean;
  /** Disabled (port 0): the party declines the stream. */
  readonly disabled: boolean;
}

/**
 * Where a relay receives one stream in place of the party: the description then names this
 * address, so the other party sends there (SIP: the SDP it receives; plain: its MEDIA_PORT).
 */
export interface RelayedAddress {
  readonly address: string;
  readonly rtpPort: number;
  /** Omitted for streams without a separate RTCP port. */
  readonly rtcpPort?: number;
}

/** A stream a relay took over: the stream as its party described it, and the relay address that now stands for it. */
export interface RelayedStream {
  readonly stream: MediaStream;
  readonly to: RelayedAddress;
}

export interface MediaOffer {
  /** The streams as the description now reads: a relayed stream names the relay's address and ports. */
  readonly streams: readonly MediaStream[];
  /**
   * Points one stream at a relay: its connection address and ports become the relay's (SIP: c=,
   * m= port, a=rtcp; plain: the MEDIA_PORT the parties are told). Streams not relayed keep the
   * addresses they had.
   */
  relay(index: number, to: RelayedAddress): void;
  /**
   * Changes one stream's transport profile and formats (SDP: the m= line's proto and payload
   * types), for a relay that converts the media it takes over (DTLS-SRTP with ICE on one side,
   * plain RTP on the other). The plain protocol's stream has no profile: there it is a no-op.
   */
  setTransport(index: number, proto: string, formats: readonly string[]): void;
  /** The attribute lines of the session or of one stream, in order. */
  attributes(target: MediaTarget): readonly MediaAttribute[];
  /**
   * Inserts attribute lines so that the first of them is at position `at` of `attributes(target)`;
   * `at` equal to their count puts them at the end of the section. A wire without attribute
   * lines (the plain protocol) renders none: there they are dropped.
   */
  insertAttributes(target: MediaTarget, at: number, attributes: readonly MediaAttribute[]): void;
  /** Removes the attribute lines `remove` matches; returns how many. */
  removeAttributes(target: MediaTarget, remove: (a: MediaAttribute) => boolean): number;
  /** Whether anything was changed since the description was read. */
  readonly changed: boolean;
  /**
   * The wire can describe this media only through a relay: the plain protocol's MEDIA_PORT names
   * a relay port, never the party's own address, so a relay that cannot take the description
   * must refuse it. SDP says where the party is: unrelayed, it still describes a media path.
   */
  readonly relayRequired: boolean;
  /**
   * The wire tells both parties one relay port (the plain protocol's MEDIA_PORT): a relay then
   * tells them apart by where they send from. SDP tells each party a port of its own, so a relay
   * gives each party its own port (one leg per party) and knows a party by the port it sends to.
   */
  readonly sharedRelayPort: boolean;
}
