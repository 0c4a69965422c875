#!/usr/bin/env node
/**
 * Builds the native addons with the system C compiler, at `npm install`:
 *   - native/relay.c  → native/build/relay.node:  the media relay's engine;
 *   - native/signal.c → native/build/signal.node: batched signaling sockets (it drives libuv,
 *     so it needs uv.h: node's own headers carry it, else libuv1-dev's).
 * Never fails the install: without a compiler (or with SWITCHYARD_NATIVE=0) the relay and the
 * listeners run on their pure-JS engines, which say so when they start.
 *
 *   node native/build.mjs                       build (skipped when up to date)
 *   node native/build.mjs --force               rebuild
 *   node native/build.mjs --sanitize [--force]  the AddressSanitizer + UndefinedBehaviorSanitizer
 *       variant, with allocation fault injection, in native/build/sanitize/ (the normal build is
 *       left alone). SWITCHYARD_NATIVE_SANITIZE=1 loads it; the process must preload the
 *       sanitizer runtimes (test/helpers/sanitizer.ts says how). Exits 1 when it cannot be built.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const force = process.argv.includes('--force');
const sanitize = process.argv.includes('--sanitize');
const outDir = sanitize ? join(here, 'build', 'sanitize') : join(here, 'build');
const FLAGS = ['-fPIC', '-shared', '-pthread', '-std=gnu11', '-Wall', '-Wextra', '-Wno-unused-parameter'];
const OPTIMIZE = sanitize
  ? ['-O1', '-g', '-fno-omit-frame-pointer', '-fsanitize=address,undefined', '-DSY_FAULT_INJECTION']
  : ['-O2', '-g'];
let failures = 0;

const ADDONS = [
  { name: 'relay', what: 'native relay', fallback: 'the pure-JS media engine will run', needsUv: false },
  { name: 'signal', what: 'native signaling sockets', fallback: 'listeners will use node:dgram', needsUv: true },
];

function say(what, text) {
  process.stderr.write(`switchyard ${what}${sanitize ? ' (sanitizer build)' : ''}: ${text}\n`);
}

function fail(what, text) {
  failures++;
  say(what, text);
}

/** Newer than every file it is made of: the addon's source, native/common.h and this script. */
function upToDate(output, sources) {
  if (!existsSync(output)) return false;
  const built = statSync(output).mtimeMs;
  return sources.every((f) => statSync(f).mtimeMs <= built);
}

/**
 * Node-API headers: those of the running node (with uv.h), else the node-api-headers package
 * (without; a system libuv's /usr/include/uv.h, libuv1-dev, serves then: libuv 1.x keeps its ABI).
 */
function headers() {
  const systemUv = existsSync('/usr/include/uv.h');
  const own = join(dirname(process.execPath), '..', 'include', 'node');
  if (existsSync(join(own, 'node_api.h'))) return { dir: own, uv: existsSync(join(own, 'uv.h')) || systemUv };
  try {
    const pkg = createRequire(import.meta.url).resolve('node-api-headers/package.json');
    return { dir: join(dirname(pkg), 'include'), uv: systemUv };
  } catch {
    return null;
  }
}

function build({ name, what, fallback, needsUv }) {
  const source = join(here, `${name}.c`);
  const output = join(outDir, `${name}.node`);
  if (process.env.SWITCHYARD_NATIVE === '0') return fail(what, `SWITCHYARD_NATIVE=0: not built (${fallback})`);
  if (process.platform !== 'linux') return fail(what, `not built on ${process.platform} (it uses epoll and recvmmsg): ${fallback}`);
  if (!force && upToDate(output, [source, join(here, 'common.h'), fileURLToPath(import.meta.url)])) return;
  const include = headers();
  if (include === null) return fail(what, `no Node-API headers found: not built (${fallback})`);
  if (needsUv && !include.uv) return fail(what, `uv.h not found (neither node's own headers next to ${process.execPath} nor libuv1-dev): not built (${fallback})`);
  const cc = process.env.CC || 'cc';
  mkdirSync(outDir, { recursive: true });
  const partial = `${output}.${process.pid}.tmp`;
  try {
    execFileSync(cc, [...OPTIMIZE, ...FLAGS, `-I${include.dir}`, '-o', partial, source], { stdio: ['ignore', 'inherit', 'inherit'] });
    renameSync(partial, output); // a half-written addon is never loaded
    say(what, `built ${output}`);
  } catch (err) {
    fail(what, `build failed (${err.code === 'ENOENT' ? `no C compiler "${cc}"` : err.message.split('\n')[0]}): ${fallback}`);
  }
}

for (const addon of ADDONS) build(addon);
// The install never fails for want of an addon; a sanitizer build that was asked for does.
if (sanitize && failures > 0) process.exit(1);
