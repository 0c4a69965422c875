import { pino, type Logger, type LevelWithSilent } from 'pino';
import pretty from 'pino-pretty';
import { stdoutSink } from './log-sink.ts';

export type { Logger };
export type LogLevel = LevelWithSilent;

export interface LoggerOptions {
  level?: LogLevel;
  /** Force human-readable (true) or JSON (false) output; by default human-readable on a TTY. */
  pretty?: boolean;
  destination?: NodeJS.WritableStream;
  /** Human-readable output keeps each entry's fields on its line (a start-up failure reads as one line). */
  singleLine?: boolean;
}

/** A logger; by default on stdout through its sink (see LogSink: a slow or vanished reader never stops or grows the proxy). */
export function createLogger(opts: LoggerOptions = {}): Logger {
  const dest = opts.destination ?? process.stdout;
  const human = opts.pretty ?? Boolean((dest as { isTTY?: boolean }).isTTY);
  const base = { level: opts.level ?? 'info', base: { pid: process.pid } };
  if (human) {
    dest.on('error', () => undefined);
    return pino(base, pretty({ destination: dest, colorize: true, translateTime: 'HH:MM:ss.l', ignore: 'pid,hostname', singleLine: opts.singleLine === true }));
  }
  return pino(base, opts.destination === undefined ? stdoutSink() : dest as pino.DestinationStream);
}
