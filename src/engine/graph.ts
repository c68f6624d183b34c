/**
 * The dependency graph, built from the rules' own dependency declarations: one node per group
 * for `each` rules, one node for `one` rules, an edge for every declared dependency. Validated
 * acyclic (graphology), with a stable execution order that keeps each group's chain together
 * (so groups complete one after another).
 */
import { DirectedGraph } from 'graphology';
import { hasCycle } from 'graphology-dag';
import type { AnyRule, Dep, NodeRef } from './types.js';

/** One declared dependency of a node, resolved to the nodes that satisfy it. */
export interface Link {
  /** The name the rule reads it by (`inv.deps[name]`). */
  readonly name: string;
  readonly dep: Dep;
  readonly nodes: readonly NodeRef[];
}

export interface GraphNode {
  readonly id: string;
  readonly group: string | null;
  readonly rule: AnyRule;
  readonly links: readonly Link[];
}

export function nodeId(rule: AnyRule, group: string | null): string {
  return group === null ? rule.name : `${rule.name}:${group}`;
}

/** `rules` and every rule they depend on, dependencies first, each once. */
export function withDependencies(rules: Iterable<AnyRule>): AnyRule[] {
  const out: AnyRule[] = [];
  const byName = new Map<string, AnyRule>();
  const visit = (rule: AnyRule, path: string[]) => {
    const seen = byName.get(rule.name);
    if (seen === rule) return;
    if (seen) throw new Error(`two different rules are named ${rule.name}`);
    if (path.includes(rule.name)) throw new Error(`rules depend on each other in a cycle: ${[...path, rule.name].join(' -> ')}`);
    for (const dep of Object.values(rule.deps as Record<string, Dep>)) visit(dep.rule, [...path, rule.name]);
    if (byName.has(rule.name)) return;
    byName.set(rule.name, rule);
    out.push(rule);
  };
  for (const r of rules) visit(r, []);
  return out;
}

export class BuildGraph {
  private readonly g = new DirectedGraph<{ node: GraphNode }>();
  private readonly insertion: string[] = [];

  /**
   * The graph of `rules` (and the rules they depend on) over `groups`: for each group its
   * chain of `each` nodes, then the `one` nodes.
   */
  static build(rules: Iterable<AnyRule>, groups: Iterable<string>): BuildGraph {
    const all = withDependencies(rules);
    const each = all.filter((r) => r.scope === 'each');
    const one = all.filter((r) => r.scope === 'one');
    const graph = new BuildGraph();
    const groupList = [...new Set(groups)];
    for (const group of groupList) {
      for (const rule of each) graph.add(rule, group, groupList);
    }
    for (const rule of one) graph.add(rule, null, groupList);
    graph.seal();
    return graph;
  }

  private add(rule: AnyRule, group: string | null, groups: readonly string[]): void {
    const links: Link[] = [];
    for (const [name, dep] of Object.entries(rule.deps as Record<string, Dep>)) {
      const target = dep.rule;
      if (dep.kind === 'same-group') {
        if (group === null || target.scope !== 'each') {
          throw new Error(`rule ${rule.name}: sameGroup(${target.name}) needs two per-group rules`);
        }
        links.push({ name, dep, nodes: [ref(target, group)] });
      } else {
        if (target.scope !== 'each') throw new Error(`rule ${rule.name}: everyGroup(${target.name}) needs a per-group rule`);
        links.push({ name, dep, nodes: groups.map((g) => ref(target, g)) });
      }
    }
    const node: GraphNode = { id: nodeId(rule, group), group, rule, links };
    this.g.addNode(node.id, { node });
    this.insertion.push(node.id);
  }

  private seal(): void {
    for (const id of this.insertion) {
      for (const link of this.node(id).links) {
        for (const dep of link.nodes) {
          if (!this.g.hasEdge(dep.id, id)) this.g.addDirectedEdge(dep.id, id);
        }
      }
    }
    if (hasCycle(this.g)) throw new Error('the build graph has a cycle');
  }

  get size(): number {
    return this.g.order;
  }

  has(id: string): boolean {
    return this.g.hasNode(id);
  }

  node(id: string): GraphNode {
    return this.g.getNodeAttribute(id, 'node');
  }

  /**
   * Topological order that follows insertion order where it can: a node is emitted as soon
   * as all of its dependencies are, scanning in insertion order (depth-first per group).
   */
  order(): GraphNode[] {
    const indegree = new Map<string, number>();
    for (const id of this.insertion) indegree.set(id, this.g.inDegree(id));
    const position = new Map(this.insertion.map((id, i) => [id, i]));
    const ready = new MinHeap<string>((a, b) => position.get(a)! - position.get(b)!);
    for (const id of this.insertion) if (indegree.get(id) === 0) ready.push(id);
    const out: GraphNode[] = [];
    while (ready.size) {
      const id = ready.pop()!;
      out.push(this.node(id));
      for (const next of this.g.outNeighbors(id)) {
        const d = indegree.get(next)! - 1;
        indegree.set(next, d);
        if (d === 0) ready.push(next);
      }
    }
    return out;
  }
}

function ref(rule: AnyRule, group: string | null): NodeRef {
  return { id: nodeId(rule, group), rule: rule.name, group };
}

/** How outcomes and events name a node. */
export function refOf(node: GraphNode): NodeRef {
  return { id: node.id, rule: node.rule.name, group: node.group };
}

/** A small binary heap: ready nodes kept in insertion order. */
class MinHeap<T> {
  private readonly items: T[] = [];
  constructor(private readonly cmp: (a: T, b: T) => number) {}

  get size(): number {
    return this.items.length;
  }

  push(x: T): void {
    const h = this.items;
    h.push(x);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (this.cmp(h[p], h[i]) <= 0) break;
      [h[p], h[i]] = [h[i], h[p]];
      i = p;
    }
  }

  pop(): T | undefined {
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
        if (l < h.length && this.cmp(h[l], h[m]) < 0) m = l;
        if (r < h.length && this.cmp(h[r], h[m]) < 0) m = r;
        if (m === i) break;
        [h[m], h[i]] = [h[i], h[m]];
        i = m;
      }
    }
    return top;
  }
}
