/**
 * Node processes on the native addons' sanitizer build (`node native/build.mjs --sanitize`):
 * AddressSanitizer with LeakSanitizer, and UndefinedBehaviorSanitizer. node itself is not
 * instrumented, so the compiler's runtimes are preloaded (LD_PRELOAD) into node processes only,
 * never into the other programs a test starts (SIPp, ip): those would report their own leaks.
 * AddressSanitizer's reports go to files in the run's folder; UndefinedBehaviorSanitizer's (gcc's
 * libubsan beside libasan ignores log_path) to the process's stderr, which the caller hands to
 * findings(). Either way the first error ends the process.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { REPO, TMP } from './proxy-process.ts';

export interface SanitizerRuntime {
  /** The LD_PRELOAD value: libasan first, as AddressSanitizer requires. */
  readonly preload: string;
}

/** The C compiler's libasan and libubsan, or why they cannot be had. */
export function sanitizerRuntime(): SanitizerRuntime | { readonly missing: string } {
  const cc = process.env.CC || 'cc';
  const files: string[] = [];
  for (const lib of ['libasan.so', 'libubsan.so']) {
    const r = spawnSync(cc, [`-print-file-name=${lib}`], { encoding: 'utf8' });
    if (r.error !== undefined) return { missing: `no C compiler "${cc}" (apt-get install -y gcc)` };
    const file = r.stdout.trim();
    if (!path.isAbsolute(file) || !existsSync(file)) return { missing: `${cc} has no ${lib} (Debian: apt-get install -y libasan8 libubsan1)` };
    files.push(file);
  }
  return { preload: files.join(':') };
}

/** Builds the sanitizer variant of both addons when missing or stale; throws with the compiler's words. */
export function buildSanitized(): void {
  const r = spawnSync(process.execPath, [path.join(REPO, 'native', 'build.mjs'), '--sanitize'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`node native/build.mjs --sanitize failed:\n${r.stderr}`);
}

/**
 * Node does not run the finalizers of objects still alive when it exits: what napi_create_external
 * allocated for them (and what they hold: an engine, a socket) is left behind, not lost. Objects
 * reachable only from a suppressed leak are not reported either, so an addon's own leak, memory
 * nothing points to, still is.
 */
const LEAK_SUPPRESSIONS = 'leak:napi_create_external\n';

export interface SanitizerReport {
  readonly file: string;
  readonly text: string;
}

/** A folder for one run's sanitizer reports and the environment that sends them there. */
export class SanitizerRun {
  readonly dir: string;

  constructor(readonly runtime: SanitizerRuntime, name: string) {
    mkdirSync(TMP, { recursive: true });
    this.dir = mkdtempSync(path.join(TMP, `sanitize-${name}-`));
    mkdirSync(path.join(this.dir, 'reports'));
    writeFileSync(path.join(this.dir, 'lsan.supp'), LEAK_SUPPRESSIONS);
  }

  /**
   * The environment of a sanitized node process: the sanitizer build of the addons, required
   * (a test that cannot load it fails instead of running the JS engines), the runtimes
   * preloaded, the first error fatal, leaks checked at exit, reports in files named after the
   * program and its pid.
   */
  env(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
    const reports = path.join(this.dir, 'reports');
    return {
      ...process.env,
      ...extra,
      LD_PRELOAD: this.runtime.preload,
      SWITCHYARD_NATIVE_SANITIZE: '1',
      SWITCHYARD_REQUIRE_NATIVE: '1',
      ASAN_OPTIONS: `halt_on_error=1:detect_leaks=1:log_exe_name=1:log_path=${path.join(reports, 'asan')}`,
      LSAN_OPTIONS: `suppressions=${path.join(this.dir, 'lsan.supp')}:print_suppressions=0`,
      UBSAN_OPTIONS: 'halt_on_error=1:print_stacktrace=1',
    };
  }

  /** AddressSanitizer's reports so far, and UndefinedBehaviorSanitizer's in `outputs` (what sanitized processes wrote). */
  findings(...outputs: string[]): SanitizerReport[] {
    const dir = path.join(this.dir, 'reports');
    const files = readdirSync(dir).sort().map((file) => ({ file, text: readFileSync(path.join(dir, file), 'utf8') }));
    const undefinedBehaviour = outputs.flatMap((o) => o.split('\n').filter((line) => / runtime error: /.test(line))).map((text) => ({ file: 'stderr', text }));
    return [...files, ...undefinedBehaviour];
  }

  /** The findings as one text, for an assertion message. */
  describe(...outputs: string[]): string {
    return this.findings(...outputs).map((r) => `--- ${r.file}\n${r.text}`).join('\n');
  }
}
