import type { RegistrationRequest } from '../../core/module.ts';
import type { LocationStore } from './store.ts';

/**
 * Which users registered over which stream connection, so that their bindings over it can go
 * when it closes. A connection number is this process's own, so the index lives beside the
 * store rather than in it.
 */
export class ConnectionBindings {
  private readonly users = new Map<number, Set<string>>();

  /** `node`: this proxy's address in a shared store, recorded in the bindings made here (others' connection numbers are theirs). */
  constructor(private readonly store: LocationStore, private readonly node: () => string | undefined = () => undefined) {}

  /** A REGISTER arrived over a stream connection: its user may hold bindings that name it. */
  note(reg: RegistrationRequest): void {
    const { connection } = reg.flow;
    if (connection === null) return;
    let set = this.users.get(connection);
    if (set === undefined) this.users.set(connection, (set = new Set()));
    set.add(reg.aor);
  }

  /** A connection closed whose bindings stay (until they expire). */
  forget(connection: number): void {
    this.users.delete(connection);
  }

  /** Removes every binding that names `connection`; resolves with how many went, and whose. */
  async closed(connection: number): Promise<{ removed: number; users: string[] }> {
    const users = this.users.get(connection);
    this.users.delete(connection);
    let removed = 0;
    const node = this.node();
    for (const aor of users ?? []) {
      removed += await this.store.update(aor, (current) => {
        const kept = current.filter((b) => b.connection !== connection || b.node !== node);
        return { bindings: kept.length === current.length ? current : kept, result: current.length - kept.length };
      });
    }
    return { removed, users: [...(users ?? [])] };
  }
}
