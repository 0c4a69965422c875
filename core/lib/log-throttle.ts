/**
 * Lets a recurring warning through at most once per interval, so a condition hit by thousands
 * of messages a second (a full port range under overload) logs a line a second, not a line a
 * message, and the logging does not add to the overload.
 */
export class LogThrottle {
  private last = -Infinity;
  private held = 0;

  constructor(private readonly intervalMs: number, private readonly now: () => number = () => performance.now()) {}

  /** Null when this occurrence is held back; else how many were held back since the last one let through. */
  pass(): number | null {
    const t = this.now();
    if (t - this.last < this.intervalMs) {
      this.held++;
      return null;
    }
    const held = this.held;
    this.held = 0;
    this.last = t;
    return held;
  }
}
