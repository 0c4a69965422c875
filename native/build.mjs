#!/usr/bin/env node
/**
 * Builds the media relay's native engine (native/relay.c → native/build/relay.node) with the
 * system C compiler, at `npm install`. Never fails the install: without a compiler (or with
 * SWITCHYARD_NATIVE=0) the relay runs on its pure-JS engine, which says so when it starts.
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
const source = join(here, 'relay.c');
const output = join(here, 'build', 'relay.node');
const force = process.argv.includes('--force');

function say(text) {
  process.stderr.write(`switchyard native relay: ${text}\n`);
}

/** Node-API headers: those of the running node, else the node-api-headers package. */
function headers() {
  const own = join(dirname(process.execPath), '..', 'include', 'node');
  if (existsSync(join(own, 'node_api.h'))) return own;
  try {
    const pkg = createRequire(import.meta.url).resolve('node-api-headers/package.json');
    return join(dirname(pkg), 'include');
  } catch {
    return null;
  }
}

function build() {
  if (process.env.SWITCHYARD_NATIVE === '0') return say('SWITCHYARD_NATIVE=0: not built (the pure-JS engine will run)');
  if (process.platform !== 'linux') return say(`not built on ${process.platform} (it uses epoll and recvmmsg): the pure-JS engine will run`);
  if (!force && existsSync(output) && statSync(output).mtimeMs >= statSync(source).mtimeMs) return;
  const include = headers();
  if (include === null) return say('no Node-API headers found: not built (the pure-JS engine will run)');
  const cc = process.env.CC || 'cc';
  mkdirSync(join(here, 'build'), { recursive: true });
  const partial = `${output}.${process.pid}.tmp`;
  try {
    execFileSync(cc, ['-O2', '-g', '-fPIC', '-shared', '-pthread', '-std=gnu11', '-Wall', '-Wextra', '-Wno-unused-parameter',
      `-I${include}`, '-o', partial, source], { stdio: ['ignore', 'inherit', 'inherit'] });
    renameSync(partial, output); // a half-written addon is never loaded
    say(`built ${output}`);
  } catch (err) {
    say(`build failed (${err.code === 'ENOENT' ? `no C compiler "${cc}"` : err.message.split('\n')[0]}): the pure-JS engine will run`);
  }
}

build();
