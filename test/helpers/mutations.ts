import fc from 'fast-check';

/** A change to a message: bytes cut, flipped, inserted or deleted; a CRLF-separated line dropped, repeated or moved. */
export interface Mutation {
  readonly kind: 'truncate' | 'flip' | 'insert' | 'delete' | 'drop-line' | 'repeat-line' | 'move-line';
  readonly at: number;
  readonly byte: number;
}

/** Bytes that matter to SIP's grammar (separators, quotes, brackets, CR and LF) and a few that do not. */
export const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constantFrom('truncate' as const, 'flip' as const, 'insert' as const, 'delete' as const), at: fc.nat(), byte: fc.constantFrom(0, 9, 10, 13, 32, 34, 44, 58, 59, 60, 62, 64, 0x7f, 0xff, 0x30, 0x61) }),
  fc.record({ kind: fc.constantFrom('drop-line' as const, 'repeat-line' as const, 'move-line' as const), at: fc.nat(), byte: fc.nat() }),
);

/** `input` with the mutations applied in order. */
export function mutate(input: Buffer, ms: readonly Mutation[]): Buffer {
  let out = Buffer.from(input);
  for (const m of ms) {
    if (out.length === 0) break;
    if (m.kind.endsWith('-line')) {
      const lines = out.toString('latin1').split('\r\n');
      const i = m.at % lines.length;
      if (m.kind === 'drop-line') lines.splice(i, 1);
      else if (m.kind === 'repeat-line') lines.splice(i, 0, lines[i]!);
      else lines.splice(m.byte % lines.length, 0, ...lines.splice(i, 1));
      out = Buffer.from(lines.join('\r\n'), 'latin1');
      continue;
    }
    const at = m.at % out.length;
    if (m.kind === 'truncate') out = out.subarray(0, at);
    else if (m.kind === 'flip') out[at] = m.byte;
    else if (m.kind === 'insert') out = Buffer.concat([out.subarray(0, at), Buffer.from([m.byte]), out.subarray(at)]);
    else out = Buffer.concat([out.subarray(0, at), out.subarray(at + 1)]);
  }
  return out;
}
