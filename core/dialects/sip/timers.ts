/** RFC 3261 §17 timer values (ms). */
export const T1 = 500;
export const T2 = 4000;
export const T4 = 5000;
/** Timer B / F / H / J: 64·T1. */
export const TIMEOUT_64T1 = 64 * T1;
/** How long a finished transaction is kept to absorb retransmissions (Timer D/J/K on UDP). */
export const LINGER_MS = 32_000;
