import { createHash, randomBytes } from 'node:crypto';

/** Marks of the dialogs marked lately, kept so that their in-dialog requests cost a lookup, not a hash. */
const RECENT = 16_384;

/**
 * The mark this proxy puts in its Record-Route URI (`;mark=`): a keyed SHA-256 of the dialog's
 * Call-ID and the caller's tag, cut to 72 bits (a cut digest cannot be extended), under a key of
 * this proxy. An in-dialog request whose Route to this proxy carries a mark that checks out
 * belongs to a dialog this proxy record-routed, so its next hop (the other party, the proxies
 * beyond) may be anywhere; anyone else's Route cannot claim that. The key is the configured
 * `sip.routeSecret` (proxies behind one name, dialogs across restarts), else random per process.
 */
export class RouteMarks {
  private readonly key: Buffer;
  private readonly recent = new Map<string, string>();

  constructor(secret?: string) {
    this.key = secret === undefined ? randomBytes(32) : createHash('sha256').update(secret, 'utf8').digest();
  }

  /** The mark of the dialog of `callId` set up by the caller whose tag is `callerTag`: 12 characters of base64url. */
  mark(callId: string, callerTag: string): string {
    const id = `${callId}\n${callerTag}`;
    let mark = this.recent.get(id);
    if (mark === undefined) {
      mark = createHash('sha256').update(this.key).update(id).digest('base64url').slice(0, 12);
      if (this.recent.size >= RECENT) this.recent.delete(this.recent.keys().next().value!);
      this.recent.set(id, mark);
    }
    return mark;
  }

  /** Whether `mark` is this dialog's: a request carries the caller's tag as its From tag or, from the callee, as its To tag. */
  verify(mark: string, callId: string, tags: readonly (string | undefined)[]): boolean {
    if (mark.length !== 12) return false;
    for (const tag of tags) if (tag !== undefined && this.mark(callId, tag) === mark) return true;
    return false;
  }
}
