/**
 * Vocabulary of the build engine. The engine is generic: it knows rules, nodes, keys, outputs
 * and groups (whatever a pipeline repeats its rules over), nothing of what they build. A
 * pipeline supplies rules and a context object `C`.
 */
import type { Log } from '../util/log.js';

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** Hex content digest (xxh64). */
export type Digest = string;

/**
 * What a node produced: named outputs with their digests, plus small facts for dependents
 * (`meta`, typed by the producing rule; it must survive a JSON round trip).
 */
export type NodeResult<M = unknown> = { outputs: Record<string, Digest> } & (undefined extends M ? { meta?: M } : { meta: M });

/**
 * `each`: one node per group, all of whose same-group dependencies are in that group.
 * `one`: a single node for the whole graph (it may depend on every group's node of a rule).
 */
export type Scope = 'each' | 'one';

/** A dependency on the node of `rule` in the same group (only for `each` rules). */
export interface SameGroupDep<R extends AnyRule = AnyRule> {
  readonly kind: 'same-group';
  readonly rule: R;
}

/**
 * A dependency on every group's node of `rule`. With `partial`, the dependent still runs
 * when some of them failed or were skipped; those are then absent from the map.
 */
export interface EveryGroupDep<R extends AnyRule = AnyRule> {
  readonly kind: 'every-group';
  readonly rule: R;
  readonly partial: boolean;
}

export type Dep = SameGroupDep | EveryGroupDep;
export type Deps = Readonly<Record<string, Dep>>;

/** The meta type a rule's results carry. */
export type MetaOf<R> = R extends { run(...args: never[]): Promise<NodeResult<infer M>> } ? M : never;

/** Dependency results as a rule sees them: one result, or a map from group to result. */
export type DepResults<D extends Deps> = {
  readonly [K in keyof D]: D[K] extends EveryGroupDep<infer R>
    ? ReadonlyMap<string, NodeResult<MetaOf<R>>>
    : D[K] extends SameGroupDep<infer R>
      ? NodeResult<MetaOf<R>>
      : never;
};

export type GroupOf<S extends Scope> = S extends 'each' ? string : null;

/** The names under which `D` declares same-group dependencies. */
export type SameGroupNames<D extends Deps> = { [K in keyof D]: D[K] extends SameGroupDep ? K : never }[keyof D];

/** Everything a rule's functions get for one node. */
export interface Invocation<C, M, D extends Deps, S extends Scope> {
  readonly node: NodeRef;
  /** The node's group (for `each` rules), or null. */
  readonly group: GroupOf<S>;
  readonly ctx: C;
  /** Results of the declared dependencies (fresh from this run or recorded in the manifest). */
  readonly deps: DepResults<D>;
  /** What this node produced last time, if the manifest knows. */
  readonly previous: NodeResult<M> | null;
  readonly log: Log;
  /** True in a dry run: functions must not change anything. */
  readonly dryRun: boolean;
  /**
   * Aborted when an interrupted run abandons this node while its rule runs (the rule's
   * `interrupt` is 'abandon'): nothing more it returns is recorded, and it should stop and
   * change nothing more (above all: not move its outputs into place).
   */
  readonly signal: AbortSignal;
  /**
   * Record `meta` as this node's result meta if it turns out up to date: for what a rule keeps
   * beside its outputs only to assess the next run faster (a file's stat fingerprint), which can
   * go stale while the key does not (the file was copied: same bytes, new inode). Ignored when
   * the node runs (its new result is recorded) and in a dry run.
   */
  refreshMeta(meta: M): void;
  /**
   * Make sure a same-group dependency's outputs are in place (its rule's `present`), rebuilding
   * it when they are not: a state directory may hold only the records of what was built.
   * Returns the dependency's result (the rebuilt one, if it ran).
   */
  materialize<K extends SameGroupNames<D>>(name: K): Promise<DepResults<D>[K]>;
}

/** What the engine records of one node: the key it was built with and what it produced. */
export interface NodeRecord<M = unknown> {
  rule: string;
  version: number;
  key: Digest;
  /** Every input leaf (see key.ts), for explaining key changes. */
  leaves: Record<string, string>;
  result: NodeResult<M>;
  /** ISO time the node last ran. */
  at: string;
}

/** While a node runs: its own key, and the records of the same-group nodes it depends on. */
export interface RunInfo {
  key: Digest;
  leaves: Record<string, string>;
  /** Records of the node's same-group dependencies, transitively, by rule name. */
  lineage(): Record<string, NodeRecord>;
}

/** A recorded output that is no longer where it should be (from a rule's `verify`). */
export interface OutputProblem {
  problem: 'missing' | 'differs' | 'pending';
  /** Where the outputs live, in the rule's words (e.g. `repository`, `work directory`). */
  where: string;
  files: string[];
}

/**
 * How a person calls one top-level field of a rule's inputs, for explaining a key change.
 * `detail: 'fields'` lists the changed sub-fields; `'values'` also shows old -> new values.
 */
export interface InputLabel {
  label: string;
  detail?: 'fields' | 'values';
}

export interface Rule<C, M = unknown, D extends Deps = Deps, S extends Scope = Scope, I = unknown> {
  readonly name: string;
  /** Bump when the rule's action changes its outputs for the same inputs. */
  readonly version: number;
  readonly scope: S;
  /** What the rule reads from other rules, by reference: the graph's edges come from here. */
  readonly deps: D;
  /**
   * What an interrupted run does with this rule's node while it runs: 'finish' (the default)
   * waits for it and records it; 'abandon' lets the run end without it (skipped as abandoned,
   * never recorded, `Invocation.signal` aborted). For long actions whose outputs only appear
   * whole (written aside, then renamed into place): abandoning them only loses the work.
   */
  readonly interrupt?: 'finish' | 'abandon';
  /** Names for the top-level fields of `inputs`, used when explaining why a node is stale. */
  readonly inputLabels?: Readonly<Record<string, InputLabel>>;
  /**
   * Exactly the inputs the action reads, as JSON data. Hashed canonically together with the
   * rule name and version into the node's key; dependencies' results are usually part of it.
   */
  inputs(inv: Invocation<C, M, D, S>): I | Promise<I>;
  /** Produce the outputs from `inputs` (what `inputs()` returned for this node). Throw on failure. */
  run(inv: Invocation<C, M, D, S>, inputs: I, self: RunInfo): Promise<NodeResult<M>>;
  /**
   * Cheap check that outputs which must exist (what the node delivers) are in place: what is
   * wrong, or null. A problem makes the node stale.
   */
  verify?(inv: Invocation<C, M, D, S>, recorded: NodeResult<M>): OutputProblem | null | Promise<OutputProblem | null>;
  /**
   * Whether the outputs that dependents read are in place. When not, an up-to-date node stays
   * up to date and is rebuilt only if a dependent that runs asks for them (`materialize`).
   * Asked then, not while planning: an up-to-date run never asks.
   */
  present?(inv: Invocation<C, M, D, S>, recorded: NodeResult<M>): boolean | Promise<boolean>;
}

// biome-ignore lint/suspicious/noExplicitAny: a rule of any context, meta and dependencies
export type AnyRule = Rule<any, any, any, any, any>;
/** The invocation the engine builds for a rule it knows only as `AnyRule`. */
export type AnyInvocation = Parameters<AnyRule['inputs']>[0];

/**
 * Rule constructor for a pipeline whose context is `C` and whose results carry meta `M`
 * (`ruleFor<Ctx, TileMeta>()({...})`). It infers the inputs and dependency types from the
 * definition, so `inv.deps.x` is typed by the rule that produces `x`, and reading a
 * dependency that is not declared does not compile.
 */
export function ruleFor<C, M = undefined>() {
  return <I, const D extends Deps = Record<never, never>, const S extends Scope = 'each'>(rule: Rule<C, M, D, S, I>): Rule<C, M, D, S, I> => rule;
}

/** Declare a dependency on the same group's node of `rule`. */
export function sameGroup<R extends AnyRule>(rule: R): SameGroupDep<R> {
  return { kind: 'same-group', rule };
}

/** Declare a dependency on every group's node of `rule`. */
export function everyGroup<R extends AnyRule>(rule: R, opts: { partial?: boolean } = {}): EveryGroupDep<R> {
  return { kind: 'every-group', rule, partial: opts.partial ?? false };
}

/** How a node is named in outcomes and the manifest: its rule and group. */
export interface NodeRef {
  readonly id: string;
  readonly rule: string;
  readonly group: string | null;
}

export interface InputChange {
  path: string;
  /** The leaf's JSON when it was short enough to keep, else absent (only a digest is kept). */
  before?: string;
  after?: string;
}

/** Why a node is stale. */
export type StaleCause =
  | { kind: 'new' }
  | { kind: 'forced' }
  | { kind: 'rule-changed'; from: number; to: number }
  | { kind: 'inputs-changed'; changes: InputChange[] }
  | ({ kind: 'outputs' } & OutputProblem)
  /** Dry run: a dependency is stale, so this node may run after it. */
  | { kind: 'after'; dep: NodeRef }
  /** Up to date, but its outputs were not here and a dependent that runs reads them. */
  | { kind: 'needed'; by: NodeRef };

/** Why a node did not run although it might have had to. */
export type SkipCause =
  | { kind: 'dependency-failed'; dep: NodeRef }
  | { kind: 'dependency-skipped'; dep: NodeRef }
  /** The run holds this node back (the pipeline's `hold` said why); it is stale for `stale`. */
  | { kind: 'held'; hold: string; stale: StaleCause }
  /** The run was interrupted (a signal) before this node started. */
  | { kind: 'interrupted' }
  /** The run was interrupted while this node ran, and ended without it (`Rule.interrupt`). */
  | { kind: 'abandoned' };

export type Cause = StaleCause | SkipCause;

export type NodeOutcome = NodeRef &
  (
    | { status: 'fresh' }
    | { status: 'would-run'; cause: StaleCause }
    /** `changed`: the outputs differ from the previous run's (false = early cutoff). */
    | { status: 'ran'; cause: StaleCause; changed: boolean; ms: number }
    /** `cause` is absent when the node failed before it could be assessed (reading its inputs). */
    | { status: 'failed'; cause?: StaleCause; error: unknown; ms: number }
    | { status: 'skipped'; cause: SkipCause }
  );

export type NodeStatus = NodeOutcome['status'];

export type EngineEvent =
  | { type: 'plan-start'; total: number }
  /** `key`: the digest of the node's inputs, as its build record will hold it. */
  | { type: 'node-start'; node: NodeRef; cause: StaleCause; key: Digest }
  | { type: 'node-end'; outcome: NodeOutcome }
  | { type: 'run-end'; outcomes: NodeOutcome[] };
