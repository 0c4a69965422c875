/**
 * Settings the examples read from the environment, so they run anywhere (and in tests)
 * without editing them. A malformed value fails the load with a message naming the variable.
 */

export function envSeconds(name: string, fallback: number): number {
  const raw = process.env[name]?.trim();
  if (raw === undefined || raw === '') return fallback;
  const sec = /^\d+(\.\d+)?$/.test(raw) ? Number(raw) : NaN;
  if (!(sec > 0)) throw new Error(`${name}='${raw}': expected a number of seconds greater than 0`);
  return sec;
}
