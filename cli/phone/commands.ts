/** The phone's command language, typed at its prompt or written in a script, one command a line. */

export type WaitTarget =
  | { readonly kind: 'registered' | 'incoming' | 'answered' | 'connected' | 'bye' | 'ended' }
  /** `reason`: the failure's reason must be this text (or, for `error`, the ERROR's). */
  | { readonly kind: 'failed' | 'error'; readonly reason: string | null }
  | { readonly kind: 'media'; readonly packets: number };

export const METRICS = ['sent', 'received', 'expected', 'loss', 'loss-percent', 'duplicates', 'reordered', 'discarded', 'jitter', 'latency', 'latency-avg', 'latency-min'] as const;
export type Metric = (typeof METRICS)[number];
export const COMPARISONS = ['=', '==', '<', '<=', '>', '>='] as const;
export type Comparison = (typeof COMPARISONS)[number];

export type Command =
  | { readonly op: 'register'; readonly user: string }
  | { readonly op: 'call'; readonly user: string }
  | { readonly op: 'answer' | 'hangup' | 'stats' | 'quit' | 'help' }
  | { readonly op: 'reject'; readonly reason: string | null }
  | { readonly op: 'wait'; readonly target: WaitTarget; readonly withinSec: number | null }
  | { readonly op: 'expect'; readonly metric: Metric; readonly comparison: Comparison; readonly value: number }
  | { readonly op: 'timeout' | 'sleep'; readonly seconds: number };

export type ParsedCommand =
  | { readonly ok: true; readonly command: Command }
  /** A blank line or a comment. */
  | { readonly ok: true; readonly command: null }
  | { readonly ok: false; readonly message: string };

const WAIT_KINDS = ['registered', 'incoming', 'answered', 'connected', 'bye', 'ended', 'failed', 'error', 'media'] as const;
const MAX_SECONDS = 86_400;

function seconds(text: string | undefined): number | null {
  if (text === undefined) return null;
  const m = /^(\d+(?:\.\d+)?|\.\d+)s?$/.exec(text);
  if (!m) return null;
  const n = Number(m[1]);
  return n > 0 && n <= MAX_SECONDS ? n : null;
}

function isOneOf<T extends string>(list: readonly T[], word: string | undefined): word is T {
  return word !== undefined && (list as readonly string[]).includes(word);
}

function parseWait(args: string[]): ParsedCommand {
  let withinSec: number | null = null;
  const w = args.indexOf('within');
  if (w >= 0) {
    if (w !== args.length - 2) return { ok: false, message: 'usage: wait <event> [within <seconds>]' };
    withinSec = seconds(args[w + 1]);
    if (withinSec === null) return { ok: false, message: `within: '${args[w + 1]}' is not a number of seconds` };
    args = args.slice(0, w);
  }
  const [kind, ...rest] = args;
  if (!isOneOf(WAIT_KINDS, kind)) return { ok: false, message: `wait for what? one of ${WAIT_KINDS.join(', ')}` };
  const wait = (target: WaitTarget): ParsedCommand => ({ ok: true, command: { op: 'wait', target, withinSec } });
  if (kind === 'media') {
    const n = Number(rest[0]);
    if (rest.length !== 1 || !/^\d+$/.test(rest[0]!) || n < 1) return { ok: false, message: 'usage: wait media <packets> [within <seconds>]' };
    return wait({ kind, packets: n });
  }
  if (kind === 'failed' || kind === 'error') return wait({ kind, reason: rest.length > 0 ? rest.join(' ') : null });
  if (rest.length > 0) return { ok: false, message: `wait ${kind} takes no argument` };
  return wait({ kind });
}

function parseExpect(args: string[]): ParsedCommand {
  const usage = `usage: expect <metric> [${COMPARISONS.join(' ')}] <number>; metrics: ${METRICS.join(' ')}`;
  const [metric, a, b] = args;
  if (!isOneOf(METRICS, metric)) return { ok: false, message: usage };
  const comparison = args.length === 3 ? a : '=';
  const valueText = args.length === 3 ? b : a;
  if (args.length < 2 || args.length > 3 || !isOneOf(COMPARISONS, comparison)) return { ok: false, message: usage };
  const value = Number(valueText);
  if (valueText === undefined || valueText.trim() === '' || !Number.isFinite(value)) return { ok: false, message: `'${valueText}' is not a number` };
  return { ok: true, command: { op: 'expect', metric, comparison, value } };
}

/** Parses one line. Blank lines and `#` comments are no command. */
export function parseCommand(line: string): ParsedCommand {
  const text = line.trim();
  if (text === '' || text.startsWith('#')) return { ok: true, command: null };
  const [op, ...args] = text.split(/\s+/);
  const none = (command: Command): ParsedCommand => (args.length === 0 ? { ok: true, command } : { ok: false, message: `${op} takes no argument` });
  switch (op) {
    case 'register':
    case 'call':
      return args.length === 1 ? { ok: true, command: { op, user: args[0]! } } : { ok: false, message: `usage: ${op} <user>` };
    case 'answer':
    case 'hangup':
    case 'stats':
    case 'help':
      return none({ op });
    case 'quit':
    case 'exit':
      return none({ op: 'quit' });
    case 'reject':
      return { ok: true, command: { op: 'reject', reason: args.length > 0 ? args.join(' ') : null } };
    case 'wait':
      return parseWait(args);
    case 'expect':
      return parseExpect(args);
    case 'timeout':
    case 'sleep': {
      const s = seconds(args[0]);
      return args.length === 1 && s !== null ? { ok: true, command: { op, seconds: s } } : { ok: false, message: `usage: ${op} <seconds>` };
    }
    default:
      return { ok: false, message: `unknown command '${op}'` };
  }
}
