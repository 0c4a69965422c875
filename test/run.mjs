#!/usr/bin/env node
// `npm test`: build dist/ (the end-to-end tests run the proxy from it), type-check the project,
// then run every test file with node's test runner (in-process product code runs from sources).
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

function testFiles(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    if (name === '.tmp' || name === 'fixtures' || name === 'helpers') continue;
    const p = path.join(dir, name);
    if (statSync(p).isDirectory()) out.push(...testFiles(p));
    else if (name.endsWith('.test.ts')) out.push(p);
  }
  return out.sort();
}

/** The SIP tests talk to real peers: SIPp and Kamailio. As root, install them when missing. */
function ensurePeers() {
  const missing = ['sipp', 'kamailio'].filter((cmd) => spawnSync('sh', ['-c', `command -v ${cmd}`]).status !== 0);
  if (missing.length === 0) return;
  if (process.getuid?.() === 0 && spawnSync('sh', ['-c', 'command -v apt-get']).status === 0) {
    console.error(`installing the SIP test peers (${missing.join(', ')}): apt-get install -y sip-tester kamailio`);
    spawnSync('sh', ['-c', 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq sip-tester kamailio >/dev/null'], { stdio: 'inherit' });
  } else {
    console.error(`the SIP tests need ${missing.join(' and ')}: apt-get install -y sip-tester kamailio`);
  }
}

const only = process.argv.slice(2);
// The native media engine is built at install; build it here too if it is missing or stale
// (its tests are skipped without it, or fail with SWITCHYARD_REQUIRE_NATIVE=1).
spawnSync(process.execPath, [path.join(root, 'native', 'build.mjs')], { stdio: 'inherit' });
if (spawnSync(process.execPath, [path.join(root, 'bin', 'build.mjs')], { stdio: 'inherit' }).status !== 0) {
  console.error('build failed');
  process.exit(1);
}
if (only.length === 0 || only.some((f) => f.includes('sip-'))) ensurePeers();
if (only.length === 0) {
  const tsc = spawnSync(process.execPath, [path.join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '--noEmit', '-p', root], { stdio: 'inherit' });
  if (tsc.status !== 0) {
    console.error('type check failed');
    process.exit(1);
  }
}
const files = only.length > 0 ? only : testFiles(path.join(root, 'test'));
// A file whose failure leaves a socket open would keep the run alive: the whole run is bounded.
// (Not --test-force-exit: on Node 22 and 24 it cuts off the report of files still running.)
const RUN_LIMIT_MS = 20 * 60 * 1000;
// Each test process keeps the proxies' state in a folder of its own (test/helpers/state-dir.mjs).
const stateDir = path.join(root, 'test', 'helpers', 'state-dir.mjs');
// The usual report, then the failed tests listed once more at its end.
const failures = path.join(root, 'test', 'helpers', 'failures-reporter.mjs');
const reporters = ['--test-reporter', process.stdout.isTTY ? 'spec' : 'tap', '--test-reporter-destination', 'stdout', '--test-reporter', failures, '--test-reporter-destination', 'stdout'];
const run = spawnSync(process.execPath, ['--import', 'jiti/register', '--import', stateDir, '--test', '--test-concurrency=2', ...reporters, ...files], { stdio: 'inherit', cwd: root, timeout: RUN_LIMIT_MS, killSignal: 'SIGKILL' });
if (run.error !== undefined) console.error(`the test run did not finish within ${RUN_LIMIT_MS / 60000} minutes`);
process.exit(run.status ?? 1);
