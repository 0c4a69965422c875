/**
 * `;name[=value]` parameter lists as used by header values (RFC 3261 §25.1
 * generic-param, via-params, contact-params). Values are kept raw: a quoted
 * string keeps its quotes, so formatting gives back what was parsed.
 */
import { TOKEN_CHARS } from './names.ts';

export interface Param {
  name: string;
  /** raw value; null for a parameter without '=' (e.g. `;lr`, `;rport`) */
  value: string | null;
}

function isWs(c: number): boolean {
  return c === 0x20 || c === 0x09;
}

export function skipWs(s: string, i: number): number {
  while (i < s.length && isWs(s.charCodeAt(i))) i++;
  return i;
}

/** gen-value characters beside token chars: ':' and brackets for IPv6 literals */
function isValueChar(c: number): boolean {
  return (c < 256 && TOKEN_CHARS[c] === 1) || c === 0x3a || c === 0x5b || c === 0x5d;
}

/** End index (exclusive) of the quoted string starting at s[i] === '"', or -1. */
export function scanQuoted(s: string, i: number): number {
  for (let j = i + 1; j < s.length; j++) {
    const c = s.charCodeAt(j);
    if (c === 0x5c) j++;
    else if (c === 0x22) return j + 1;
  }
  return -1;
}

/**
 * Parse `*( SEMI name [EQUAL value] )` starting at s[i] (whitespace allowed
 * around ';' and '='). Stops before the first character that does not start
 * another parameter. Returns that index, or -1 on a malformed parameter.
 */
export function parseParams(s: string, i: number, out: Param[]): number {
  for (;;) {
    const j = skipWs(s, i);
    if (j >= s.length || s.charCodeAt(j) !== 0x3b) return j;
    let k = skipWs(s, j + 1);
    const ns = k;
    while (k < s.length) {
      const c = s.charCodeAt(k);
      if (c >= 256 || TOKEN_CHARS[c] !== 1) break;
      k++;
    }
    if (k === ns) return -1;
    const name = s.slice(ns, k);
    k = skipWs(s, k);
    if (k < s.length && s.charCodeAt(k) === 0x3d) {
      k = skipWs(s, k + 1);
      const vs = k;
      if (k < s.length && s.charCodeAt(k) === 0x22) {
        k = scanQuoted(s, k);
        if (k < 0) return -1;
      } else {
        while (k < s.length && isValueChar(s.charCodeAt(k))) k++;
      }
      if (k === vs) return -1;
      out.push({ name, value: s.slice(vs, k) });
    } else {
      out.push({ name, value: null });
    }
    i = k;
  }
}

export function formatParams(params: readonly Param[]): string {
  let out = '';
  for (const p of params) out += p.value === null ? `;${p.name}` : `;${p.name}=${p.value}`;
  return out;
}

/** Value of a parameter (case-insensitive name): string, null when valueless, undefined when absent. */
export function getParam(params: readonly Param[], name: string): string | null | undefined {
  const lname = name.toLowerCase();
  for (const p of params) if (p.name.toLowerCase() === lname) return p.value;
  return undefined;
}

/** Set (replace in place, or append) a parameter; null makes it valueless. */
export function setParam(params: Param[], name: string, value: string | null): void {
  const lname = name.toLowerCase();
  for (const p of params) {
    if (p.name.toLowerCase() === lname) { p.value = value; return; }
  }
  params.push({ name, value });
}

/** Remove every occurrence of a parameter; returns whether one was present. */
export function removeParam(params: Param[], name: string): boolean {
  const lname = name.toLowerCase();
  let found = false;
  for (let i = params.length - 1; i >= 0; i--) {
    if ((params[i] as Param).name.toLowerCase() === lname) { params.splice(i, 1); found = true; }
  }
  return found;
}

/** Remove surrounding quotes and resolve quoted-pairs; other strings are returned as is. */
export function unquote(s: string): string {
  if (s.length < 2 || s.charCodeAt(0) !== 0x22 || s.charCodeAt(s.length - 1) !== 0x22) return s;
  let out = '';
  for (let i = 1; i < s.length - 1; i++) {
    let c = s[i] as string;
    if (c === '\\' && i + 1 < s.length - 1) c = s[++i] as string;
    out += c;
  }
  return out;
}

/** Quote a string for use as a quoted-string (display names, param values). */
export function quote(s: string): string {
  return '"' + s.replace(/[\\"]/g, (m) => '\\' + m) + '"';
}
