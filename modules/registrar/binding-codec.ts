import type { DialectName, SignalingTransport } from '../../core/module.ts';
import type { Binding } from './store.ts';

/**
 * A user's bindings as one string and back: what a store holds per user. In process that
 * keeps a table of a million users cheap for the garbage collector (a string is a leaf it
 * never traces, where a binding object is a dozen references); a shared store keeps the same
 * text under the user's key.
 *
 * JSON of positional arrays, so any character in a Call-ID, Contact or listener name survives;
 * the AOR is the key and is not repeated.
 */
type Row = [
  dialect: DialectName, listener: string, address: string, port: number, registeredAt: number, expiresAt: number | null,
  contact: string | null, q: number | null, callId: string | null, cseq: number | null, transport: SignalingTransport | null, connection: number | null,
  node?: string,
];

export function encodeBindings(bindings: readonly Binding[]): string {
  const rows: Row[] = [];
  for (const b of bindings) {
    const row: Row = [
      b.dialect, b.listener, b.address.address, b.address.port, b.registeredAt, b.expiresAt,
      b.contact ?? null, b.q ?? null, b.callId ?? null, b.cseq ?? null, b.transport ?? null, b.connection ?? null,
    ];
    if (b.node !== undefined) row.push(b.node);
    rows.push(row);
  }
  return JSON.stringify(rows);
}

/** The bindings `encodeBindings` wrote for `aor`; fields that were absent stay absent. */
export function decodeBindings(aor: string, text: string): Binding[] {
  return decodeRows(aor, JSON.parse(text) as unknown[]);
}

/** `decodeBindings` of text already parsed (rows that passed `isEncodedBindings`). */
export function decodeRows(aor: string, parsed: readonly unknown[]): Binding[] {
  const rows = parsed as readonly Row[];
  const out: Binding[] = [];
  for (const [dialect, listener, address, port, registeredAt, expiresAt, contact, q, callId, cseq, transport, connection, node] of rows) {
    const b: { -readonly [K in keyof Binding]: Binding[K] } = { aor, dialect, listener, address: { address, port }, registeredAt, expiresAt };
    if (contact !== null) b.contact = contact;
    if (q !== null) b.q = q;
    if (callId !== null) b.callId = callId;
    if (cseq !== null) b.cseq = cseq;
    if (transport !== null) {
      b.transport = transport;
      b.connection = connection; // a SIP binding names its connection, null over UDP
    }
    if (node !== undefined) b.node = node;
    out.push(b);
  }
  return out;
}

const isText = (v: unknown): boolean => typeof v === 'string';
const isTextOrNull = (v: unknown): boolean => v === null || typeof v === 'string';
const isNumberOrNull = (v: unknown): boolean => v === null || (typeof v === 'number' && Number.isFinite(v));

/**
 * Whether `rows` (JSON.parse of text read back from a file) has the shape `encodeBindings`
 * writes, so that `decodeBindings` of it gives well-formed bindings.
 */
export function isEncodedBindings(rows: unknown): boolean {
  if (!Array.isArray(rows)) return false;
  for (const row of rows as unknown[]) {
    if (!Array.isArray(row) || (row.length !== 12 && row.length !== 13)) return false;
    const [dialect, listener, address, port, registeredAt, expiresAt, contact, q, callId, cseq, transport, connection, node] = row as unknown[];
    if ((dialect !== 'plain' && dialect !== 'sip') || !isText(listener) || !isText(address)) return false;
    if (!Number.isInteger(port) || (port as number) < 0 || (port as number) > 65535) return false;
    if (typeof registeredAt !== 'number' || !isNumberOrNull(expiresAt) || !isTextOrNull(contact) || !isNumberOrNull(q)) return false;
    if (!isTextOrNull(callId) || !isNumberOrNull(cseq) || (transport !== null && transport !== 'udp' && transport !== 'tcp') || !isNumberOrNull(connection)) return false;
    if (row.length === 13 && !isText(node)) return false;
  }
  return true;
}

/** The earliest expiry among `bindings` (epoch ms), or null when none expires. */
export function earliestExpiry(bindings: readonly Binding[]): number | null {
  let first: number | null = null;
  for (const b of bindings) if (b.expiresAt !== null && (first === null || b.expiresAt < first)) first = b.expiresAt;
  return first;
}
