/**
 * The key a source is counted under: an IPv4 address as it is (an IPv4-mapped IPv6 address as
 * its IPv4 form, so both socket kinds count one peer once), an IPv6 address by its prefix of
 * `v6PrefixBits` (one host of an IPv6 network picks from 2^64 addresses of its /64: counting
 * each alone would limit nothing).
 */
export function sourceKey(address: string, v6PrefixBits: number): string {
  if (!address.includes(':')) return address;
  if (address.startsWith('::ffff:') && address.includes('.')) return address.slice(7);
  if (v6PrefixBits === 64) {
    // A socket's IPv6 peer in its usual form, four groups written out before any '::': cut there.
    let colons = 0;
    for (let i = 0; i < address.length; i++) {
      if (address.charCodeAt(i) !== 58) continue;
      if (address.charCodeAt(i + 1) === 58) break;
      if (++colons === 4) return `${address.slice(0, i)}::/64`;
    }
  }
  return v6Prefix(address, v6PrefixBits);
}

/** `2001:db8:1:2::/64` for 2001:db8:1:2:aaaa::1 and 64 bits; the address unchanged when it cannot be read. */
export function v6Prefix(address: string, bits: number): string {
  const groups = hextets(address);
  if (groups === null) return address;
  let out = '';
  for (let i = 0; i < 8 && bits > i * 16; i++) {
    const keep = Math.min(16, bits - i * 16);
    out += `${i > 0 ? ':' : ''}${(groups[i]! & (0xffff << (16 - keep)) & 0xffff).toString(16)}`;
  }
  return `${out}::/${bits}`;
}

/**
 * The eight 16-bit groups of an IPv6 literal (a zone and an embedded IPv4 tail allowed), or
 * null: one pass over the characters, for sources no shorter way keys.
 */
function hextets(address: string): Uint16Array | null {
  const head: number[] = [];
  const tail: number[] = [];
  let groups = head;
  let gap = false;
  let value = 0;
  let digits = 0;
  let i = 0;
  const end = address.indexOf('%') < 0 ? address.length : address.indexOf('%');
  if (address.startsWith('::')) {
    gap = true;
    groups = tail;
    i = 2;
  }
  for (; i < end; i++) {
    const c = address.charCodeAt(i);
    const hex = c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 102 ? c - 87 : c >= 65 && c <= 70 ? c - 55 : -1;
    if (hex >= 0) {
      if (++digits > 4) return null;
      value = value * 16 + hex;
    } else if (c === 58) {
      if (digits === 0) {
        if (gap || i === 0 || address.charCodeAt(i - 1) !== 58) return null;
        gap = true;
        groups = tail;
        continue;
      }
      groups.push(value);
      value = 0;
      digits = 0;
      if (address.charCodeAt(i + 1) === 58) {
        if (gap) return null;
        gap = true;
        groups = tail;
        i++;
      }
    } else if (c === 46) {
      const v4 = embeddedIPv4(address, i - digits, end);
      if (v4 === null) return null;
      groups.push(v4 >>> 16, v4 & 0xffff);
      digits = 0;
      i = end;
      break;
    } else {
      return null;
    }
  }
  if (digits > 0) groups.push(value);
  else if (i === end && end > 0 && address.charCodeAt(end - 1) === 58 && !(gap && address.endsWith('::', end))) return null;
  const missing = 8 - head.length - tail.length;
  if (gap ? missing < 1 : missing !== 0) return null;
  const out = new Uint16Array(8);
  out.set(head, 0);
  out.set(tail, 8 - tail.length);
  return out;
}

/** The dotted-quad tail of an IPv6 literal (from `from` to `end`) as a 32-bit number, or null. */
function embeddedIPv4(text: string, from: number, end: number): number | null {
  const parts = text.slice(from, end).split('.');
  if (parts.length !== 4) return null;
  let v = 0;
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p) || Number(p) > 255) return null;
    v = v * 256 + Number(p);
  }
  return v;
}
