import type { ScriptOverrides } from '../core/script/overrides.ts';

/** The command line's overrides of a script, each a flag and an environment variable (the flag wins). */
export const OVERRIDE_FLAGS = {
  'plain-port': 'SWITCHYARD_PLAIN_PORT',
  'sip-port': 'SWITCHYARD_SIP_PORT',
  'media-ports': 'SWITCHYARD_MEDIA_PORTS',
} as const;

export type OverrideFlag = keyof typeof OVERRIDE_FLAGS;

/** A flag or variable with a value that is not one: the message names it and what it takes. */
export class OverrideError extends Error {}

function port(name: string, raw: string): number {
  const n = /^\d{1,5}$/.test(raw) ? Number(raw) : NaN;
  if (!(n >= 0 && n <= 65535)) throw new OverrideError(`${name}='${raw}': expected a UDP port number 1-65535 (0: any free port)`);
  return n;
}

function range(name: string, raw: string): string {
  const m = /^(\d{1,5})-(\d{1,5})$/.exec(raw);
  const [min, max] = m === null ? [NaN, NaN] : [Number(m[1]), Number(m[2])];
  if (!(min >= 1 && max <= 65535 && min <= max)) throw new OverrideError(`${name}='${raw}': expected a port range like "5000-5999" (1-65535, min <= max)`);
  return `${min}-${max}`;
}

/**
 * The overrides from the flags given and the environment: `--plain-port`, `--sip-port` (the
 * port of the script's listener of that dialect) and `--media-ports` (the media relay's range).
 * An empty variable counts as unset. Throws OverrideError naming the flag or variable.
 */
export function readOverrides(flags: Partial<Record<OverrideFlag, string>>, env: NodeJS.ProcessEnv): ScriptOverrides {
  const given = (flag: OverrideFlag): { name: string; raw: string } | null => {
    const f = flags[flag];
    if (f !== undefined) return { name: `--${flag}`, raw: f };
    const v = env[OVERRIDE_FLAGS[flag]]?.trim();
    return v !== undefined && v !== '' ? { name: OVERRIDE_FLAGS[flag], raw: v } : null;
  };
  const ports: { plain?: number; sip?: number } = {};
  const plain = given('plain-port');
  if (plain !== null) ports.plain = port(plain.name, plain.raw);
  const sip = given('sip-port');
  if (sip !== null) ports.sip = port(sip.name, sip.raw);
  const media = given('media-ports');
  return {
    ...(Object.keys(ports).length > 0 ? { ports } : {}),
    ...(media !== null ? { moduleOptions: { 'media-relay': { ports: range(media.name, media.raw) } } } : {}),
  };
}
