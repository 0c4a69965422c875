/**
 * The plain protocol's media description. A plain party says nothing about its media: it sends
 * and receives from the socket it signals from, one opaque stream without RTCP. What a relay
 * makes of it comes back as the port in MEDIA_PORT.
 */
import type { Endpoint } from '../../lib/address.ts';
import type { MediaAttribute, MediaOffer, MediaStream, MediaTarget, RelayedAddress } from '../../model/media.ts';

export class PlainMediaOffer implements MediaOffer {
  private stream: MediaStream;
  private relayedTo: RelayedAddress | null = null;
  readonly relayRequired = true;
  readonly sharedRelayPort = true;

  /** `party`: the signaling address of the party the description is of. */
  constructor(party: Endpoint) {
    this.stream = { index: 0, kind: 'application', proto: 'udp', formats: [], rtp: party, rtcp: null, rtcpMux: false, disabled: false };
  }

  get streams(): readonly MediaStream[] {
    return [this.stream];
  }

  get changed(): boolean {
    return this.relayedTo !== null;
  }

  /** Where this party's stream now is, the relay port: what the other party is told in its MEDIA_PORT; null while not relayed. */
  get mediaPort(): number | null {
    return this.relayedTo === null ? null : this.relayedTo.rtpPort;
  }

  relay(index: number, to: RelayedAddress): void {
    if (index !== 0) throw new RangeError(`no stream ${index}: a plain party has one`);
    this.relayedTo = to;
    this.stream = { ...this.stream, rtp: { address: to.address, port: to.rtpPort } };
  }

  /** MEDIA_PORT names no profile: nothing changes. */
  setTransport(_index: number, _proto: string, _formats: readonly string[]): void {}

  attributes(_target: MediaTarget): readonly MediaAttribute[] {
    return [];
  }

  /** MEDIA_PORT carries no attributes: nothing is kept. */
  insertAttributes(_target: MediaTarget, _at: number, _attributes: readonly MediaAttribute[]): void {}

  removeAttributes(_target: MediaTarget, _remove: (a: MediaAttribute) => boolean): number {
    return 0;
  }
}
