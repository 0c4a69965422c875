/** Lexical rules of the plain call protocol (shared/spec/plain-protocol.md). */

export const USER_ID = /^[A-Za-z0-9]{1,64}$/;

/** Longer datagrams are not plain signaling; the longest legal one is far below this. */
export const MAX_PLAIN_MESSAGE = 1024;

export type Terminator = '' | '\n' | '\r\n';

export function isValidUser(user: string): boolean {
  return USER_ID.test(user);
}

/** Key of the one call the plain protocol allows between two users, whoever called. */
export function plainCallId(a: string, b: string): string {
  return a < b ? `plain:${a}|${b}` : `plain:${b}|${a}`;
}
