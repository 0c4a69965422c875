/**
 * Small shared fixtures for the unit tests in this folder (not a test file itself).
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Endpoint } from '../../core/lib/address.ts';
import type { Dialect } from '../../core/kernel/dialect.ts';
import { createLogger, type Logger } from '../../core/lib/log.ts';
import type { Inbound, Message, Reply, Request } from '../../core/model/message.ts';
import type { CoreServices } from '../../core/kernel/core-services.ts';
import type { MessageContext } from '../../core/kernel/message-context.ts';
import { createPlainDialect } from '../../core/dialects/plain/dialect.ts';
import { parsePlain } from '../../core/dialects/plain/parse.ts';
import type { RouteSnapshot } from '../../core/kernel/snapshot.ts';
import { ProxyHooks } from '../../core/kernel/hooks.ts';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const TMP = path.join(REPO, 'test', '.tmp');

/** A fresh directory under test/.tmp (git-ignored). */
export function tmpDir(prefix: string): string {
  mkdirSync(TMP, { recursive: true });
  return mkdtempSync(path.join(TMP, `${prefix}-`));
}

export const silentLog: Logger = createLogger({ level: 'silent' });

export const ALICE_ADDR: Endpoint = { address: '::ffff:127.0.0.1', port: 40001 };
export const BOB_ADDR: Endpoint = { address: '::ffff:127.0.0.1', port: 40002 };

export function inbound(source: Endpoint = ALICE_ADDR, listener = 'plain:34567'): Inbound {
  return { listener, source };
}

/** Parses a plain datagram that must be valid. */
export function plainMessage(text: string | Buffer, source: Endpoint = ALICE_ADDR): Message {
  const buf = typeof text === 'string' ? Buffer.from(text, 'latin1') : text;
  const r = parsePlain(buf, inbound(source));
  assert.ok(r.ok, `expected ${JSON.stringify(buf.toString('latin1'))} to parse, got ${r.ok ? '' : r.reason}`);
  return r.msg;
}

export function plainRequest(text: string, source: Endpoint = ALICE_ADDR): Request {
  const m = plainMessage(text, source);
  assert.equal(m.type, 'request');
  return m as Request;
}

export function plainReply(text: string, source: Endpoint = BOB_ADDR): Reply {
  const m = plainMessage(text, source);
  assert.equal(m.type, 'reply');
  return m as Reply;
}

export function snapshot(generation = 1, routes: Partial<RouteSnapshot['routes']> = {}): RouteSnapshot {
  return {
    generation,
    file: '/virtual/proxy.config.ts',
    routes: { request: () => undefined, reply: {}, failure: {}, ...routes },
    defaultReply: { status: 404, reason: 'no route' },
  };
}

export interface SentDatagram { listener: string; to: Endpoint; data: Buffer }

/** A CoreServices that records what modules send and forward. */
export function fakeCore(): CoreServices & { sent: SentDatagram[] } {
  const plain: Dialect = createPlainDialect();
  const sent: SentDatagram[] = [];
  return {
    hooks: new ProxyHooks(),
    dialect: (name) => {
      if (name !== 'plain') throw new Error(`no ${name} dialect in this test`);
      return plain;
    },
    send: (listener, to, data) => { sent.push({ listener, to, data }); },
    isOwnUri: () => false,
    originate: () => Promise.reject(new Error('no SIP in this test')),
    sent,
  };
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls `cond` until it is true or `timeoutMs` passes (then fails with `what`). */
export async function waitFor(cond: () => boolean, what: string, timeoutMs = 5000, everyMs = 10): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) assert.fail(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

/** Asserts that `fn` throws/rejects with a switchyard error of `code`, returns it for more checks. */
export async function rejectsWithCode(fn: () => unknown, code: string): Promise<Error & { code: string; details: Record<string, unknown> }> {
  let caught: unknown = undefined;
  let threw = false;
  try {
    await fn();
  } catch (err) {
    threw = true;
    caught = err;
  }
  assert.ok(threw, `expected an error with code ${code}, but nothing was thrown`);
  assert.ok(caught instanceof Error, `expected an Error, got ${String(caught)}`);
  const e = caught as Error & { code: string; details: Record<string, unknown> };
  assert.equal(e.code, code, `expected code ${code}, got ${e.code}: ${e.message}`);
  return e;
}

export function throwsWithCode(fn: () => unknown, code: string): Error & { code: string; details: Record<string, unknown> } {
  let caught: unknown = undefined;
  let threw = false;
  try {
    fn();
  } catch (err) {
    threw = true;
    caught = err;
  }
  assert.ok(threw, `expected an error with code ${code}, but nothing was thrown`);
  assert.ok(caught instanceof Error, `expected an Error, got ${String(caught)}`);
  const e = caught as Error & { code: string; details: Record<string, unknown> };
  assert.equal(e.code, code, `expected code ${code}, got ${e.code}: ${e.message}`);
  return e;
}
