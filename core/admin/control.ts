import type { Switchyard } from '../boot/switchyard.ts';
import type { CallInfo, CallMedia, HangupResult, RegistrationInfo } from '../kernel/operations.ts';

/** A call as the control API lists it: the dialog with its relayed media, if any. */
export interface CallView extends CallInfo {
  readonly media: CallMedia | null;
}

/** The control API's answers, read from what the modules offer (kernel/operations.ts). */
export class Control {
  constructor(private readonly proxy: Switchyard, readonly version: string) {}

  private ops() {
    return this.proxy.modules.statuses().filter((m) => m.enabled).map((m) => m.operations);
  }

  info() {
    return {
      version: this.version, node: process.version, pid: process.pid, startedAt: this.proxy.startedAt,
      uptimeSec: Math.round((Date.now() - this.proxy.startedAt) / 1000), script: this.proxy.scriptFile, generation: this.proxy.generation,
      listeners: this.proxy.openListeners(),
    };
  }

  async registrations(query: { user?: string; limit: number }): Promise<RegistrationInfo[]> {
    const out: RegistrationInfo[] = [];
    for (const o of this.ops()) if (o.registrations !== undefined) out.push(...(await o.registrations(query)));
    return out.slice(0, query.limit);
  }

  async calls(): Promise<CallView[]> {
    const ops = this.ops();
    const calls = ops.flatMap((o) => o.calls?.() ?? []);
    return Promise.all(calls.map(async (c) => {
      let media: CallMedia | null = null;
      for (const o of ops) media ??= (await o.callMedia?.(c.callId)) ?? null;
      return { ...c, media };
    }));
  }

  async hangup(callId: string): Promise<HangupResult | null> {
    const by = this.ops().find((o) => o.hangup !== undefined);
    return by === undefined ? null : by.hangup!(callId);
  }

  async stats(): Promise<Record<string, unknown>> {
    const modules: Record<string, unknown> = {};
    for (const m of this.proxy.modules.statuses()) if (m.operations.stats !== undefined) modules[m.name] = await m.operations.stats();
    return { ...this.proxy.stats(), reloads: this.proxy.reloads.counts, modules };
  }

  modules() {
    return this.proxy.modules.statuses().map(({ name, description, enabled }) => ({ name, description, enabled }));
  }

  /** Whether the proxy can take traffic: listeners open, a script serving, every module healthy. */
  async readiness(): Promise<{ ready: boolean; problems: string[] }> {
    const problems: string[] = [];
    if (this.proxy.stopping) problems.push('stopping');
    if (this.proxy.openListeners().length === 0) problems.push('no signaling listener open');
    for (const m of this.proxy.modules.statuses()) {
      if (!m.enabled || m.operations.health === undefined) continue;
      try {
        const h = await m.operations.health();
        if (!h.ok) problems.push(`${m.name}: ${h.detail ?? 'unhealthy'}`);
      } catch (err) {
        problems.push(`${m.name}: ${(err as Error).message}`);
      }
    }
    return { ready: problems.length === 0, problems };
  }
}
