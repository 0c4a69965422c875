/**
 * Settings the examples read from the environment, so they run anywhere (and in tests)
 * without editing them. A malformed value fails the load with a message naming the variable.
 */

export function envPort(name: string, fallback: number): number {
  const raw = process.env[name]?.trim();
  if (raw === undefined || raw === '') return fallback;
  const port = /^\d{1,5}$/.test(raw) ? Number(raw) : NaN;
  if (!(port >= 1 && port <= 65535)) throw new Error(`${name}='${raw}': expected a UDP port number 1-65535`);
  return port;
}

export function envPortRange(name: string, fallback: string): string {
  const raw = process.env[name]?.trim();
  if (raw === undefined || raw === '') return fallback;
  const m = /^(\d{1,5})-(\d{1,5})$/.exec(raw);
  const [min, max] = m ? [Number(m[1]), Number(m[2])] : [NaN, NaN];
  if (!(min >= 1 && max <= 65535 && min <= max)) throw new Error(`${name}='${raw}': expected a port range like "5000-5999" (1-65535, min <= max)`);
  return raw;
}

export function envSeconds(name: string, fallback: number): number {
  const raw = process.env[name]?.trim();
  if (raw === undefined || raw === '') return fallback;
  const sec = /^\d+(\.\d+)?$/.test(raw) ? Number(raw) : NaN;
  if (!(sec > 0)) throw new Error(`${name}='${raw}': expected a number of seconds greater than 0`);
  return sec;
}
