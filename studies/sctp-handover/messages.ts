// Application messages carried in SCTP DATA chunks. Every flow message carries
// an end-to-end number (`seq`); SCTP's own stream sequence numbers are per
// association and restart at 0 on a new one (RFC 9260 §6.5), so they cannot
// carry the numbering across the handover.

export interface Endpoint {
  readonly ip: string;
  readonly port: number;
}

export type AppMessage =
  /** A numbered message of a flow; `seq` starts at 1 and is continuous across paths. */
  | { readonly kind: 'data'; readonly flow: string; readonly seq: number }
  /** Cut-over marker: the sender sends nothing more of this flow on this path after `lastSeq`. */
  | { readonly kind: 'end'; readonly flow: string; readonly lastSeq: number }
  /** Receiver → relay: END of `flow` was delivered, so the old stream is drained in that direction. */
  | { readonly kind: 'end-delivered'; readonly flow: string; readonly lastSeq: number }
  /** Relay → new peer: get ready to accept `flow` directly from `peer`. */
  | { readonly kind: 'prepare'; readonly flow: string; readonly token: string; readonly peer: Endpoint }
  /** New peer → relay: ready, reachable at `address`. */
  | { readonly kind: 'ready'; readonly flow: string; readonly token: string; readonly address: Endpoint }
  /** Relay → sender: open an association to `target` and move `flow` there. */
  | { readonly kind: 'go'; readonly flow: string; readonly token: string; readonly target: Endpoint }
  /** First message on the new association: which flow, and the token that authorizes it. */
  | { readonly kind: 'hello'; readonly flow: string; readonly token: string }
  | { readonly kind: 'welcome'; readonly flow: string }
  /** Sender → new peer, after its END went out on the old path: the new peer may now cut its own direction. */
  | { readonly kind: 'switched'; readonly flow: string; readonly lastSeqOnRelay: number }
  /** Relay → both ends: END was delivered both ways, the old stream is idle and may be reset. */
  | { readonly kind: 'drained'; readonly flow: string }
  | { readonly kind: 'refused'; readonly flow: string; readonly reason: string }
  /** Sender → relay: the direct path did not come up; the relay keeps the flow. */
  | { readonly kind: 'cancel'; readonly flow: string; readonly reason: string };

export type MessageKind = AppMessage['kind'];

const kinds: ReadonlySet<string> = new Set<MessageKind>([
  'data',
  'end',
  'end-delivered',
  'prepare',
  'ready',
  'go',
  'hello',
  'welcome',
  'switched',
  'drained',
  'refused',
  'cancel',
]);

/** Payload protocol identifier used for all application messages (WebRTC string). */
export const APP_PPID = 51;

export function encodeMessage(message: AppMessage): Buffer {
  return Buffer.from(JSON.stringify(message));
}

export function decodeMessage(bytes: Buffer): AppMessage {
  const value: unknown = JSON.parse(bytes.toString('utf8'));
  if (typeof value !== 'object' || value === null) throw new Error('message is not an object');
  const kind = (value as { kind?: unknown }).kind;
  const flow = (value as { flow?: unknown }).flow;
  if (typeof kind !== 'string' || !kinds.has(kind)) throw new Error(`unknown message kind ${String(kind)}`);
  if (typeof flow !== 'string') throw new Error('message without flow');
  // The fields per kind are produced only by encodeMessage in this example.
  return value as AppMessage;
}

/** Decodes the payload of a DATA chunk seen on the wire, or undefined if it is not one of ours. */
export function peekMessage(userData: Buffer): AppMessage | undefined {
  try {
    return decodeMessage(userData);
  } catch {
    return undefined;
  }
}
