// Why the handover resets the old stream only after END was delivered.
//
// RFC 6525 §5.2.2 E2 lets the receiver of an Outgoing SSN Reset Request defer
// it until everything up to the sender's last assigned TSN has arrived.
// werift-sctp 0.0.11 performs the reset at once. If the tail of the stream is
// still in flight when the request overtakes it, the receiver expects SSN 0
// again and the late messages (SSN 10, 11, …) are never delivered. With the
// END marker acknowledged by the application first, the reset cannot overtake
// anything.

import type { WeriftAssociation } from './association.ts';
import { CONTROL_STREAM, FLOW_STREAM } from './handover.ts';
import { waitFor } from './timing.ts';
import { Topology } from './topology.ts';
import { DeliveryLog, type SequenceCheck } from './traffic.ts';
import { reconfigRequestsFrom } from './wire-queries.ts';

const FLOW = 'R';
const DELIVERED_FIRST = 10;
const TAIL = 10;
const AFTER_RESET = 3;

export type ResetOrdering = 'reset-immediately' | 'reset-after-end-delivered';

export interface ResetBarrierReport {
  readonly ordering: ResetOrdering;
  /** Messages 1..20 of the old use of the stream, as delivered to B. */
  readonly oldUse: SequenceCheck;
  readonly endDelivered: boolean;
  /** Messages of the stream's next use (after the reset), as delivered to B. */
  readonly newUse: SequenceCheck;
  /** The reset request was on the wire while the tail was still held back. */
  readonly requestOvertookTail: boolean;
  readonly durationMs: number;
}

export async function runResetBarrier(ordering: ResetOrdering): Promise<ResetBarrierReport> {
  const started = performance.now();
  const topology = await Topology.create();
  const { network } = topology;
  try {
    const { client: atA, server: atB } = await topology.connect('A', 'B');
    const log = new DeliveryLog();
    let endDelivered = false;
    atB.onMessage((stream, message) => {
      if (stream !== FLOW_STREAM) return;
      if (message.kind === 'data') log.record(message.flow, message.seq);
      if (message.kind === 'end' && message.flow === FLOW) {
        endDelivered = true;
        atB.send(CONTROL_STREAM, { kind: 'end-delivered', flow: FLOW, lastSeq: message.lastSeq });
      }
    });
    let endAcknowledged = false;
    atA.onMessage((stream, message) => {
      if (stream === CONTROL_STREAM && message.kind === 'end-delivered') endAcknowledged = true;
    });

    const send = (association: WeriftAssociation, flow: string, seq: number) =>
      association.send(FLOW_STREAM, { kind: 'data', flow, seq });
    for (let seq = 1; seq <= DELIVERED_FIRST; seq++) send(atA, FLOW, seq);
    await waitFor(() => log.count(FLOW) >= DELIVERED_FIRST, 3000);

    // The tail (SSN 10..19) and END are held on the way to B; a RE-CONFIG chunk is not DATA and passes.
    const tail = network.hold(
      'tail of stream 1',
      (datagram) => datagram.from === 'A' && datagram.packet?.chunks.some((chunk) => chunk.data !== undefined) === true,
      5000,
    );
    for (let seq = DELIVERED_FIRST + 1; seq <= DELIVERED_FIRST + TAIL; seq++) send(atA, FLOW, seq);
    atA.send(FLOW_STREAM, { kind: 'end', flow: FLOW, lastSeq: DELIVERED_FIRST + TAIL });

    let requestOvertookTail = false;
    if (ordering === 'reset-immediately') {
      atA.resetOutgoingStreams([FLOW_STREAM]);
      // B has performed the reset once A has its response, and the tail is still held.
      await waitFor(() => atA.outboundSsn(FLOW_STREAM) === 0, 4000);
      requestOvertookTail = tail.isActive && reconfigRequestsFrom(network.wire, 'A') > 0;
      tail.release();
    } else {
      setTimeout(() => tail.release(), 100);
      await waitFor(() => endAcknowledged, 3000);
      atA.resetOutgoingStreams([FLOW_STREAM]);
      await waitFor(() => atA.outboundSsn(FLOW_STREAM) === 0, 2000);
    }
    await waitFor(() => log.count(FLOW) >= DELIVERED_FIRST + TAIL, 500);

    // The stream's next use starts at SSN 0 again.
    const nextFlow = `${FLOW}-next`;
    for (let seq = 1; seq <= AFTER_RESET; seq++) send(atA, nextFlow, seq);
    await waitFor(() => log.count(nextFlow) >= AFTER_RESET, 500);

    return {
      ordering,
      oldUse: log.check(FLOW, DELIVERED_FIRST + TAIL),
      endDelivered,
      newUse: log.check(nextFlow, AFTER_RESET),
      requestOvertookTail,
      durationMs: performance.now() - started,
    };
  } finally {
    await topology.close();
  }
}
