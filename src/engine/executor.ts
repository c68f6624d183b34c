/**
 * The executor: walks the graph in dependency order, assesses each node (planner.ts), runs the
 * stale ones (up to `jobs` at a time), records results in the manifest as each node finishes,
 * and reports everything as events. A failed node skips its dependents, never its siblings.
 *
 * Early cutoff falls out of the keys: a dependent's key includes its dependencies' output
 * digests, so a dependency that reran and produced identical outputs leaves it up to date.
 * In a dry run nothing runs; a node below a stale one is reported as would-run "after" it.
 */
import { toToastyError } from '../util/errors.js';
import { silentLog, type Log } from '../util/log.js';
import type { BuildGraph } from './graph.js';
import type { Manifest } from './manifest.js';
import { assess, sameResult } from './planner.js';
import type { EngineEvent, Invocation, NodeOutcome, NodeResult, NodeSpec } from './types.js';

export interface ExecuteOptions<C> {
  graph: BuildGraph<C>;
  manifest: Manifest;
  ctx: C;
  log?: Log;
  dryRun?: boolean;
  /** Nodes to rebuild even when up to date. */
  force?: (spec: NodeSpec<C>) => boolean;
  /** How many nodes may run at once (default 1). */
  jobs?: number;
  onEvent?: (e: EngineEvent) => void;
  /**
   * Nodes that may not run in this invocation (a stage command runs one cut of the graph):
   * when stale they are reported as skipped with the reason, and their dependents wait.
   */
  frozen?: (spec: NodeSpec<C>) => boolean;
  /** Stop starting new nodes once aborted (running ones finish). */
  signal?: AbortSignal;
}

interface Settled {
  outcome: NodeOutcome;
  result?: NodeResult;
}

export async function execute<C>(opts: ExecuteOptions<C>): Promise<NodeOutcome[]> {
  const { graph, manifest, ctx } = opts;
  const log = opts.log ?? silentLog;
  const jobs = Math.max(1, opts.jobs ?? 1);
  const emit = opts.onEvent ?? (() => {});
  const order = graph.order();
  const position = new Map(order.map((spec, i) => [spec.id, i]));
  // Assessing a node is cheap I/O: many at once hide the file-system latency. Running one is
  // the real work: at most `jobs`, granted in graph order so images still finish one by one.
  const assessWidth = Math.max(jobs, 32);
  const runSlots = new PrioritySlots(jobs);
  const settled = new Map<string, Settled>();
  const running = new Map<string, Promise<void>>();
  const started = new Set<string>();
  emit({ type: 'plan-start', total: order.length });

  const runNode = async (spec: NodeSpec<C>): Promise<Settled> => {
    const deps = new Map<string, NodeResult>();
    for (const d of spec.deps) {
      const s = settled.get(d)!;
      if (s.outcome.status === 'failed' || s.outcome.status === 'skipped') {
        if (spec.rule.partialDeps) continue;
        return skip(spec, `${d} ${s.outcome.status === 'failed' ? 'failed' : 'was skipped'}`);
      }
      if (s.outcome.status === 'would-run') {
        return { outcome: { ...base(spec), status: 'would-run', reason: `after ${d}` } };
      }
      deps.set(d, s.result!);
    }
    const previous = manifest.get(spec.id)?.result ?? null;
    const inv: Invocation<C> = { node: spec, ctx, deps, previous, log, dryRun: Boolean(opts.dryRun) };
    const t0 = performance.now();
    try {
      const a = await assess(inv, manifest, opts.force?.(spec) ?? false);
      if (!a.stale) return { outcome: { ...base(spec), status: 'fresh' }, result: a.result };
      if (opts.frozen?.(spec)) return skip(spec, `left for its own stage (${a.reason})`);
      if (opts.dryRun) return { outcome: { ...base(spec), status: 'would-run', reason: a.reason } };
      inv.inputs = a.inputs;
      await runSlots.acquire(position.get(spec.id)!);
      emit({ type: 'node-start', id: spec.id, rule: spec.rule.name, group: spec.group, reason: a.reason });
      const tRun = performance.now();
      let result: NodeResult;
      try {
        if (opts.signal?.aborted) throw new Error('run aborted');
        result = await spec.rule.run(inv);
      } finally {
        runSlots.release();
      }
      await manifest.set(spec.id, {
        rule: spec.rule.name,
        version: spec.rule.version,
        key: a.key.key,
        leaves: a.key.leaves(),
        result,
        at: new Date().toISOString(),
      });
      const ms = Math.round(performance.now() - tRun);
      return { outcome: { ...base(spec), status: 'ran', reason: a.reason, changed: !sameResult(previous, result), ms }, result };
    } catch (e) {
      const error = spec.group ? toToastyError(e).forImage(spec.group) : toToastyError(e);
      return { outcome: { ...base(spec), status: 'failed', error, ms: Math.round(performance.now() - t0) } };
    }
  };

  let cursor = 0;
  const nextReady = (): NodeSpec<C> | null => {
    while (cursor < order.length && started.has(order[cursor].id)) cursor++;
    for (let i = cursor; i < order.length; i++) {
      const spec = order[i];
      if (started.has(spec.id)) continue;
      if (spec.deps.every((d) => settled.has(d))) return spec;
    }
    return null;
  };

  for (;;) {
    let spec: NodeSpec<C> | null;
    while (running.size < assessWidth && !opts.signal?.aborted && (spec = nextReady())) {
      const s = spec;
      started.add(s.id);
      const p = runNode(s).then((res) => {
        settled.set(s.id, res);
        running.delete(s.id);
        emit({ type: 'node-end', outcome: res.outcome });
      });
      running.set(s.id, p);
    }
    if (running.size === 0) break;
    await Promise.race(running.values());
  }

  // Nodes never started (aborted) are reported as skipped.
  for (const spec of order) {
    if (!settled.has(spec.id)) settled.set(spec.id, skip(spec, 'run aborted'));
  }
  const outcomes = order.map((s) => settled.get(s.id)!.outcome);
  emit({ type: 'run-end', outcomes });
  return outcomes;
}

function base<C>(spec: NodeSpec<C>) {
  return { id: spec.id, rule: spec.rule.name, group: spec.group };
}

function skip<C>(spec: NodeSpec<C>, because: string): Settled {
  return { outcome: { ...base(spec), status: 'skipped', reason: because } };
}

/** A counting semaphore whose waiters are served lowest priority number first. */
class PrioritySlots {
  private free: number;
  private readonly waiting: Array<{ rank: number; go: () => void }> = [];

  constructor(size: number) {
    this.free = size;
  }

  acquire(rank: number): Promise<void> {
    if (this.free > 0) {
      this.free--;
      return Promise.resolve();
    }
    return new Promise((go) => {
      this.waiting.push({ rank, go });
      this.waiting.sort((a, b) => a.rank - b.rank);
    });
  }

  release(): void {
    const next = this.waiting.shift();
    if (next) next.go();
    else this.free++;
  }
}
