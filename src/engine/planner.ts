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
  const stale = (cause: StaleCause): Assessment => ({ stale: true, cause, key, inputs });
  if (forced) return stale({ kind: 'forced' });
  if (!entry) return stale({ kind: 'new' });
  if (entry.version !== rule.version) return stale({ kind: 'rule-changed', from: entry.version, to: rule.version });
  if (entry.key !== key.key) return stale({ kind: 'inputs-changed', changes: changedInputs(entry.leaves, key.leaves()) });
  const verdict = (problem: OutputProblem | null): Assessment => (problem ? stale({ kind: 'outputs', ...problem }) : { stale: false, result: entry.result });
  const problem = rule.verify ? rule.verify(inv, entry.result) : null;
  return problem instanceof Promise ? problem.then(verdict) : verdict(problem);
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
