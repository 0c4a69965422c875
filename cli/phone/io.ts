/** The streams a phone talks to a person or a test through: the process's, unless a caller gives others. */
export interface PhoneIo {
  readonly stdin: NodeJS.ReadableStream & { readonly isTTY?: boolean; destroy?(): void };
  readonly stdout: NodeJS.WritableStream & { readonly isTTY?: boolean };
  readonly stderr: NodeJS.WritableStream;
}

export function processIo(): PhoneIo {
  return { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr };
}
