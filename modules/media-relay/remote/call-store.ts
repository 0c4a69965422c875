/**
 * Which remote relay holds each call, kept in Redis or Valkey so that it outlives this process:
 * after a restart the relays still carry the calls' media, and a BYE that comes then still
 * finds the relay to send `delete` to. One key per call, `<prefix>relaycall:<Call-ID>`, a small
 * JSON value, expiring after the longest a call may last. Failures are logged, never thrown:
 * losing this record costs a relay session that its own idle timeout ends.
 */
import { Redis } from 'ioredis';
import type { Logger } from '../../../core/module.ts';

export interface StoredCall {
  readonly relay: string;
  readonly callerTag: string;
  readonly calleeTag: string | undefined;
}

export interface RemoteCallStoreOptions {
  readonly url: string;
  readonly prefix: string;
  /** How long a record is kept at most (a call longer than that has its record gone). */
  readonly ttlSec: number;
  readonly commandTimeoutMs: number;
  readonly log: Logger;
}

export class RemoteCallStore {
  private readonly redis: Redis;

  private constructor(private readonly o: RemoteCallStoreOptions) {
    const common = { lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0, commandTimeout: o.commandTimeoutMs, connectTimeout: o.commandTimeoutMs, retryStrategy: (times: number) => Math.min(100 * times, 2000) };
    this.redis = o.url.startsWith('unix://') ? new Redis({ ...common, path: o.url.slice('unix://'.length) }) : new Redis(o.url, common);
    this.redis.on('error', () => undefined); // each command reports its own failure
  }

  static async open(o: RemoteCallStoreOptions): Promise<RemoteCallStore> {
    const store = new RemoteCallStore(o);
    try {
      await store.redis.connect();
    } catch (err) {
      o.log.warn({ err: (err as Error).message }, 'media relay call store: not reachable yet');
    }
    return store;
  }

  private key(callId: string): string {
    return `${this.o.prefix}relaycall:${callId}`;
  }

  save(callId: string, call: StoredCall): void {
    this.redis.set(this.key(callId), JSON.stringify(call), 'EX', this.o.ttlSec).catch((err: Error) => {
      this.o.log.warn({ callId, err: err.message }, 'media relay call store: not saved');
    });
  }

  async take(callId: string): Promise<StoredCall | null> {
    try {
      const text = await this.redis.getdel(this.key(callId));
      if (text === null) return null;
      const v = JSON.parse(text) as StoredCall;
      return typeof v.relay === 'string' && typeof v.callerTag === 'string' ? v : null;
    } catch (err) {
      this.o.log.warn({ callId, err: (err as Error).message }, 'media relay call store: not read');
      return null;
    }
  }

  remove(callId: string): void {
    this.redis.del(this.key(callId)).catch(() => undefined);
  }

  async close(): Promise<void> {
    try {
      await this.redis.quit();
    } catch {
      this.redis.disconnect();
    }
  }
}
