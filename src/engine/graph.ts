/**
 * The dependency graph, built from the rules' own dependency declarations: one node per group
 * for `each` rules, one node for `one` rules, an edge for every declared dependency. Validated
 * acyclic, with a stable execution order that keeps each group's chain together
 * (so groups complete one after another).
 */
import { DirectedGraph } from 'graphology';
import { topologicalSort, willCreateCycle } from 'graphology-dag';
import type { AnyRule, Dep, NodeRef } from './types.js';

/** One declared dependency of a node, resolved to the nodes that satisfy it. */
export interface Link {
  /** The name the rule reads it by (`inv.deps[name]`). */
  readonly name: string;
  readonly dep: Dep;
  readonly nodes: readonly NodeRef[];
  /** Where `nodes` are in the order the graph's nodes were added (see `BuildGraph.positionOf`). */
  readonly added: readonly number[];
}

export interface GraphNode {
  readonly id: string;
  readonly group: string | null;
  readonly rule: AnyRule;
  readonly links: readonly Link[];
  /** How outcomes and events name the node (one object, shared by the links to it). */
  readonly ref: NodeRef;
}

export function nodeId(rule: AnyRule, group: string | null): string {
  return group === null ? rule.name : `${rule.name}:${group}`;
}

/**
 * `rules` and every rule they depend on, dependencies first, each once. The rules form a small
 * graph of their own (a handful of nodes, whatever the feed's size), kept in graphology: it
 * refuses a dependency that would close a cycle, naming it, and orders the rules.
 */
export function withDependencies(rules: Iterable<AnyRule>): AnyRule[] {
  const graph = new DirectedGraph<{ rule: AnyRule }>();
  const visit = (rule: AnyRule) => {
    if (graph.hasNode(rule.name)) {
      if (graph.getNodeAttribute(rule.name, 'rule') !== rule) throw new Error(`two different rules are named ${rule.name}`);
      return;
    }
    graph.addNode(rule.name, { rule });
    for (const dep of Object.values(rule.deps as Record<string, Dep>)) {
      visit(dep.rule);
      if (willCreateCycle(graph, dep.rule.name, rule.name)) {
        throw new Error(`rules depend on each other in a cycle: ${rule.name} depends on ${dep.rule.name}, which leads back to ${rule.name}`);
      }
      graph.mergeDirectedEdge(dep.rule.name, rule.name);
    }
  };
  for (const r of rules) visit(r);
  return topologicalSort(graph).map((name) => graph.getNodeAttribute(name, 'rule'));
}

export class BuildGraph {
  private byIdMap: Map<string, GraphNode> | null = null;
  private readonly insertion: GraphNode[] = [];
  private sorted: GraphNode[] = [];
  /** Position in `sorted` of each node by the order it was added; null when they are the same. */
  private rank: Int32Array | null = null;

  /**
   * The graph of `rules` (and the rules they depend on) over `groups`: for each group its
   * chain of `each` nodes, then the `one` nodes. Every node's ref is made once and shared by
   * the links to it: at 10,000 groups this is built on every run.
   */
  static build(rules: Iterable<AnyRule>, groups: Iterable<string>): BuildGraph {
    const all = withDependencies(rules);
    const each = all.filter((r) => r.scope === 'each');
    const one = all.filter((r) => r.scope === 'one');
    const groupList = [...new Set(groups)];
    for (const rule of all) {
      for (const [, dep] of Object.entries(rule.deps as Record<string, Dep>)) {
        const target = dep.rule;
        if (dep.kind === 'same-group' && (rule.scope !== 'each' || target.scope !== 'each')) {
          throw new Error(`rule ${rule.name}: sameGroup(${target.name}) needs two per-group rules`);
        }
        if (dep.kind === 'every-group' && target.scope !== 'each') throw new Error(`rule ${rule.name}: everyGroup(${target.name}) needs a per-group rule`);
      }
    }
    // Node `g * each.length + r` is rule `each[r]` in group `g`; the `one` nodes follow.
    const eachIndex = new Map(each.map((r, i) => [r, i]));
    const refs: NodeRef[] = [];
    for (const group of groupList) for (const rule of each) refs.push(ref(rule, group));
    for (const rule of one) refs.push(ref(rule, null));
    const perGroup = each.length;
    const everyGroupRefs = new Map<AnyRule, { nodes: NodeRef[]; added: number[] }>();
    // Dependencies are added before their dependents unless an `each` rule reads every group.
    let inOrder = true;
    const graph = new BuildGraph();
    const linksOf = (rule: AnyRule, g: number | null): Link[] =>
      Object.entries(rule.deps as Record<string, Dep>).map(([name, dep]) => {
        if (dep.kind === 'same-group') {
          const at = g! * perGroup + eachIndex.get(dep.rule)!;
          return { name, dep, nodes: [refs[at]!], added: [at] };
        }
        if (rule.scope === 'each') inOrder = false;
        let every = everyGroupRefs.get(dep.rule);
        if (!every) {
          const added = groupList.map((_, i) => i * perGroup + eachIndex.get(dep.rule)!);
          every = { nodes: added.map((at) => refs[at]!), added };
          everyGroupRefs.set(dep.rule, every);
        }
        return { name, dep, ...every };
      });
    for (let g = 0; g < groupList.length; g++) {
      for (let r = 0; r < perGroup; r++) graph.add(refs[g * perGroup + r]!, each[r]!, linksOf(each[r]!, g));
    }
    for (let k = 0; k < one.length; k++) graph.add(refs[groupList.length * perGroup + k]!, one[k]!, linksOf(one[k]!, null));
    // Ids are unique when no rule name holds the ':' between rule and group.
    graph.seal(
      inOrder,
      all.some((r) => r.name.includes(':')),
    );
    return graph;
  }

  private add(nodeRef: NodeRef, rule: AnyRule, links: Link[]): void {
    this.insertion.push({ id: nodeRef.id, group: nodeRef.group, rule, links, ref: nodeRef });
  }

  private get byId(): Map<string, GraphNode> {
    if (!this.byIdMap) {
      this.byIdMap = new Map();
      for (const node of this.insertion) this.byIdMap.set(node.id, node);
    }
    return this.byIdMap;
  }

  /** Position in `order()` of the node added `added`-th (a `Link.added` entry). */
  positionOf(added: number): number {
    return this.rank ? this.rank[added]! : added;
  }

  /**
   * Order the nodes. Plain arrays, not graphology: this graph has a node per rule and group
   * and is built on every run (at 10,000 groups of four rules, graphology took 0.3 s to build
   * it and 0.05 s to check it, a third of the planning budget), while its shape is fixed by
   * the rule graph that graphology already checked acyclic. `inOrder`: every node was added
   * after its dependencies, so that order is the one (the usual case).
   */
  private seal(inOrder: boolean, checkIds: boolean): void {
    if (checkIds && this.byId.size !== this.insertion.length) {
      const seen = new Set<string>();
      for (const node of this.insertion) {
        if (seen.has(node.id)) throw new Error(`two nodes are named ${node.id}`);
        seen.add(node.id);
      }
    }
    if (inOrder) {
      this.sorted = this.insertion;
      return;
    }
    const n = this.insertion.length;
    // Dependents of each node (by the order added) and each node's count of distinct dependencies.
    const dependents: number[][] = Array.from({ length: n }, () => []);
    const indegree = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      const seen = new Set<number>();
      for (const link of this.insertion[i]!.links) {
        for (const d of link.added) {
          if (seen.has(d)) continue;
          seen.add(d);
          dependents[d]!.push(i);
          indegree[i]!++;
        }
      }
    }
    // Topological order that follows insertion order where it can: a node is emitted as soon
    // as all of its dependencies are, scanning in insertion order (depth-first per group).
    const ready = new MinHeap();
    for (let i = 0; i < n; i++) if (indegree[i] === 0) ready.push(i);
    const out: GraphNode[] = [];
    while (ready.size) {
      const i = ready.pop()!;
      out.push(this.insertion[i]!);
      for (const next of dependents[i]!) if (--indegree[next]! === 0) ready.push(next);
    }
    if (out.length !== n) throw new Error('the build graph has a cycle');
    this.sorted = out;
    const sortedAt = new Map(out.map((node, i) => [node, i]));
    this.rank = Int32Array.from(this.insertion, (node) => sortedAt.get(node)!);
  }

  get size(): number {
    return this.insertion.length;
  }

  has(id: string): boolean {
    return this.byId.has(id);
  }

  node(id: string): GraphNode {
    const node = this.byId.get(id);
    if (!node) throw new Error(`no node ${id} in the graph`);
    return node;
  }

  /** Every node, dependencies first, following insertion order where it can (see `seal`). */
  order(): GraphNode[] {
    return [...this.sorted];
  }
}

function ref(rule: AnyRule, group: string | null): NodeRef {
  return { id: nodeId(rule, group), rule: rule.name, group };
}

/** How outcomes and events name a node. */
export function refOf(node: GraphNode): NodeRef {
  return node.ref;
}

/** A small binary min-heap of numbers (positions): ready nodes kept in order. */
export class MinHeap {
  private readonly items: number[] = [];

  get size(): number {
    return this.items.length;
  }

  push(x: number): void {
    const h = this.items;
    h.push(x);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (h[p]! <= h[i]!) break;
      const t = h[p]!;
      h[p] = h[i]!;
      h[i] = t;
      i = p;
    }
  }

  pop(): number | undefined {
    const h = this.items;
    const top = h[0];
    const last = h.pop();
    if (h.length && last !== undefined) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && h[l]! < h[m]!) m = l;
        if (r < h.length && h[r]! < h[m]!) m = r;
        if (m === i) break;
        const t = h[m]!;
        h[m] = h[i]!;
        h[i] = t;
        i = m;
      }
    }
    return top;
  }
}
