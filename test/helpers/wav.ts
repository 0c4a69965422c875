/**
 * The audio the user-agent tests send and measure: a sine tone per party, written as a 16-bit
 * mono WAV file the UA plays into its call, and the strength of each party's tone in what the
 * other UA decoded. A distinct frequency per party tells "heard the other side" from "heard
 * its own packets back" and from silence.
 */
import { readFileSync, writeFileSync } from 'node:fs';

export interface Pcm {
  readonly sampleRate: number;
  readonly samples: Int16Array;
}

/** Writes `seconds` of a `hz` sine at about -12 dBFS, 16-bit mono PCM. */
export function writeToneWav(file: string, hz: number, seconds: number, sampleRate = 8000): void {
  const count = Math.round(sampleRate * seconds);
  const out = Buffer.alloc(44 + count * 2);
  out.write('RIFF', 0, 'ascii');
  out.writeUInt32LE(36 + count * 2, 4);
  out.write('WAVEfmt ', 8, 'ascii');
  out.writeUInt32LE(16, 16);
  out.writeUInt16LE(1, 20); // PCM
  out.writeUInt16LE(1, 22); // mono
  out.writeUInt32LE(sampleRate, 24);
  out.writeUInt32LE(sampleRate * 2, 28);
  out.writeUInt16LE(2, 32);
  out.writeUInt16LE(16, 34);
  out.write('data', 36, 'ascii');
  out.writeUInt32LE(count * 2, 40);
  for (let i = 0; i < count; i++) out.writeInt16LE(Math.round(8000 * Math.sin((2 * Math.PI * hz * i) / sampleRate)), 44 + 2 * i);
  writeFileSync(file, out);
}

/**
 * Reads a 16-bit PCM WAV file that may still be being written: a recorder writes its header
 * first and fixes the sizes when it closes, so the data chunk runs to the end of the file.
 * The first channel is kept. `open` marks a recording that may still be written to: its header
 * may be still zeroed (then `open.sampleRate` applies) or give the size of an earlier part.
 */
export function readWav(file: string, open?: { readonly sampleRate: number }): Pcm {
  const buf = readFileSync(file);
  // mediastreamer's recorder writes a zeroed header while it records and the real one when it closes.
  if (open !== undefined && buf.length >= 44 && buf.subarray(0, 44).every((b) => b === 0)) {
    const frames = Math.floor((buf.length - 44) / 2);
    const samples = new Int16Array(frames);
    for (let i = 0; i < frames; i++) samples[i] = buf.readInt16LE(44 + 2 * i);
    return { sampleRate: open.sampleRate, samples };
  }
  if (buf.length < 12 || buf.toString('ascii', 0, 4) !== 'RIFF' || buf.toString('ascii', 8, 12) !== 'WAVE') throw new Error(`${file}: not a WAV file`);
  let pos = 12;
  let sampleRate = 0;
  let channels = 1;
  while (pos + 8 <= buf.length) {
    const id = buf.toString('ascii', pos, pos + 4);
    const size = buf.readUInt32LE(pos + 4);
    const body = pos + 8;
    if (id === 'fmt ') {
      if (buf.readUInt16LE(body + 14) !== 16) throw new Error(`${file}: not 16-bit PCM`);
      channels = buf.readUInt16LE(body + 2);
      sampleRate = buf.readUInt32LE(body + 4);
    } else if (id === 'data') {
      if (sampleRate === 0) throw new Error(`${file}: data before fmt`);
      // A recording still in progress runs to the end of the file, past the size its header may give.
      const end = open !== undefined || size === 0 || body + size > buf.length ? buf.length : body + size;
      const frames = Math.floor((end - body) / (2 * channels));
      const samples = new Int16Array(frames);
      for (let i = 0; i < frames; i++) samples[i] = buf.readInt16LE(body + i * 2 * channels);
      return { sampleRate, samples };
    }
    pos = body + size + (size & 1);
  }
  if (sampleRate === 0) throw new Error(`${file}: no fmt chunk`);
  return { sampleRate, samples: new Int16Array(0) };
}

/** Amplitude of the `hz` component (Goertzel), in sample units: a full tone of amplitude A reads about A/2. */
export function toneLevel(pcm: Pcm, hz: number, from = 0, to = pcm.samples.length): number {
  const n = to - from;
  if (n <= 0) return 0;
  const coeff = 2 * Math.cos((2 * Math.PI * hz) / pcm.sampleRate);
  let s1 = 0;
  let s2 = 0;
  for (let i = from; i < to; i++) {
    const s = pcm.samples[i]! + coeff * s1 - s2;
    s2 = s1;
    s1 = s;
  }
  return Math.sqrt(Math.max(0, s1 * s1 + s2 * s2 - coeff * s1 * s2)) / n;
}

export interface HeardTones {
  /** Seconds of decoded audio. */
  readonly seconds: number;
  /** For each asked frequency: the share (0-1) of 100 ms windows in which it is heard (level at least HEARD_LEVEL). */
  readonly presence: Readonly<Record<number, number>>;
}

/**
 * A tone counts as heard in a window when its level is at least this: the generated tone reads
 * about 4,000 after G.711, a window it fills half about 2,000; silence, or a party's own tone
 * absent from the stream, reads near 0.
 */
export const HEARD_LEVEL = 1000;

const WINDOW_SEC = 0.1;

/** What a recording holds: its length and, per frequency of `tones`, in how much of it that tone is heard. */
export function heardTones(pcm: Pcm, tones: readonly number[]): HeardTones {
  const window = Math.round(pcm.sampleRate * WINDOW_SEC);
  const windows = Math.floor(pcm.samples.length / window);
  const presence: Record<number, number> = {};
  for (const hz of tones) {
    let heard = 0;
    for (let w = 0; w < windows; w++) if (toneLevel(pcm, hz, w * window, (w + 1) * window) >= HEARD_LEVEL) heard++;
    presence[hz] = windows === 0 ? 0 : Math.round((heard / windows) * 100) / 100;
  }
  return { seconds: pcm.samples.length / pcm.sampleRate, presence };
}

/** Nothing recorded. */
export function nothingHeard(tones: readonly number[]): HeardTones {
  return { seconds: 0, presence: Object.fromEntries(tones.map((t) => [t, 0])) };
}
