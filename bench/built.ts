/**
 * A product module as the product runs it: the compiled file in dist/ (the bench:* npm scripts
 * build it first), natively imported, never the source through a transpiler. `source` is the
 * module's source path from the repository root; the caller names its type with
 * `typeof import('../<source>')`.
 */
export async function built<T>(source: string): Promise<T> {
  const url = new URL(`../dist/${source.replace(/\.ts$/, '.js')}`, import.meta.url);
  return (await import(url.href)) as T;
}
