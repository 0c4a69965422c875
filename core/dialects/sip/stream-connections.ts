/**
 * Connection numbers shared by every stream transport (TCP, TLS, WebSocket), so a number a
 * binding or a transaction recorded names one connection whichever listener accepted it.
 */
let next = 1;

export function nextConnectionId(): number {
  return next++;
}

/** Told when a connection is gone, with the transport it was on. */
export type ConnectionClosed = (connection: number) => void;
