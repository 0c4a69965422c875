// The one place that touches werift-sctp: its public class, a typed view of the
// association state the demonstration reads (tags, TSNs, stream sequence
// numbers), and one correction of a delivery defect in werift-sctp 0.0.11.

import { AbortChunk, DataChunk, serializePacket } from 'werift-sctp/lib/sctp/src/chunk.js';
import { InboundStream, SCTP } from 'werift-sctp/lib/sctp/src/sctp.js';
import type { Transport } from 'werift-sctp';

export { SCTP };
export type { Transport };

/** A complete, unfragmented DATA chunk in a packet with the given verification tag. */
export function dataPacket(
  verificationTag: number,
  port: number,
  fields: { readonly tsn: number; readonly streamId: number; readonly ssn: number; readonly ppid: number; readonly userData: Buffer },
): Buffer {
  const chunk = new DataChunk(0, undefined);
  chunk.flags = 0x03; // first and last fragment
  chunk.tsn = fields.tsn;
  chunk.streamId = fields.streamId;
  chunk.streamSeqNum = fields.ssn;
  chunk.protocol = fields.ppid;
  chunk.userData = fields.userData;
  return serializePacket(port, port, verificationTag, chunk);
}

/** An ABORT; with `reflected` the T bit says the tag is the receiver's peer's tag (RFC 9260 §3.3.7). */
export function abortPacket(verificationTag: number, port: number, reflected: boolean): Buffer {
  const chunk = new AbortChunk();
  chunk.flags = reflected ? 0x01 : 0x00;
  return serializePacket(port, port, verificationTag, chunk);
}

/** Fields werift keeps private in its typings; read-only use, for reporting and assertions. */
export interface WeriftAssociationState {
  readonly localVerificationTag: number;
  readonly remoteVerificationTag: number;
  /** Next TSN this side will assign. */
  readonly localTsn: number;
  readonly lastReceivedTsn: number | undefined;
  /** Next SSN per outgoing stream; a missing entry means 0. */
  readonly outboundStreamSeq: Readonly<Record<number, number | undefined>>;
  readonly inboundStreams: Readonly<Record<number, { readonly streamSequenceNumber: number } | undefined>>;
}

export function stateOf(association: SCTP): WeriftAssociationState {
  return association as unknown as WeriftAssociationState;
}

const DATA_LAST_FRAGMENT = 0x01;
const DATA_FIRST_FRAGMENT = 0x02;
const DATA_UNORDERED = 0x04;

function uint16GreaterThan(a: number, b: number): boolean {
  const half = 0x8000;
  return (a < b && b - a > half) || (a > b && a - b < half);
}

/**
 * werift-sctp 0.0.11 stops scanning a stream's reassembly queue after the first
 * message it delivers unless the next buffered chunk has the very next TSN. With
 * several streams interleaved in one TSN space that is rarely the case, so after
 * one lost or reordered packet the messages queued behind it stay undelivered
 * although SCTP acknowledged them. This is the same algorithm with the scan
 * restarted after each delivered message.
 */
function* popMessagesRestartingAfterDelivery(this: InboundStream): Generator<[number, number, Buffer]> {
  let position = 0;
  let start: number | undefined;
  let expectedTsn = 0;
  let ordered = true;
  while (position < this.reassembly.length) {
    const chunk = this.reassembly[position]!;
    if (start === undefined) {
      ordered = (chunk.flags & DATA_UNORDERED) === 0;
      if ((chunk.flags & DATA_FIRST_FRAGMENT) === 0) {
        if (ordered) break;
        position++;
        continue;
      }
      if (ordered && uint16GreaterThan(chunk.streamSeqNum, this.streamSequenceNumber)) break;
      expectedTsn = chunk.tsn;
      start = position;
    } else if (chunk.tsn !== expectedTsn) {
      if (ordered) break;
      start = undefined;
      position++;
      continue;
    }
    if ((chunk.flags & DATA_LAST_FRAGMENT) !== 0) {
      const fragments = this.reassembly.splice(start, position - start + 1);
      if (ordered && chunk.streamSeqNum === this.streamSequenceNumber) {
        this.streamSequenceNumber = (this.streamSequenceNumber + 1) & 0xffff;
      }
      position = start;
      start = undefined;
      yield [chunk.streamId, chunk.protocol, Buffer.concat(fragments.map((fragment) => fragment.userData))];
      continue;
    }
    position++;
    expectedTsn = (expectedTsn + 1) % 2 ** 32;
  }
}

// Applied once, when this module is first imported; every association in the example goes through it.
const originalPopMessages = InboundStream.prototype.popMessages;
InboundStream.prototype.popMessages = popMessagesRestartingAfterDelivery;

export function weriftDeliveryFixApplied(): boolean {
  return InboundStream.prototype.popMessages === popMessagesRestartingAfterDelivery && originalPopMessages !== popMessagesRestartingAfterDelivery;
}
