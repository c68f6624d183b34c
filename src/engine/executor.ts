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
import { hasher } from '../util/digest.js';
import { silentLog, type Log } from '../util/log.js';
import { MinHeap, refOf, type BuildGraph, type GraphNode } from './graph.js';
import type { Manifest, ManifestEntry } from './manifest.js';
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

/**
 * A settled node. A fresh one's outputs that dependents read may not be in place (the rule's
 * `present`): asked only when a dependent that runs needs them (`materialize`), so planning an
 * up-to-date run checks no files.
 */
interface Settled {
  outcome: NodeOutcome;
  result?: NodeResult;
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
  // By id, for the rare node found by id (one rebuilt for another, an abandoned one).
  let positions: Map<string, number> | null = null;
  const positionOf = (id: string) => {
    positions ??= new Map(order.map((node, i) => [node.id, i]));
    return positions.get(id)!;
  };
  // Assessing a node is cheap I/O: many at once hide the file-system latency. Running one is
  // the real work: at most `jobs`, granted in graph order so groups still finish one by one.
  const assessWidth = Math.max(jobs, 32);
  const runSlots = new PrioritySlots(jobs, opts.signal);
  // By position: an up-to-date run settles every node, and maps by id cost it time.
  const n = order.length;
  // Flat arrays rather than an array per node (at 40,000 nodes those were megabytes): every
  // link's nodes by position, in link order, node i's from linkStart[i].
  let linkCount = 0;
  for (const node of order) for (const link of node.links) linkCount += link.added.length;
  const linkItems = new Int32Array(linkCount);
  const linkStart = new Int32Array(n + 1);
  for (let i = 0, k = 0; i < n; i++) {
    linkStart[i] = k;
    for (const link of order[i]!.links) for (const a of link.added) linkItems[k++] = graph.positionOf(a);
  }
  linkStart[n] = linkCount;
  // Each node's distinct dependencies (it may reach one by two links), and their dependents,
  // lowest position first.
  const dependencyItems = new Int32Array(linkCount);
  const dependencyStart = new Int32Array(n + 1);
  const dependentCount = new Int32Array(n);
  const lastSeenBy = new Int32Array(n).fill(-1);
  let distinct = 0;
  for (let i = 0; i < n; i++) {
    dependencyStart[i] = distinct;
    for (let j = linkStart[i]!; j < linkStart[i + 1]!; j++) {
      const d = linkItems[j]!;
      if (lastSeenBy[d] === i) continue;
      lastSeenBy[d] = i;
      dependencyItems[distinct++] = d;
      dependentCount[d]!++;
    }
  }
  dependencyStart[n] = distinct;
  const dependentStart = new Int32Array(n + 1);
  for (let i = 0; i < n; i++) dependentStart[i + 1] = dependentStart[i]! + dependentCount[i]!;
  const dependentItems = new Int32Array(dependentStart[n]!);
  const filled = dependentStart.slice(0, n);
  for (let i = 0; i < n; i++) for (let j = dependencyStart[i]!; j < dependencyStart[i + 1]!; j++) dependentItems[filled[dependencyItems[j]!]!++] = i;
  const settledAt: (Settled | undefined)[] = new Array(order.length);
  const settle = (i: number, s: Settled) => {
    const first = settledAt[i] === undefined;
    settledAt[i] = s;
    if (first) onSettled(i);
  };
  const running = new Set<string>();
  const started = new Uint8Array(order.length);
  const materializing = new Map<string, Promise<NodeResult>>();
  // Per node: aborted when the run abandons it (the rule sees it as `inv.signal`).
  const stops = new Map<string, AbortController>();
  const stopOf = (id: string) => stops.get(id) ?? stops.set(id, new AbortController()).get(id)!;
  // Nodes whose 'abandon' rule is running now, and those the run ended without.
  const abandonable = new Set<string>();
  const abandoned = new Set<string>();
  // Loaded before the first node, so keying one needs no promise.
  const h = await hasher();
  emit({ type: 'plan-start', total: order.length });

  /** The dependency results the node's rule reads, or why it cannot be assessed now. */
  const gatherDeps = (node: GraphNode, at: number): { deps: AnyInvocation['deps'] } | { settled: Settled } => {
    const deps: Record<string, NodeResult | ReadonlyMap<string, NodeResult>> = {};
    let first = linkStart[at]!;
    for (const link of node.links) {
      const from = first;
      first += link.nodes.length;
      // A same-group link names one node: its result, without a map around it.
      if (link.dep.kind === 'same-group') {
        const dep = link.nodes[0]!;
        const s = settledAt[linkItems[from]!]!;
        const status = s.outcome.status;
        if (status === 'failed' || status === 'skipped') {
          return { settled: skip(node, { kind: status === 'failed' ? 'dependency-failed' : 'dependency-skipped', dep }) };
        }
        if (status === 'would-run')
          return { settled: { outcome: { id: node.id, rule: node.rule.name, group: node.group, status: 'would-run', cause: { kind: 'after', dep } } } };
        deps[link.name] = s.result ?? releasedResult(linkItems[from]!);
        continue;
      }
      const results = new Map<string, NodeResult>();
      for (let d = 0; d < link.nodes.length; d++) {
        const dep = link.nodes[d]!;
        const s = settledAt[linkItems[from + d]!]!;
        const status = s.outcome.status;
        if (status === 'failed' || status === 'skipped') {
          if (link.dep.kind === 'every-group' && link.dep.partial) continue;
          return { settled: skip(node, { kind: status === 'failed' ? 'dependency-failed' : 'dependency-skipped', dep }) };
        }
        if (status === 'would-run')
          return { settled: { outcome: { id: node.id, rule: node.rule.name, group: node.group, status: 'would-run', cause: { kind: 'after', dep } } } };
        results.set(dep.group ?? '', s.result ?? releasedResult(linkItems[from + d]!));
      }
      deps[link.name] = results;
    }
    return { deps };
  };

  /**
   * `stopper`: whose abandonment stops it (a node rebuilt for another stops with that one).
   * One object per node and no closures: an up-to-date run makes one for every node.
   */
  const invocation = (node: GraphNode, deps: AnyInvocation['deps'], entry: ManifestEntry | undefined, stopper = node.id): AnyInvocation =>
    new NodeInvocation(hooks, node, deps, entry?.result ?? null, stopper);

  /** Meta that rules asked to record for nodes found up to date (`inv.refreshMeta`). */
  const refreshedMeta = new Map<string, unknown>();
  const hooks: InvocationHooks = {
    ctx,
    log,
    dryRun: Boolean(opts.dryRun),
    signalOf: (id) => stopOf(id).signal,
    refreshMeta: (id, meta) => void refreshedMeta.set(id, meta),
    materialize: (id, by) => materialize(graph.node(id), by),
  };
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
    const at = positionOf(node.id);
    const settledNow = settledAt[at];
    const s = settledNow && !settledNow.result && released[at] ? { ...settledNow, result: releasedResult(at) } : settledNow;
    if (!s?.result) return Promise.reject(new Error(`${node.id} has no result to materialize`));
    const present = node.rule.present;
    if (!present || s.outcome.status !== 'fresh') return Promise.resolve(s.result);
    let p = materializing.get(node.id);
    if (!p) {
      p = (async () => {
        const gathered = gatherDeps(node, at);
        const entry = manifest.get(node.id);
        const inv = invocation(node, 'deps' in gathered ? gathered.deps : {}, entry, by.id);
        if (await present(inv, s.result!)) return s.result!;
        const nodeRef = refOf(node);
        const hold = opts.hold?.(nodeRef);
        if (hold) throw new NotMaterializedError(nodeRef, hold);
        if ('settled' in gathered) throw new Error(`${node.id} cannot be rebuilt: its dependencies did not complete`);
        const a = await assess(node.rule, inv, entry, true, h);
        if (!a.stale) return a.result;
        const cause: StaleCause = { kind: 'needed', by };
        emit({ type: 'node-start', node: nodeRef, cause, key: a.key.key });
        const t0 = performance.now();
        try {
          const result = await build(node, inv, a);
          const outcome: NodeOutcome = { ...nodeRef, status: 'ran', cause, changed: !sameResult(s.result, result), ms: Math.round(performance.now() - t0) };
          settle(at, { outcome, result });
          emit({ type: 'node-end', outcome });
          return result;
        } catch (error) {
          // The run ended without the node that asked: nothing to report any more.
          if (inv.signal.aborted) throw error;
          const outcome: NodeOutcome = { ...nodeRef, status: 'failed', cause, error, ms: Math.round(performance.now() - t0) };
          settle(at, { outcome });
          emit({ type: 'node-end', outcome });
          throw error;
        }
      })();
      materializing.set(node.id, p);
    }
    return p;
  };

  const runNode = async (node: GraphNode, at: number): Promise<Settled> => {
    const gathered = gatherDeps(node, at);
    if ('settled' in gathered) return gathered.settled;
    // Read once: the manifest parses a stored record anew at each read.
    const entry = manifest.get(node.id);
    const inv = invocation(node, gathered.deps, entry);
    const nodeRef = inv.node;
    const t0 = performance.now();
    let cause: StaleCause | null = null;
    try {
      const assessed = assess(node.rule, inv, entry, opts.force?.(nodeRef) ?? false, h);
      const a = assessed instanceof Promise ? await assessed : assessed;
      if (!a.stale) {
        if (refreshedMeta.has(node.id)) a.result = await refreshed(node, a.result);
        // Literal outcomes, not spreads of the ref: V8 gave every spread copy a shape of its own.
        return { outcome: { id: node.id, rule: node.rule.name, group: node.group, status: 'fresh' }, result: a.result };
      }
      cause = a.cause;
      const hold = opts.hold?.(nodeRef);
      if (hold) return skip(node, { kind: 'held', hold, stale: a.cause });
      if (opts.dryRun) return { outcome: { id: node.id, rule: node.rule.name, group: node.group, status: 'would-run', cause: a.cause } };
      if (!(await runSlots.acquire(at))) return skip(node, { kind: 'interrupted' });
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
  const waitingOn = new Int32Array(n);
  const ready = new MinHeap();
  for (let i = 0; i < n; i++) {
    waitingOn[i] = dependencyStart[i + 1]! - dependencyStart[i]!;
    if (waitingOn[i] === 0) ready.push(i);
  }
  // A recorded result is let go once every dependent has settled: the manifest has it, and
  // kept for every node it was most of what the garbage collector copied while planning.
  const readersLeft = dependentCount.slice();
  // A node rebuilt for a dependent (materialize) reads its own dependencies again: from there.
  const released = new Uint8Array(n);
  const release = (at: number) => {
    const s = settledAt[at];
    if (s?.result && (s.outcome.status === 'fresh' || s.outcome.status === 'ran') && !refreshedMeta.has(order[at]!.id)) {
      s.result = undefined;
      released[at] = 1;
    }
  };
  const releasedResult = (at: number): NodeResult => {
    const entry = manifest.get(order[at]!.id);
    if (!released[at] || !entry) throw new Error(`${order[at]!.id} has no result`);
    return entry.result;
  };
  const onSettled = (at: number) => {
    for (let j = dependentStart[at]!; j < dependentStart[at + 1]!; j++) {
      const i = dependentItems[j]!;
      if (--waitingOn[i]! === 0) ready.push(i);
    }
    for (let j = dependencyStart[at]!; j < dependencyStart[at + 1]!; j++) {
      const d = dependencyItems[j]!;
      if (--readersLeft[d]! === 0) release(d);
    }
    if (readersLeft[at] === 0) release(at);
  };
  /** The position of the next node to start, or -1. */
  const nextReady = (): number => {
    while (ready.size) {
      const i = ready.pop()!;
      if (!started[i]) return i;
    }
    return -1;
  };

  const signal = opts.signal;
  // Woken when a node settles or the run is interrupted. One waiter, not a race over every
  // running node: that cost each settled node as many reactions as there were running.
  let wake: (() => void) | null = null;
  const wakeUp = () => {
    const w = wake;
    wake = null;
    w?.();
  };
  signal?.addEventListener('abort', wakeUp, { once: true });
  const finish = (n: GraphNode, at: number, res: Settled) => {
    // Ended without it: its late outcome is not this run's.
    if (abandoned.has(n.id)) return;
    settle(at, res);
    running.delete(n.id);
    emit({ type: 'node-end', outcome: res.outcome });
    wakeUp();
  };
  for (;;) {
    while (running.size < assessWidth && !signal?.aborted) {
      const at = nextReady();
      if (at < 0) break;
      const n = order[at]!;
      started[at] = 1;
      running.add(n.id);
      void runNode(n, at).then((res) => finish(n, at, res));
    }
    if (running.size === 0) break;
    if (signal?.aborted && [...running].every((id) => abandonable.has(id))) {
      for (const id of running) {
        abandoned.add(id);
        stopOf(id).abort();
        const outcome = skip(graph.node(id), { kind: 'abandoned' }).outcome;
        settle(positionOf(id), { outcome });
        emit({ type: 'node-end', outcome });
      }
      break;
    }
    await new Promise<void>((resolve) => {
      wake = resolve;
    });
  }
  signal?.removeEventListener('abort', wakeUp);

  const outcomes = order.map((n, i) => settledAt[i]?.outcome ?? skip(n, { kind: 'interrupted' }).outcome);
  emit({ type: 'run-end', outcomes });
  return outcomes;
}

function skip(node: GraphNode, cause: SkipCause): Settled {
  return { outcome: { id: node.id, rule: node.rule.name, group: node.group, status: 'skipped', cause } };
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

/** What every invocation of a run shares: the run's own state, reached by node id. */
interface InvocationHooks {
  ctx: unknown;
  log: Log;
  dryRun: boolean;
  signalOf(id: string): AbortSignal;
  refreshMeta(id: string, meta: unknown): void;
  materialize(id: string, by: NodeRef): Promise<NodeResult>;
}

/** A rule's view of one node (`Invocation`). */
class NodeInvocation {
  readonly node: NodeRef;
  readonly group: string | null;

  constructor(
    private readonly hooks: InvocationHooks,
    private readonly graphNode: GraphNode,
    readonly deps: AnyInvocation['deps'],
    readonly previous: NodeResult | null,
    /** Whose abandonment stops this node (a node rebuilt for another stops with that one). */
    private readonly stopper: string,
  ) {
    this.node = refOf(graphNode);
    this.group = graphNode.group;
  }

  get ctx(): unknown {
    return this.hooks.ctx;
  }

  get log(): Log {
    return this.hooks.log;
  }

  get dryRun(): boolean {
    return this.hooks.dryRun;
  }

  /** Made when a rule first asks: an up-to-date node never does. */
  get signal(): AbortSignal {
    return this.hooks.signalOf(this.stopper);
  }

  refreshMeta(meta: unknown): void {
    this.hooks.refreshMeta(this.graphNode.id, meta);
  }

  async materialize(name: string): Promise<NodeResult> {
    const link = this.graphNode.links.find((l) => l.name === name && l.dep.kind === 'same-group');
    if (!link) throw new Error(`${this.graphNode.id} cannot materialize ${name}: not a same-group dependency`);
    const result = await this.hooks.materialize(link.nodes[0]!.id, this.node);
    (this.deps as Record<string, NodeResult>)[name] = result;
    return result;
  }
}
