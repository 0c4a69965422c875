// Read-only decoding of SCTP packets as they cross the loopback shim, for the
// wire log and for impairment rules ("drop the datagram that carries END").
// Building packets is left to the SCTP libraries.

export const ChunkType = {
  DATA: 0,
  INIT: 1,
  INIT_ACK: 2,
  SACK: 3,
  HEARTBEAT: 4,
  HEARTBEAT_ACK: 5,
  ABORT: 6,
  SHUTDOWN: 7,
  SHUTDOWN_ACK: 8,
  ERROR: 9,
  COOKIE_ECHO: 10,
  COOKIE_ACK: 11,
  SHUTDOWN_COMPLETE: 14,
  ASCONF_ACK: 0x80,
  RE_CONFIG: 0x82,
  FORWARD_TSN: 0xc0,
  ASCONF: 0xc1,
} as const;

const chunkNames = new Map<number, string>(
  Object.entries(ChunkType).map(([name, type]) => [type, name.replace('_', '-')]),
);

export interface ChunkSummary {
  readonly type: number;
  readonly name: string;
  readonly flags: number;
  /** ABORT and SHUTDOWN COMPLETE: the tag in the common header is reflected (RFC 9260 §3.3.7). */
  readonly tBit: boolean;
  /** RE-CONFIG: the parameter types it carries (13 = Outgoing SSN Reset Request, 16 = Response). */
  readonly reconfigParameters?: readonly number[];
  readonly data?: {
    readonly tsn: number;
    readonly streamId: number;
    readonly ssn: number;
    readonly ppid: number;
    readonly userData: Buffer;
  };
}

export interface PacketSummary {
  readonly srcPort: number;
  readonly dstPort: number;
  readonly verificationTag: number;
  readonly chunks: readonly ChunkSummary[];
}

export function decodePacket(datagram: Buffer): PacketSummary | undefined {
  if (datagram.length < 12) return undefined;
  const chunks: ChunkSummary[] = [];
  let offset = 12;
  // One chunk header per iteration, and every chunk is at least 4 bytes long.
  while (offset + 4 <= datagram.length) {
    const type = datagram.readUInt8(offset);
    const flags = datagram.readUInt8(offset + 1);
    const length = datagram.readUInt16BE(offset + 2);
    if (length < 4 || offset + length > datagram.length) break;
    const hasTBit = type === ChunkType.ABORT || type === ChunkType.SHUTDOWN_COMPLETE;
    const summary: ChunkSummary = {
      type,
      name: chunkNames.get(type) ?? `0x${type.toString(16)}`,
      flags,
      tBit: hasTBit && (flags & 0x01) !== 0,
      ...(type === ChunkType.DATA && length >= 16
        ? {
            data: {
              tsn: datagram.readUInt32BE(offset + 4),
              streamId: datagram.readUInt16BE(offset + 8),
              ssn: datagram.readUInt16BE(offset + 10),
              ppid: datagram.readUInt32BE(offset + 12),
              userData: datagram.subarray(offset + 16, offset + length),
            },
          }
        : {}),
      ...(type === ChunkType.RE_CONFIG ? { reconfigParameters: parameterTypes(datagram.subarray(offset + 4, offset + length)) } : {}),
    };
    chunks.push(summary);
    offset += length + ((4 - (length % 4)) % 4);
  }
  return {
    srcPort: datagram.readUInt16BE(0),
    dstPort: datagram.readUInt16BE(2),
    verificationTag: datagram.readUInt32BE(4),
    chunks,
  };
}

function parameterTypes(body: Buffer): number[] {
  const types: number[] = [];
  let offset = 0;
  while (offset + 4 <= body.length) {
    const length = body.readUInt16BE(offset + 2);
    if (length < 4) break;
    types.push(body.readUInt16BE(offset));
    offset += length + ((4 - (length % 4)) % 4);
  }
  return types;
}

export const ReconfigParameter = { OUTGOING_SSN_RESET_REQUEST: 13, RESPONSE: 16 } as const;

export function hasChunk(packet: PacketSummary | undefined, type: number): boolean {
  return packet?.chunks.some((chunk) => chunk.type === type) ?? false;
}

export function hex32(value: number): string {
  return `0x${value.toString(16).padStart(8, '0')}`;
}
