/**
 * The executor: walks the graph in dependency order, assesses each node (planner.ts), runs the
 * stale ones (up to `jobs` at a time), records results in the manifest as each node finishes,
 * and reports everything as events. A failed node skips its dependents, never its siblings.
 *
 * Early cutoff falls out of the keys: a dependent's key includes its dependencies' output
 * digests, so a dependency that reran and produced identical outputs leaves it up to date.
 * In a dry run nothing runs; a node below a stale one is reported as would-run "after" it.
 *
 * Interrupted (`signal`), no node starts any more; the run ends once every node still running
 * is one its rule lets the run abandon (`Rule.interrupt`): those are reported as abandoned
 * and nothing they do later is recorded.
 */
import { silentLog, type Log } from '../util/log.js';
import { MinHeap, refOf, type BuildGraph, type GraphNode } from './graph.js';
import type { Manifest } from './manifest.js';
import { assess, sameResult, type Assessment } from './planner.js';
import type { AnyInvocation, EngineEvent, NodeOutcome, NodeRecord, NodeRef, NodeResult, RunInfo, SkipCause, StaleCause } from './types.js';

export interface ExecuteOptions<C> {
  graph: BuildGraph;
  manifest: Manifest;
  ctx: C;
  log?: Log;
  dryRun?: boolean;
  /** Nodes to rebuild even when up to date. */
  force?: (node: NodeRef) => boolean;
  /** How many nodes may run at once (default 1). */
  jobs?: number;
  onEvent?: (e: EngineEvent) => void;
  /**
   * Nodes that may not run in this invocation (a stage command runs one cut of the graph),
   * with a word for why: when stale they are reported as held, and their dependents wait.
   */
  hold?: (node: NodeRef) => string | null;
  /**
   * Once aborted, no further node starts running; nodes left are skipped as interrupted, so
   * a later run resumes with them. Running nodes finish and are recorded, except those whose
   * rule says 'abandon': the run returns without waiting for them.
   */
  signal?: AbortSignal;
}

interface Settled {
  outcome: NodeOutcome;
  result?: NodeResult;
  /**
   * Up to date: are the outputs dependents read in place (the rule's `present`)? Asked only
   * when a dependent that runs needs them, so planning an up-to-date run checks no files.
   */
  present?: () => Promise<boolean>;
}

/** A dependency's outputs are needed but this run may not rebuild them. */
export class NotMaterializedError extends Error {
  constructor(
    readonly node: NodeRef,
    readonly hold: string,
  ) {
    super(`the outputs of ${node.id} are not in place, and this run may not rebuild them (${hold})`);
    this.name = 'NotMaterializedError';
  }
}

export async function execute<C>(opts: ExecuteOptions<C>): Promise<NodeOutcome[]> {
  const { graph, manifest, ctx } = opts;
  const log = opts.log ?? silentLog;
  const jobs = Math.max(1, opts.jobs ?? 1);
  const emit = opts.onEvent ?? (() => {});
  const order = graph.order();
  const position = new Map(order.map((node, i) => [node.id, i]));
  // Assessing a node is cheap I/O: many at once hide the file-system latency. Running one is
  // the real work: at most `jobs`, granted in graph order so groups still finish one by one.
  const assessWidth = Math.max(jobs, 32);
  const runSlots = new PrioritySlots(jobs, opts.signal);
  const settled = new SettledMap((id) => onSettled(id));
  const running = new Map<string, Promise<void>>();
  const started = new Set<string>();
  const materializing = new Map<string, Promise<NodeResult>>();
  // Per node: aborted when the run abandons it (the rule sees it as `inv.signal`).
  const stops = new Map<string, AbortController>();
  const stopOf = (id: string) => stops.get(id) ?? stops.set(id, new AbortController()).get(id)!;
  // Nodes whose 'abandon' rule is running now, and those the run ended without.
  const abandonable = new Set<string>();
  const abandoned = new Set<string>();
  emit({ type: 'plan-start', total: order.length });

  /** The dependency results the node's rule reads, or why it cannot be assessed now. */
  const gatherDeps = (node: GraphNode): { deps: AnyInvocation['deps'] } | { settled: Settled } => {
    const deps: Record<string, NodeResult | ReadonlyMap<string, NodeResult>> = {};
    for (const link of node.links) {
      // A same-group link names one node: its result, without a map around it.
      if (link.dep.kind === 'same-group') {
        const dep = link.nodes[0]!;
        const s = settled.get(dep.id)!;
        const status = s.outcome.status;
        if (status === 'failed' || status === 'skipped') {
          return { settled: skip(node, { kind: status === 'failed' ? 'dependency-failed' : 'dependency-skipped', dep }) };
        }
        if (status === 'would-run') return { settled: { outcome: { ...refOf(node), status: 'would-run', cause: { kind: 'after', dep } } } };
        deps[link.name] = s.result!;
        continue;
      }
      const results = new Map<string, NodeResult>();
      for (const dep of link.nodes) {
        const s = settled.get(dep.id)!;
        const status = s.outcome.status;
        if (status === 'failed' || status === 'skipped') {
          if (link.dep.kind === 'every-group' && link.dep.partial) continue;
          return { settled: skip(node, { kind: status === 'failed' ? 'dependency-failed' : 'dependency-skipped', dep }) };
        }
        if (status === 'would-run') return { settled: { outcome: { ...refOf(node), status: 'would-run', cause: { kind: 'after', dep } } } };
        results.set(dep.group ?? '', s.result!);
      }
      deps[link.name] = results;
    }
    return { deps };
  };

  /**
   * `stopper`: whose abandonment stops it (a node rebuilt for another stops with that one).
   * The signal is made when a rule first asks: an up-to-date node never does.
   */
  const invocation = (node: GraphNode, deps: AnyInvocation['deps'], stopper = node.id): AnyInvocation => {
    const nodeRef = refOf(node);
    const inv: AnyInvocation = {
      node: nodeRef,
      group: node.group,
      ctx,
      deps,
      previous: manifest.get(node.id)?.result ?? null,
      log,
      dryRun: Boolean(opts.dryRun),
      get signal() {
        return stopOf(stopper).signal;
      },
      refreshMeta: (meta: unknown) => {
        refreshedMeta.set(node.id, meta);
      },
      materialize: async (name: string) => {
        const link = node.links.find((l) => l.name === name && l.dep.kind === 'same-group');
        if (!link) throw new Error(`${node.id} cannot materialize ${name}: not a same-group dependency`);
        const result = await materialize(graph.node(link.nodes[0].id), nodeRef);
        (deps as Record<string, NodeResult>)[name] = result;
        return result;
      },
    };
    return inv;
  };

  /** Meta that rules asked to record for nodes found up to date (`inv.refreshMeta`). */
  const refreshedMeta = new Map<string, unknown>();
  /** An up-to-date node's result, with the meta its rule refreshed recorded (not in a dry run). */
  const refreshed = async (node: GraphNode, result: NodeResult): Promise<NodeResult> => {
    if (!refreshedMeta.has(node.id) || opts.dryRun) return result;
    const entry = manifest.get(node.id);
    if (!entry) return result;
    const updated = { ...result, meta: refreshedMeta.get(node.id) };
    await manifest.set(node.id, { rule: entry.rule, version: entry.version, key: entry.key, leaves: entry.leaves, result: updated, at: entry.at });
    return updated;
  };

  /** Run the rule and record what it built. */
  const build = async (node: GraphNode, inv: AnyInvocation, a: Extract<Assessment, { stale: true }>): Promise<NodeResult> => {
    const self: RunInfo = { key: a.key.key, leaves: a.key.leaves(), lineage: () => lineage(node) };
    const result = await node.rule.run(inv, a.inputs, self);
    // Abandoned: the run has ended (its manifest may be closed); what came late is not recorded.
    if (inv.signal.aborted) throw new Error(`${node.id} was abandoned`);
    await manifest.set(node.id, {
      rule: node.rule.name,
      version: node.rule.version,
      key: a.key.key,
      leaves: self.leaves,
      result,
      at: new Date().toISOString(),
    });
    return result;
  };

  /** The records of a node's same-group dependencies, transitively, by rule name. */
  const lineage = (node: GraphNode): Record<string, NodeRecord> => {
    const out: Record<string, NodeRecord> = {};
    const visit = (n: GraphNode) => {
      for (const link of n.links) {
        if (link.dep.kind !== 'same-group') continue;
        const dep = graph.node(link.nodes[0].id);
        const entry = manifest.get(dep.id);
        if (entry && !(dep.rule.name in out)) out[dep.rule.name] = entry;
        visit(dep);
      }
    };
    visit(node);
    return out;
  };

  /** Rebuild an up-to-date node whose outputs are not in place, once, for `by`. */
  const materialize = (node: GraphNode, by: NodeRef): Promise<NodeResult> => {
    const s = settled.get(node.id);
    if (!s?.result) return Promise.reject(new Error(`${node.id} has no result to materialize`));
    const present = s.present;
    if (!present) return Promise.resolve(s.result);
    let p = materializing.get(node.id);
    if (!p) {
      p = (async () => {
        if (await present()) return s.result!;
        const nodeRef = refOf(node);
        const hold = opts.hold?.(nodeRef);
        if (hold) throw new NotMaterializedError(nodeRef, hold);
        const gathered = gatherDeps(node);
        if ('settled' in gathered) throw new Error(`${node.id} cannot be rebuilt: its dependencies did not complete`);
        const inv = invocation(node, gathered.deps, by.id);
        const a = await assess(node.rule, inv, node.id, manifest, true);
        if (!a.stale) return a.result;
        const cause: StaleCause = { kind: 'needed', by };
        emit({ type: 'node-start', node: nodeRef, cause, key: a.key.key });
        const t0 = performance.now();
        try {
          const result = await build(node, inv, a);
          const outcome: NodeOutcome = { ...nodeRef, status: 'ran', cause, changed: !sameResult(s.result, result), ms: Math.round(performance.now() - t0) };
          settled.set(node.id, { outcome, result });
          emit({ type: 'node-end', outcome });
          return result;
        } catch (error) {
          // The run ended without the node that asked: nothing to report any more.
          if (inv.signal.aborted) throw error;
          const outcome: NodeOutcome = { ...nodeRef, status: 'failed', cause, error, ms: Math.round(performance.now() - t0) };
          settled.set(node.id, { outcome });
          emit({ type: 'node-end', outcome });
          throw error;
        }
      })();
      materializing.set(node.id, p);
    }
    return p;
  };

  const runNode = async (node: GraphNode): Promise<Settled> => {
    const gathered = gatherDeps(node);
    if ('settled' in gathered) return gathered.settled;
    const inv = invocation(node, gathered.deps);
    const nodeRef = inv.node;
    const t0 = performance.now();
    let cause: StaleCause | null = null;
    try {
      const a = await assess(node.rule, inv, node.id, manifest, opts.force?.(nodeRef) ?? false);
      if (!a.stale) {
        const result = await refreshed(node, a.result);
        const fresh: Settled = { outcome: { ...nodeRef, status: 'fresh' }, result };
        if (node.rule.present) fresh.present = async () => node.rule.present!(inv, a.result);
        return fresh;
      }
      cause = a.cause;
      const hold = opts.hold?.(nodeRef);
      if (hold) return skip(node, { kind: 'held', hold, stale: a.cause });
      if (opts.dryRun) return { outcome: { ...nodeRef, status: 'would-run', cause: a.cause } };
      if (!(await runSlots.acquire(position.get(node.id)!))) return skip(node, { kind: 'interrupted' });
      emit({ type: 'node-start', node: nodeRef, cause: a.cause, key: a.key.key });
      const tRun = performance.now();
      let result: NodeResult;
      if (node.rule.interrupt === 'abandon') abandonable.add(node.id);
      try {
        result = await build(node, inv, a);
      } finally {
        abandonable.delete(node.id);
        runSlots.release();
      }
      const ms = Math.round(performance.now() - tRun);
      return { outcome: { ...nodeRef, status: 'ran', cause: a.cause, changed: !sameResult(inv.previous, result), ms }, result };
    } catch (error) {
      // A failure while assessing (reading inputs) counts against the node like a failed run.
      const ms = Math.round(performance.now() - t0);
      return { outcome: { ...nodeRef, status: 'failed', ...(cause ? { cause } : {}), error, ms } };
    }
  };

  // Nodes whose dependencies have all settled, lowest position first: kept up to date as
  // nodes settle, since scanning the order for them cost planning time per node.
  const dependents: number[][] = order.map(() => []);
  const waitingOn = new Int32Array(order.length);
  const ready = new MinHeap();
  for (let i = 0; i < order.length; i++) {
    // A node may reach the same dependency by two links: it waits for it once.
    let waits = 0;
    for (const link of order[i]!.links) {
      for (const d of link.nodes) {
        const list = dependents[position.get(d.id)!]!;
        if (list[list.length - 1] === i) continue;
        list.push(i);
        waits++;
      }
    }
    waitingOn[i] = waits;
    if (waits === 0) ready.push(i);
  }
  const onSettled = (id: string) => {
    for (const i of dependents[position.get(id)!]!) if (--waitingOn[i]! === 0) ready.push(i);
  };
  const nextReady = (): GraphNode | null => {
    while (ready.size) {
      const node = order[ready.pop()!]!;
      if (!started.has(node.id)) return node;
    }
    return null;
  };

  const signal = opts.signal;
  const interrupted = new Promise<void>((resolve) => {
    if (signal?.aborted) resolve();
    else signal?.addEventListener('abort', () => resolve(), { once: true });
  });
  for (;;) {
    while (running.size < assessWidth && !signal?.aborted) {
      const n = nextReady();
      if (!n) break;
      started.add(n.id);
      const p = runNode(n).then((res) => {
        // Ended without it: its late outcome is not this run's.
        if (abandoned.has(n.id)) return;
        settled.set(n.id, res);
        running.delete(n.id);
        emit({ type: 'node-end', outcome: res.outcome });
      });
      running.set(n.id, p);
    }
    if (running.size === 0) break;
    if (signal?.aborted && [...running.keys()].every((id) => abandonable.has(id))) {
      for (const id of running.keys()) {
        abandoned.add(id);
        stopOf(id).abort();
        const outcome = skip(graph.node(id), { kind: 'abandoned' }).outcome;
        settled.set(id, { outcome });
        emit({ type: 'node-end', outcome });
      }
      break;
    }
    // Until interrupted, the interruption wakes the loop too (once it has, it would spin).
    await Promise.race(signal?.aborted ? running.values() : [...running.values(), interrupted]);
  }

  const outcomes = order.map((n) => settled.get(n.id)?.outcome ?? skip(n, { kind: 'interrupted' }).outcome);
  emit({ type: 'run-end', outcomes });
  return outcomes;
}

function skip(node: GraphNode, cause: SkipCause): Settled {
  return { outcome: { ...refOf(node), status: 'skipped', cause } };
}

/** The settled nodes; the first time a node settles, `onFirst` hears of it. */
class SettledMap extends Map<string, Settled> {
  constructor(private readonly onFirst: (id: string) => void) {
    super();
  }

  override set(id: string, s: Settled): this {
    const first = !this.has(id);
    super.set(id, s);
    if (first) this.onFirst(id);
    return this;
  }
}

/**
 * A counting semaphore whose waiters are served lowest priority number first. Once `signal`
 * is aborted no slot is granted: waiters get false (they would wait for abandoned nodes).
 */
class PrioritySlots {
  private free: number;
  private readonly waiting: Array<{ rank: number; go: (granted: boolean) => void }> = [];

  constructor(
    size: number,
    private readonly signal?: AbortSignal,
  ) {
    this.free = size;
    signal?.addEventListener('abort', () => {
      for (const w of this.waiting.splice(0)) w.go(false);
    });
  }

  /** Whether the slot was granted (release it then); false once interrupted. */
  acquire(rank: number): Promise<boolean> {
    if (this.signal?.aborted) return Promise.resolve(false);
    if (this.free > 0) {
      this.free--;
      return Promise.resolve(true);
    }
    return new Promise((go) => {
      this.waiting.push({ rank, go });
      this.waiting.sort((a, b) => a.rank - b.rank);
    });
  }

  release(): void {
    const next = this.waiting.shift();
    if (next) next.go(true);
    else this.free++;
  }
}
