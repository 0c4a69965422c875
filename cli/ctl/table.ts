/** A text table: a header row, a rule, and the rows, each column as wide as its widest cell. */
export function table(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  return [line(headers), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

export function endpoint(e: { address: string; port: number } | undefined): string {
  if (e === undefined || e.address === '') return '-';
  const a = e.address.replace(/^::ffff:(?=\d+\.)/i, ''); // an IPv4 peer of a dual-stack socket
  return a.includes(':') ? `[${a}]:${e.port}` : `${a}:${e.port}`;
}

export function duration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  return s < 3600 ? `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}` : `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}`;
}
