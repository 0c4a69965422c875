import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';

const SPECIFIER = /(?:\bfrom\s*|\bimport\s*\(?\s*|\brequire\s*\(\s*)['"](\.{1,2}\/[^'"]+)['"]/g;
const EXTENSIONS = ['', '.ts', '.mts', '.cts', '.js', '.mjs', '.cjs', '/index.ts', '/index.js'];

/** TypeScript lets `./x.js` name `./x.ts`; jiti resolves it so, and so must the watcher. */
const TS_FOR_JS: Readonly<Record<string, string>> = { '.js': '.ts', '.mjs': '.mts', '.cjs': '.cts' };

function resolveLocal(from: string, spec: string): string | null {
  const base = path.resolve(path.dirname(from), spec);
  const ext = path.extname(base);
  const candidates = EXTENSIONS.map((e) => base + e);
  if (TS_FOR_JS[ext] !== undefined) candidates.push(base.slice(0, -ext.length) + TS_FOR_JS[ext]);
  for (const candidate of candidates) {
    if (existsSync(candidate) && statSync(candidate).isFile()) return candidate;
  }
  return null;
}

/**
 * The script and every local file it imports, transitively: what a reload must watch.
 * Files under `exclude` (switchyard's own core and modules) are product code, not script.
 */
export function localImportGraph(entry: string, exclude: readonly string[]): string[] {
  const seen = new Set<string>();
  const stack = [path.resolve(entry)];
  while (stack.length > 0) {
    const file = stack.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    let source: string;
    try {
      source = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const m of source.matchAll(SPECIFIER)) {
      const dep = resolveLocal(file, m[1]!);
      if (dep === null || dep.includes(`${path.sep}node_modules${path.sep}`)) continue;
      if (exclude.some((dir) => dep.startsWith(dir + path.sep))) continue;
      stack.push(dep);
    }
  }
  return [...seen];
}
