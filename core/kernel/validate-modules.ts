import { z } from 'zod';
import { SwitchyardError } from '../lib/errors.ts';
import type { AnyManifest, AnyModule } from './define-module.ts';

export interface ValidatedModule {
  readonly name: string;
  readonly manifest: AnyManifest;
  readonly config: Record<string, unknown>;
  readonly enabled: boolean;
}

const enabledField = z.object({ enabled: z.boolean().default(true) });

/** `modules[2] (media-relay).idleTimeoutSec: expected number, received string` */
export function formatZodIssues(prefix: string, error: z.ZodError): string[] {
  return error.issues.map((i) => {
    const path = i.path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('');
    return `${prefix}${path}: ${i.message}`;
  });
}

/** Validates each listed module's options against its schema and checks the module set is sound. */
export function validateModules(list: readonly AnyModule[]): ValidatedModule[] {
  const problems: string[] = [];
  const out: ValidatedModule[] = [];
  const seen = new Set<string>();
  list.forEach((m, i) => {
    if (typeof m !== 'object' || m === null || typeof m.manifest?.setup !== 'function') {
      problems.push(`modules[${i}]: not a module (call the module's factory, e.g. registrar())`);
      return;
    }
    if (seen.has(m.name)) {
      throw new SwitchyardError('SY_MODULE_DUPLICATE', `module '${m.name}' is listed twice`, { module: m.name });
    }
    seen.add(m.name);
    const schema = m.manifest.schema.extend(enabledField.shape).strict();
    const parsed = schema.safeParse(m.options);
    if (!parsed.success) {
      problems.push(...formatZodIssues(`modules[${i}] (${m.name})`, parsed.error));
      return;
    }
    const { enabled, ...config } = parsed.data as Record<string, unknown> & { enabled: boolean };
    out.push({ name: m.name, manifest: m.manifest, config, enabled });
  });
  if (problems.length > 0) throw new SwitchyardError('SY_CONFIG_INVALID', problems.join('\n'), { problems });
  const byName = new Map(out.map((m) => [m.name, m]));
  for (const m of out) {
    for (const d of Object.values(m.manifest.dependsOn ?? {})) {
      if (d.kind !== 'required') continue;
      const dep = byName.get(d.module);
      if (dep === undefined) {
        throw new SwitchyardError('SY_MODULE_MISSING_DEP', `module '${m.name}' requires module '${d.module}', which is not listed in modules`, { module: m.name, dependency: d.module });
      }
      if (m.enabled && !dep.enabled) {
        const i = list.findIndex((x) => x.name === d.module);
        throw new SwitchyardError('SY_CONFIG_INVALID', `modules[${i}] (${d.module}).enabled: module '${m.name}' requires it; disable '${m.name}' too, or keep it enabled`, { problems: [`modules[${i}] (${d.module}).enabled: required by '${m.name}'`] });
      }
    }
  }
  return topoSort(out);
}

/** Dependencies first, otherwise the order the script lists them. */
function topoSort(mods: ValidatedModule[]): ValidatedModule[] {
  const byName = new Map(mods.map((m) => [m.name, m]));
  const state = new Map<string, 'visiting' | 'done'>();
  const order: ValidatedModule[] = [];
  const visit = (m: ValidatedModule, path: string[]): void => {
    const s = state.get(m.name);
    if (s === 'done') return;
    if (s === 'visiting') {
      throw new SwitchyardError('SY_MODULE_DEP_CYCLE', `modules depend on each other in a circle: ${[...path, m.name].join(' -> ')}`, { cycle: [...path, m.name] });
    }
    state.set(m.name, 'visiting');
    for (const dep of Object.values(m.manifest.dependsOn ?? {})) {
      const d = byName.get(dep.module);
      if (d !== undefined) visit(d, [...path, m.name]);
    }
    state.set(m.name, 'done');
    order.push(m);
  };
  for (const m of mods) visit(m, []);
  return order;
}
