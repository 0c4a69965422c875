import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type * as TS from 'typescript';
import { PACKAGE_ROOT } from '../core/lib/package-root.ts';
import { localImportGraph } from '../core/script/imports.ts';

export type TypeCheckResult =
  | { readonly ok: true; readonly checked: readonly string[] }
  | { readonly ok: false; readonly errors: readonly string[] }
  | { readonly ok: 'unavailable'; readonly reason: string };

/** The compiler the script's project uses, else the one installed beside switchyard; null when neither has one. */
async function loadTypeScript(scriptDir: string): Promise<typeof TS | null> {
  for (const from of [scriptDir, PACKAGE_ROOT]) {
    let resolved: string;
    try { resolved = createRequire(path.join(from, 'noop.js')).resolve('typescript'); } catch { continue; }
    const mod = (await import(pathToFileURL(resolved).href)) as { default?: typeof TS } & typeof TS;
    return mod.default ?? mod;
  }
  return null;
}

/**
 * Options for a script with no tsconfig.json above it: how jiti loads it (ESM, TypeScript
 * extensions), with `switchyard`, `switchyard/module` and `switchyard/modules` resolved to
 * the installation that runs the check.
 */
function standaloneOptions(ts: typeof TS): TS.CompilerOptions {
  const built = existsSync(path.join(PACKAGE_ROOT, 'dist', 'index.d.ts'));
  const at = (dist: string, source: string): string[] => [path.join(PACKAGE_ROOT, built ? dist : source)];
  return {
    target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.ESNext, moduleResolution: ts.ModuleResolutionKind.Bundler,
    strict: true, noEmit: true, allowImportingTsExtensions: true, skipLibCheck: true,
    paths: {
      switchyard: at('dist/index.d.ts', 'index.ts'),
      'switchyard/module': at('dist/core/module.d.ts', 'core/module.ts'),
      'switchyard/modules': at('dist/modules/index.d.ts', 'modules/index.ts'),
    },
  };
}

/** The compiler options of the tsconfig.json nearest the script, or the standalone ones. */
function optionsFor(ts: typeof TS, script: string): { options: TS.CompilerOptions; errors: readonly TS.Diagnostic[] } {
  const config = ts.findConfigFile(path.dirname(script), (f) => ts.sys.fileExists(f));
  if (config === undefined) return { options: standaloneOptions(ts), errors: [] };
  const read = ts.readConfigFile(config, (f) => ts.sys.readFile(f));
  if (read.error !== undefined) return { options: {}, errors: [read.error] };
  const parsed = ts.parseJsonConfigFileContent(read.config, ts.sys, path.dirname(config), { noEmit: true }, config);
  // A project's `include` need not list the script: its options apply all the same.
  return { options: { ...parsed.options, noEmit: true }, errors: parsed.errors.filter((d) => d.code !== 18003) };
}

/** `file:line:col - error TS2551: message`, as tsc prints it. */
function format(ts: typeof TS, d: TS.Diagnostic): string {
  const text = ts.flattenDiagnosticMessageText(d.messageText, '\n');
  if (d.file === undefined || d.start === undefined) return `error TS${d.code}: ${text}`;
  const { line, character } = d.file.getLineAndCharacterOfPosition(d.start);
  return `${path.relative(process.cwd(), d.file.fileName) || d.file.fileName}:${line + 1}:${character + 1} - error TS${d.code}: ${text}`;
}

/**
 * Type-checks a route script and the local files it imports with the TypeScript compiler API:
 * the errors tsc gives for them (a misspelt ctx function, one of a module the script does not
 * list, an unknown failure route). Product code and libraries are not checked again.
 */
export async function typeCheckScript(file: string, productDirs: readonly string[]): Promise<TypeCheckResult> {
  const script = path.resolve(file);
  const ts = await loadTypeScript(path.dirname(script));
  if (ts === null) return { ok: 'unavailable', reason: 'typescript is not installed (npm install -D typescript @types/node)' };
  const { options, errors: configErrors } = optionsFor(ts, script);
  if (configErrors.length > 0) return { ok: false, errors: configErrors.map((d) => format(ts, d)) };
  const files = localImportGraph(script, productDirs);
  const program = ts.createProgram({ rootNames: files, options });
  const diagnostics: TS.Diagnostic[] = [...program.getOptionsDiagnostics(), ...program.getGlobalDiagnostics()];
  for (const f of files) {
    const sf = program.getSourceFile(f);
    if (sf === undefined) continue;
    diagnostics.push(...program.getSyntacticDiagnostics(sf), ...program.getSemanticDiagnostics(sf));
  }
  const errors = diagnostics.filter((d) => d.category === ts.DiagnosticCategory.Error);
  return errors.length > 0 ? { ok: false, errors: errors.map((d) => format(ts, d)) } : { ok: true, checked: files };
}
