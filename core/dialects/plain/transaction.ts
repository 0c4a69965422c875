import type { Endpoint } from '../../lib/address.ts';
import type { Request } from '../../model/message.ts';
import type { RouteSnapshot } from '../../kernel/snapshot.ts';
import type { TransactionView } from '../../kernel/contracts.ts';

/**
 * A request the proxy forwarded and whose final reply it waits for (a pending call).
 * It pins the route snapshot that armed its reply and failure routes, so a reload in the
 * middle of a call never runs a failure route of another script generation.
 */
export class PlainTransaction implements TransactionView {
  target: Endpoint;
  onFailure: string | undefined;
  onReply: string | undefined;
  timer: NodeJS.Timeout | null = null;
  done = false;
  readonly startedAt = Date.now();

  constructor(
    readonly key: string,
    readonly request: Request,
    readonly snapshot: RouteSnapshot,
    target: Endpoint,
  ) {
    this.target = target;
  }

  clearTimer(): void {
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
  }
}
