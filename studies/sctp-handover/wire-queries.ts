// Questions asked of the wire log after a run: which flow messages crossed
// which link, how many ABORTs and RE-CONFIG requests there were.

import { peekMessage, type AppMessage } from './messages.ts';
import type { WireRecord } from './network.ts';
import { ChunkType, ReconfigParameter } from './wire.ts';

export interface FlowChunkOnWire {
  readonly record: WireRecord;
  readonly message: AppMessage;
  readonly tsn: number;
  readonly streamId: number;
  readonly ssn: number;
}

export function flowChunks(wire: readonly WireRecord[], from: string, to: string, flow: string): FlowChunkOnWire[] {
  const found: FlowChunkOnWire[] = [];
  for (const record of wire) {
    if (record.from !== from || record.to !== to) continue;
    for (const chunk of record.packet?.chunks ?? []) {
      if (!chunk.data) continue;
      const message = peekMessage(chunk.data.userData);
      if (message?.flow !== flow) continue;
      found.push({ record, message, tsn: chunk.data.tsn, streamId: chunk.data.streamId, ssn: chunk.data.ssn });
    }
  }
  return found;
}

/** Distinct seq numbers of flow data on a link, optionally only those above `afterSeq`. */
export function distinctDataSeqs(chunks: readonly FlowChunkOnWire[], afterSeq = 0): number {
  const seqs = new Set<number>();
  for (const chunk of chunks) {
    if (chunk.message.kind === 'data' && chunk.message.seq > afterSeq) seqs.add(chunk.message.seq);
  }
  return seqs.size;
}

export function countChunks(wire: readonly WireRecord[], type: number, filter: (record: WireRecord) => boolean = () => true): number {
  let count = 0;
  for (const record of wire) {
    if (!filter(record)) continue;
    for (const chunk of record.packet?.chunks ?? []) if (chunk.type === type) count++;
  }
  return count;
}

function carriesReconfig(record: WireRecord, parameter: number): boolean {
  return record.packet?.chunks.some((chunk) => chunk.type === ChunkType.RE_CONFIG && chunk.reconfigParameters?.includes(parameter)) ?? false;
}

export function reconfigRequestsFrom(wire: readonly WireRecord[], host: string): number {
  return wire.filter((record) => record.from === host && carriesReconfig(record, ReconfigParameter.OUTGOING_SSN_RESET_REQUEST)).length;
}

/** Both ends of the x–y association sent a reset request before any response was sent (RFC 6525 §5.1.2 collision). */
export function resetRequestsCrossed(wire: readonly WireRecord[], x: string, y: string): boolean {
  const between = wire.filter((record) => (record.from === x && record.to === y) || (record.from === y && record.to === x));
  const firstRequest = (host: string) =>
    between.find((record) => record.from === host && carriesReconfig(record, ReconfigParameter.OUTGOING_SSN_RESET_REQUEST))?.id;
  const firstResponse = between.find((record) => carriesReconfig(record, ReconfigParameter.RESPONSE))?.id ?? Number.POSITIVE_INFINITY;
  const fromX = firstRequest(x);
  const fromY = firstRequest(y);
  return fromX !== undefined && fromY !== undefined && fromX < firstResponse && fromY < firstResponse;
}
