import { isIP } from 'node:net';
import { parseArgs } from 'node:util';
import { isValidUser } from '../../core/dialects/plain/grammar.ts';
import { MAX_PAYLOAD_BYTES, MIN_PAYLOAD_BYTES } from './media-packet.ts';
import type { IncomingPolicy } from './session.ts';

export const DEFAULT_PROXY_PORT = 34567;
const MAX_RATE = 10_000;

export const PHONE_USAGE = `usage: switchyard phone [options]

A test phone of the plain call protocol. It registers, calls or answers, and during a call sends
a steady stream of RTP-shaped media packets from its signaling socket to the relay port the
proxy gives (MEDIA_PORT), and prints what it receives: loss, duplicates, reordering and
interarrival jitter (RFC 3550), and one-way latency, once a second and in a summary at hang-up.

  --proxy <host:port>  the proxy (default 127.0.0.1:${DEFAULT_PROXY_PORT}; IPv6 as [::1]:${DEFAULT_PROXY_PORT})
  --user <user>        register as <user> at start
  --call <user>        call <user> once registered; exit when that call ends (0 if it had media)
  --auto-answer        answer incoming calls at once
  --reject             reject incoming calls (CALL_FAILED ... declined)
  --rate <n>           media packets per second (default 50, one per 20 ms; at most ${MAX_RATE})
  --size <bytes>       media payload bytes per packet (default 160, at least ${MIN_PAYLOAD_BYTES})
  --duration <s>       hang up a call this many seconds after its media starts
  --json               print one JSON object per line (events, statistics, summaries)
  --script <file|->    run a script of commands (- reads stdin) and exit 0 when every step
                       succeeds, 1 with the reason at the first that does not
  --help               this text

Without --script the phone reads commands: register <user>, call <user>, answer,
reject [reason], hangup, stats, quit. Script commands: those but quit, and
  wait registered|incoming|answered|connected|failed [reason]|error [reason]|bye|ended [within <s>]
  wait media <n> [within <s>]     until <n> media packets of the call have been received
  expect <metric> [= < <= > >=] <number>   on the current call, else the last one; metrics:
      sent received expected loss (packets) loss-percent duplicates reordered discarded
      jitter (ms) latency (the highest, ms) latency-avg latency-min
  timeout <s>   the deadline of later waits (default 5)    sleep <s>    # a comment
A script that cannot be parsed exits 2 before it runs, as bad options do.

Latency is measured on the monotonic clock, which processes share on one host only: it is
printed when both phones run on the same host, and n/a when they do not.`;

export interface PhoneOptions {
  /** Host as given (an IP literal or a name to resolve) and port. */
  readonly proxyHost: string;
  readonly proxyPort: number;
  readonly user: string | null;
  readonly call: string | null;
  readonly incoming: IncomingPolicy;
  readonly rate: number;
  readonly payloadBytes: number;
  readonly durationSec: number | null;
  readonly json: boolean;
  /** A file name, or '-' for stdin. */
  readonly script: string | null;
}

export type ParsedPhoneArgs =
  | { readonly kind: 'run'; readonly options: PhoneOptions }
  | { readonly kind: 'help' }
  | { readonly kind: 'error'; readonly message: string };

/** `host:port`, `[v6]:port`, `host`, or an IPv6 literal without brackets (no port then). */
export function parseProxyAddress(text: string): { host: string; port: number } | string {
  let host: string;
  let portText: string | undefined;
  const bracketed = /^\[([^\]]+)\](?::(.*))?$/.exec(text);
  if (bracketed) {
    host = bracketed[1]!;
    portText = bracketed[2];
    if (isIP(host) !== 6) return `'${host}' in brackets is not an IPv6 address`;
  } else if (isIP(text) === 6) {
    host = text;
  } else {
    const colon = text.lastIndexOf(':');
    host = colon < 0 ? text : text.slice(0, colon);
    portText = colon < 0 ? undefined : text.slice(colon + 1);
    if (host.includes(':')) return `'${text}': write an IPv6 address with a port as [address]:port`;
  }
  if (host === '') return `'${text}' names no host`;
  if (portText === undefined) return { host, port: DEFAULT_PROXY_PORT };
  const port = Number(portText);
  if (!/^\d+$/.test(portText) || port < 1 || port > 65_535) return `'${portText}' is not a port (1-65535)`;
  return { host, port };
}

function positiveNumber(name: string, text: string | undefined, fallback: number, max: number, integer: boolean): number | string {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (text.trim() === '' || !Number.isFinite(n) || n <= 0 || n > max || (integer && !Number.isInteger(n))) {
    return `--${name}: '${text}' is not ${integer ? `a whole number from 1 to ${max}` : `a number above 0 and at most ${max}`}`;
  }
  return n;
}

export function parsePhoneArgs(argv: readonly string[]): ParsedPhoneArgs {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: false,
      options: {
        proxy: { type: 'string' },
        user: { type: 'string' },
        call: { type: 'string' },
        'auto-answer': { type: 'boolean', default: false },
        reject: { type: 'boolean', default: false },
        rate: { type: 'string' },
        size: { type: 'string' },
        duration: { type: 'string' },
        json: { type: 'boolean', default: false },
        script: { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (err) {
    return { kind: 'error', message: (err as Error).message };
  }
  const v = parsed.values;
  if (v.help) return { kind: 'help' };
  const error = (message: string): ParsedPhoneArgs => ({ kind: 'error', message });

  const proxy = parseProxyAddress(v.proxy ?? `127.0.0.1:${DEFAULT_PROXY_PORT}`);
  if (typeof proxy === 'string') return error(`--proxy: ${proxy}`);
  for (const [name, user] of [['user', v.user], ['call', v.call]] as const) {
    if (user !== undefined && !isValidUser(user)) return error(`--${name}: '${user}' is not a user id (letters and digits, at most 64)`);
  }
  if (v['auto-answer'] && v.reject) return error('--auto-answer and --reject exclude each other');
  if (v.call !== undefined && v.user === undefined) return error('--call needs --user (the phone registers before it calls)');
  if (v.call !== undefined && v.script !== undefined) return error('--call and --script exclude each other (a script has its own call command)');
  const rate = positiveNumber('rate', v.rate, 50, MAX_RATE, false);
  if (typeof rate === 'string') return error(rate);
  const size = positiveNumber('size', v.size, 160, MAX_PAYLOAD_BYTES, true);
  if (typeof size === 'string') return error(size);
  if (size < MIN_PAYLOAD_BYTES) return error(`--size: at least ${MIN_PAYLOAD_BYTES} bytes (the payload carries the send time)`);
  const duration = positiveNumber('duration', v.duration, 0, 86_400, false);
  if (typeof duration === 'string') return error(duration);
  if (v.script === '') return error('--script: a file name, or - for stdin');

  return {
    kind: 'run',
    options: {
      proxyHost: proxy.host,
      proxyPort: proxy.port,
      user: v.user ?? null,
      call: v.call ?? null,
      incoming: v['auto-answer'] ? 'answer' : v.reject ? 'reject' : 'ring',
      rate,
      payloadBytes: size,
      durationSec: v.duration === undefined ? null : duration,
      json: v.json,
      script: v.script ?? null,
    },
  };
}
