import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';

/**
 * The clock both phones stamp media with: the monotonic clock, which every process on one host
 * shares (CLOCK_MONOTONIC on Linux), so a receiver on the same host reads one-way latency as
 * its own time minus the time in the packet. Phones on different hosts do not share it.
 */
export function monotonicNs(): bigint {
  return process.hrtime.bigint();
}

/** Names this host's monotonic clock: equal ids mean the latency a packet carries can be read. */
export function hostClockId(): number {
  let source: string;
  try {
    // One value per boot of the kernel, the span over which CLOCK_MONOTONIC is shared.
    source = readFileSync('/proc/sys/kernel/random/boot_id', 'latin1').trim();
  } catch {
    source = hostname();
  }
  return fnv1a32(source);
}

function fnv1a32(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}
