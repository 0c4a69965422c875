#!/usr/bin/env node
/**
 * Builds the native addons with the system C compiler, at `npm install`:
 *   - native/relay.c  → native/build/relay.node:  the media relay's engine;
 *   - native/signal.c → native/build/signal.node: batched signaling sockets (it drives libuv,
 *     so it needs uv.h: node's own headers carry it, else libuv1-dev's).
 * Never fails the install: without a compiler (or with SWITCHYARD_NATIVE=0) the relay and the
 * listeners run on their pure-JS engines, which say so when they start.
 *
 *   node native/build.mjs            build (skipped when up to date)
 *   node native/build.mjs --force    rebuild
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const force = process.argv.includes('--force');

const ADDONS = [
  { name: 'relay', what: 'native relay', fallback: 'the pure-JS media engine will run', needsUv: false },
  { name: 'signal', what: 'native signaling sockets', fallback: 'listeners will use node:dgram', needsUv: true },
];

function say(what, text) {
  process.stderr.write(`switchyard ${what}: ${text}\n`);
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
  const output = join(here, 'build', `${name}.node`);
  if (process.env.SWITCHYARD_NATIVE === '0') return say(what, `SWITCHYARD_NATIVE=0: not built (${fallback})`);
  if (process.platform !== 'linux') return say(what, `not built on ${process.platform} (it uses epoll and recvmmsg): ${fallback}`);
  if (!force && existsSync(output) && statSync(output).mtimeMs >= statSync(source).mtimeMs) return;
  const include = headers();
  if (include === null) return say(what, `no Node-API headers found: not built (${fallback})`);
  if (needsUv && !include.uv) return say(what, `uv.h not found (neither node's own headers next to ${process.execPath} nor libuv1-dev): not built (${fallback})`);
  const cc = process.env.CC || 'cc';
  mkdirSync(join(here, 'build'), { recursive: true });
  const partial = `${output}.${process.pid}.tmp`;
  try {
    execFileSync(cc, ['-O2', '-g', '-fPIC', '-shared', '-pthread', '-std=gnu11', '-Wall', '-Wextra', '-Wno-unused-parameter',
      `-I${include.dir}`, '-o', partial, source], { stdio: ['ignore', 'inherit', 'inherit'] });
    renameSync(partial, output); // a half-written addon is never loaded
    say(what, `built ${output}`);
  } catch (err) {
    say(what, `build failed (${err.code === 'ENOENT' ? `no C compiler "${cc}"` : err.message.split('\n')[0]}): ${fallback}`);
  }
}

for (const addon of ADDONS) build(addon);
