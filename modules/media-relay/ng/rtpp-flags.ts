/**
 * `rtpp-flags`: the flags of a request in one string, for the relay to parse (what Kamailio's
 * rtpengine module sends when the flags are parsed on the daemon's side). As rtpengine reads
 * it: words apart by spaces; `key=value` is the dictionary key `key`, a value in brackets a list
 * (`[a b]`) or a dictionary (`[k=v ...]`); a bare word is a flag, except the transport words
 * (`RTP/AVP`..., or `RTP`, `AVP`, `SRTP`, `AVPF`, `DTLS` combined) and `internal`/`external`,
 * which name a direction like `direction=...`.
 */
import type { BencodeDict, BencodeList, BencodeValue } from './bencode.ts';

export interface RtppFlags {
  /** Keys with their values, in the order given; `direction` may come more than once. */
  readonly entries: readonly (readonly [key: string, value: BencodeValue])[];
  readonly flags: readonly string[];
}

export type RtppFlagsResult = { readonly ok: true; readonly value: RtppFlags } | { readonly ok: false; readonly reason: string };

const MAX_NESTING = 8;

const TRANSPORTS = ['RTP/AVP', 'RTP/SAVP', 'RTP/AVPF', 'RTP/SAVPF', 'UDP/TLS/RTP/SAVP', undefined, 'UDP/TLS/RTP/SAVPF'] as const;
/** rtpengine's transport bits: 0x100 set, 0x1 secure, 0x2 feedback, 0x4 DTLS. */
const TRANSPORT_WORDS: ReadonlyMap<string, (bits: number) => number> = new Map<string, (bits: number) => number>([
  ['RTP/AVP', () => 0x100],
  ['RTP/SAVP', () => 0x101],
  ['RTP/AVPF', () => 0x102],
  ['RTP/SAVPF', () => 0x103],
  ['UDP/TLS/RTP/SAVP', () => 0x104],
  ['UDP/TLS/RTP/SAVPF', () => 0x106],
  ['RTP', (b) => (b | 0x100) & ~0x001],
  ['AVP', (b) => (b | 0x100) & ~0x002],
  ['SRTP', (b) => b | 0x101],
  ['AVPF', (b) => b | 0x102],
  ['DTLS', (b) => b | 0x104],
]);

class Invalid {
  constructor(readonly reason: string) {}
}

class Reader {
  pos = 0;

  constructor(private readonly s: string) {}

  get done(): boolean {
    return this.pos >= this.s.length;
  }

  peek(): string {
    return this.s[this.pos] ?? '';
  }

  skipSpaces(): void {
    while (this.s[this.pos] === ' ') this.pos++;
  }

  /** Characters up to a space, `]`, or (when `stopAtEquals`) `=`. */
  word(stopAtEquals: boolean): string {
    const start = this.pos;
    while (this.pos < this.s.length) {
      const c = this.s[this.pos];
      if (c === ' ' || c === ']' || c === '[' || (stopAtEquals && c === '=')) break;
      this.pos++;
    }
    return this.s.slice(start, this.pos);
  }

  /** A value: a word, or a bracketed list or dictionary. */
  value(depth: number): BencodeValue {
    if (this.peek() !== '[') return Buffer.from(this.word(false));
    if (depth >= MAX_NESTING) throw new Invalid(`rtpp-flags nested deeper than ${MAX_NESTING}`);
    this.pos++;
    const list: BencodeValue[] = [];
    const dict = new Map<string, BencodeValue>();
    for (;;) {
      this.skipSpaces();
      if (this.done) throw new Invalid('rtpp-flags: a bracket is not closed');
      if (this.peek() === ']') {
        this.pos++;
        return dict.size > 0 ? (dict as BencodeDict) : (list as BencodeList);
      }
      if (this.peek() === '[') {
        if (dict.size > 0) throw new Invalid('rtpp-flags: a list item in a dictionary');
        list.push(this.value(depth + 1));
        continue;
      }
      const word = this.word(true);
      if (this.peek() === '=') {
        if (word === '') throw new Invalid('rtpp-flags: a value without its key');
        this.pos++;
        if (list.length > 0) throw new Invalid('rtpp-flags: a key in a list');
        dict.set(word, this.value(depth + 1));
      } else {
        if (dict.size > 0) throw new Invalid('rtpp-flags: a list item in a dictionary');
        list.push(Buffer.from(word));
      }
    }
  }
}

function read(text: string): RtppFlags {
  const r = new Reader(text);
  const entries: (readonly [string, BencodeValue])[] = [];
  const flags: string[] = [];
  let transport = 0;
  for (;;) {
    r.skipSpaces();
    if (r.done) break;
    if (r.peek() === '[' || r.peek() === ']' || r.peek() === '=') throw new Invalid(`rtpp-flags: unexpected "${r.peek()}" at ${r.pos}`);
    const key = r.word(true);
    if (r.peek() !== '=') {
      const bits = TRANSPORT_WORDS.get(key);
      if (bits !== undefined) transport = bits(transport);
      else if (key === 'internal' || key === 'external') entries.push(['direction', Buffer.from(key)]);
      else flags.push(key);
      continue;
    }
    r.pos++;
    entries.push([key, r.value(0)]);
  }
  const protocol = TRANSPORTS[transport & 0x7];
  if (transport !== 0 && protocol !== undefined) entries.push(['transport-protocol', Buffer.from(protocol)]);
  return { entries, flags };
}

export function parseRtppFlags(text: string): RtppFlagsResult {
  try {
    return { ok: true, value: read(text) };
  } catch (e) {
    if (e instanceof Invalid) return { ok: false, reason: e.reason };
    throw e;
  }
}
