import type { Terminator } from './grammar.ts';

/** The proxy's own plain-protocol messages. Each ends with the terminator of the message it answers. */

export function composeError(reason: string, terminator: Terminator, requestLength: number): Buffer {
  // The spec caps an ERROR at the request's length plus 64 bytes: an ERROR never amplifies.
  const limit = requestLength + 64;
  let text = `ERROR ${reason}`;
  if (text.length + terminator.length > limit) text = text.slice(0, Math.max(5, limit - terminator.length));
  return Buffer.from(text + terminator, 'latin1');
}

export function composeAckRegister(user: string, terminator: Terminator): Buffer {
  return Buffer.from(`ACK_REGISTER ${user}${terminator}`, 'latin1');
}

/** The callee is unknown, so the failure names nobody (`CALL_FAILED unknown peer`). */
export function composeCallFailedBare(reason: string, terminator: Terminator): Buffer {
  return Buffer.from(`CALL_FAILED ${reason}${terminator}`, 'latin1');
}

export function composeCallFailed(callee: string, caller: string, reason: string, terminator: Terminator): Buffer {
  return Buffer.from(`CALL_FAILED FROM:${callee} TO:${caller} ${reason}${terminator}`, 'latin1');
}

export function composeAckCall(callee: string, caller: string, terminator: Terminator): Buffer {
  return Buffer.from(`ACK_CALL FROM:${callee} TO:${caller}${terminator}`, 'latin1');
}

export function composeMediaPort(caller: string, callee: string, port: number, terminator: Terminator): Buffer {
  return Buffer.from(`MEDIA_PORT FROM:${caller} TO:${callee} ${port}${terminator}`, 'latin1');
}

/** The protocol's BYE as the proxy sends it itself (a call it ended). */
export function composeBye(from: string, to: string, terminator: Terminator): Buffer {
  return Buffer.from(`BYE FROM:${from} TO:${to}${terminator}`, 'latin1');
}

/** Reason text safe to put on the wire: printable ASCII, one line. */
export function plainReasonText(reason: string): string {
  return reason.replace(/[^\x20-\x7e]/g, '?');
}
