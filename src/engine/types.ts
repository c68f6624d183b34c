/**
 * Vocabulary of the build engine. The engine is generic: it knows nodes, rules, keys and
 * outputs, never images or WWT. A pipeline supplies rules and a context object `C`.
 */
import type { Log } from '../util/log.js';

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** Hex content digest (xxh64). */
export type Digest = string;

/** What a node produced: named outputs with their digests, plus small facts for dependents. */
export interface NodeResult {
  outputs: Record<string, Digest>;
  meta?: Json;
}

/** Everything a rule's functions get for one node. */
export interface Invocation<C> {
  readonly node: NodeSpec<C>;
  readonly ctx: C;
  /** Results of the node's dependencies (fresh from this run or recorded in the manifest). */
  readonly deps: ReadonlyMap<string, NodeResult>;
  /** What this node produced last time, if the manifest knows. */
  readonly previous: NodeResult | null;
  readonly log: Log;
  /** The node's inputs as computed for its key (set before `run`). */
  inputs?: Json;
  /** True in a dry run: functions must not change anything. */
  readonly dryRun: boolean;
}

export interface Rule<C> {
  readonly name: string;
  /** Bump when the rule's action changes its outputs for the same inputs. */
  readonly version: number;
  /**
   * Run even when some dependencies failed or were skipped; those are then absent from
   * `deps` (an index that must list whatever did get published).
   */
  readonly partialDeps?: boolean;
  /** Reason shown when the manifest has never seen the node (e.g. "new image"). */
  readonly newReason?: string;
  /**
   * Exactly the inputs the action reads, as data. Hashed canonically together with the rule
   * name and version into the node's key; dependencies' results are usually part of it.
   */
  inputs(inv: Invocation<C>): Json | Promise<Json>;
  /** Produce the outputs. Throw (ideally a ToastyError) on failure. */
  run(inv: Invocation<C>): Promise<NodeResult>;
  /** Cheap check that the recorded outputs are still in place: a reason if not, else null. */
  verify?(inv: Invocation<C>, recorded: NodeResult): Promise<string | null>;
  /** Human wording for a key change, given the changed input paths (e.g. `record.title`). */
  explain?(changed: string[]): string;
}

export interface NodeSpec<C> {
  /** Unique id, conventionally `rule:group`. */
  readonly id: string;
  readonly rule: Rule<C>;
  /** What the node is about (an image id), or null for whole-graph nodes. */
  readonly group: string | null;
  readonly deps: readonly string[];
}

export type NodeStatus =
  | 'fresh' // up to date, nothing done
  | 'ran' // ran this time
  | 'would-run' // dry run: stale
  | 'failed'
  | 'skipped'; // a dependency failed

export interface NodeOutcome {
  id: string;
  rule: string;
  group: string | null;
  status: NodeStatus;
  /** Why it ran / would run / was skipped. */
  reason?: string;
  /** After running: true when the outputs differ from the previous run (false = early cutoff). */
  changed?: boolean;
  error?: Error;
  ms?: number;
}

export type EngineEvent =
  | { type: 'plan-start'; total: number }
  | { type: 'node-start'; id: string; rule: string; group: string | null; reason: string }
  | { type: 'node-end'; outcome: NodeOutcome }
  | { type: 'run-end'; outcomes: NodeOutcome[] };
