import type { DialectName, Method } from '../model/message.ts';

/**
 * Methods counted under their own name; any other token a SIP request may carry counts as
 * `other`, so that a peer inventing methods cannot grow the metric's label set.
 */
export const COUNTED_METHODS = [
  'REGISTER', 'INVITE', 'ACK', 'BYE', 'CANCEL', 'OPTIONS', 'UPDATE', 'PRACK', 'INFO', 'MESSAGE', 'SUBSCRIBE', 'NOTIFY', 'REFER', 'PUBLISH', 'other',
] as const;

export type CountedMethod = (typeof COUNTED_METHODS)[number];

/** Response classes 1xx to 6xx, by their first digit. */
export const RESPONSE_CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx', '6xx'] as const;

export type ResponseClass = (typeof RESPONSE_CLASSES)[number];

/** A status's class index into a `number[6]` (1xx → 0); -1 for a status outside 100-699. */
export function classIndex(status: number): number {
  const c = Math.floor(status / 100) - 1;
  return c >= 0 && c < 6 ? c : -1;
}

/** Without a prototype, so that a method named like an Object property ("toString") is `other` too. */
function methodTable(): Record<CountedMethod, number> {
  return Object.assign(Object.create(null) as object, Object.fromEntries(COUNTED_METHODS.map((m) => [m, 0]))) as Record<CountedMethod, number>;
}

/**
 * Requests received by dialect and method, responses received by dialect and class: one
 * increment of a preallocated slot per message; /metrics reads the tables as they are.
 */
export class MessageCounts {
  readonly requests: Readonly<Record<DialectName, Record<CountedMethod, number>>> = { plain: methodTable(), sip: methodTable() };
  readonly responses: Readonly<Record<DialectName, number[]>> = { plain: [0, 0, 0, 0, 0, 0], sip: [0, 0, 0, 0, 0, 0] };

  request(dialect: DialectName, method: Method): void {
    const t = this.requests[dialect];
    if (method in t) t[method as CountedMethod]++;
    else t.other++;
  }

  response(dialect: DialectName, status: number): void {
    const c = classIndex(status);
    if (c >= 0) this.responses[dialect][c]!++;
  }
}
