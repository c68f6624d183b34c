/**
 * Deciding whether one node is stale, and why, as data (words are the reporter's business).
 */
import type { Hasher } from '../util/digest.js';
import { changedInputs, keyWith, type NodeKey } from './key.js';
import type { ManifestEntry } from './manifest.js';
import type { AnyInvocation, AnyRule, NodeResult, OutputProblem, StaleCause } from './types.js';

export type Assessment = { stale: false; result: NodeResult } | { stale: true; cause: StaleCause; key: NodeKey; inputs: unknown };

/**
 * `inv` is the invocation the rule's functions get; `entry` the node's record in the manifest;
 * `h` the loaded hasher. A promise only when the rule's `inputs` or `verify` returns one: planning
 * an up-to-date run assesses every node, and each needless await cost it time.
 */
export function assess(rule: AnyRule, inv: AnyInvocation, entry: ManifestEntry | undefined, forced: boolean, h: Hasher): Assessment | Promise<Assessment> {
  const inputs = rule.inputs(inv);
  if (inputs instanceof Promise) return inputs.then((i) => assessInputs(rule, inv, entry, forced, h, i));
  return assessInputs(rule, inv, entry, forced, h, inputs);
}

function assessInputs(
  rule: AnyRule,
  inv: AnyInvocation,
  entry: ManifestEntry | undefined,
  forced: boolean,
  h: Hasher,
  inputs: unknown,
): Assessment | Promise<Assessment> {
  const key = keyWith(h, rule.name, rule.version, inputs);
  if (forced) return staleFor({ kind: 'forced' }, key, inputs);
  if (!entry) return staleFor({ kind: 'new' }, key, inputs);
  if (entry.version !== rule.version) return staleFor({ kind: 'rule-changed', from: entry.version, to: rule.version }, key, inputs);
  if (entry.key !== key.key) return staleFor({ kind: 'inputs-changed', changes: changedInputs(entry.leaves, key.leaves()) }, key, inputs);
  if (!rule.verify) return { stale: false, result: entry.result };
  const problem = rule.verify(inv, entry.result);
  if (problem instanceof Promise) return problem.then((p) => verdict(p, entry, key, inputs));
  return verdict(problem, entry, key, inputs);
}

// Plain functions, not closures made per node.
function staleFor(cause: StaleCause, key: NodeKey, inputs: unknown): Assessment {
  return { stale: true, cause, key, inputs };
}

function verdict(problem: OutputProblem | null, entry: ManifestEntry, key: NodeKey, inputs: unknown): Assessment {
  return problem ? staleFor({ kind: 'outputs', ...problem }, key, inputs) : { stale: false, result: entry.result };
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
