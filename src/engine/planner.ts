/**
 * Deciding whether one node is stale, and why, as data (words are the reporter's business).
 */
import { changedInputs, computeKey, type NodeKey } from './key.js';
import type { Manifest } from './manifest.js';
import type { AnyInvocation, AnyRule, NodeResult, StaleCause } from './types.js';

export type Assessment = { stale: false; result: NodeResult } | { stale: true; cause: StaleCause; key: NodeKey; inputs: unknown };

/** `inv` is the invocation the rule's functions get; `id` names the node in the manifest. */
export async function assess(rule: AnyRule, inv: AnyInvocation, id: string, manifest: Manifest, forced: boolean): Promise<Assessment> {
  const inputs = await rule.inputs(inv);
  const key = await computeKey(rule.name, rule.version, inputs);
  const entry = manifest.get(id);
  const stale = (cause: StaleCause): Assessment => ({ stale: true, cause, key, inputs });
  if (forced) return stale({ kind: 'forced' });
  if (!entry) return stale({ kind: 'new' });
  if (entry.version !== rule.version) return stale({ kind: 'rule-changed', from: entry.version, to: rule.version });
  if (entry.key !== key.key) return stale({ kind: 'inputs-changed', changes: changedInputs(entry.leaves, key.leaves()) });
  const problem = rule.verify ? await rule.verify(inv, entry.result) : null;
  if (problem) return stale({ kind: 'outputs', ...problem });
  return { stale: false, result: entry.result };
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
