/**
 * Deciding whether one node is stale, and why, in words a person understands.
 */
import { changedPaths, computeKey, type NodeKey } from './key.js';
import type { Manifest } from './manifest.js';
import type { Invocation, Json, NodeResult } from './types.js';

export type Assessment =
  | { stale: false; result: NodeResult }
  | { stale: true; reason: string; key: NodeKey; inputs: Json };

export async function assess<C>(inv: Invocation<C>, manifest: Manifest, forced: boolean): Promise<Assessment> {
  const { rule } = inv.node;
  const inputs = await rule.inputs(inv);
  const key = await computeKey(rule.name, rule.version, inputs);
  const entry = manifest.get(inv.node.id);
  if (forced) return { stale: true, reason: 'forced', key, inputs };
  if (!entry) return { stale: true, reason: rule.newReason ?? 'new', key, inputs };
  if (entry.version !== rule.version) {
    return { stale: true, reason: `rule version changed (${entry.version} -> ${rule.version})`, key, inputs };
  }
  if (entry.key !== key.key) {
    const changed = changedPaths(entry.leaves, key.leaves());
    const reason = changed.length === 0 ? 'inputs changed' : (rule.explain?.(changed) ?? defaultExplain(changed));
    return { stale: true, reason, key, inputs };
  }
  const missing = rule.verify ? await rule.verify(inv, entry.result) : null;
  if (missing) return { stale: true, reason: missing, key, inputs };
  return { stale: false, result: entry.result };
}

export function defaultExplain(changed: string[]): string {
  const top = [...new Set(changed.map((p) => p.split(/[.[]/)[0]))];
  const shown = top.slice(0, 3).join(', ');
  return `${shown}${top.length > 3 ? ', ...' : ''} changed`;
}

/** Two results are the same when every output digest and the meta facts are equal. */
export function sameResult(a: NodeResult | null | undefined, b: NodeResult): boolean {
  if (!a) return false;
  const ka = Object.keys(a.outputs);
  const kb = Object.keys(b.outputs);
  if (ka.length !== kb.length) return false;
  for (const k of kb) if (a.outputs[k] !== b.outputs[k]) return false;
  return JSON.stringify(a.meta ?? null) === JSON.stringify(b.meta ?? null);
}
