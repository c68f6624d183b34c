/**
 * The dependency graph (graphology), validated acyclic, with a stable execution order that
 * keeps each group's chain together (so images complete one after another).
 */
import { DirectedGraph } from 'graphology';
import { hasCycle } from 'graphology-dag';
import type { NodeSpec } from './types.js';

export class BuildGraph<C> {
  private readonly g = new DirectedGraph<{ spec: NodeSpec<C> }>();
  private readonly insertion: string[] = [];

  add(spec: NodeSpec<C>): this {
    if (this.g.hasNode(spec.id)) throw new Error(`duplicate node ${spec.id}`);
    this.g.addNode(spec.id, { spec });
    this.insertion.push(spec.id);
    return this;
  }

  get size(): number {
    return this.g.order;
  }

  has(id: string): boolean {
    return this.g.hasNode(id);
  }

  spec(id: string): NodeSpec<C> {
    return this.g.getNodeAttribute(id, 'spec');
  }

  /** Wire edges from each node's `deps`; throws on unknown deps or cycles. */
  seal(): this {
    for (const id of this.insertion) {
      for (const dep of this.spec(id).deps) {
        if (!this.g.hasNode(dep)) throw new Error(`node ${id} depends on unknown node ${dep}`);
        if (!this.g.hasEdge(dep, id)) this.g.addDirectedEdge(dep, id);
      }
    }
    if (hasCycle(this.g)) throw new Error('the build graph has a cycle');
    return this;
  }

  dependents(id: string): string[] {
    return this.g.outNeighbors(id);
  }

  /**
   * Topological order that follows insertion order where it can: a node is emitted as soon
   * as all of its dependencies are, scanning in insertion order (depth-first per group).
   */
  order(): NodeSpec<C>[] {
    const indegree = new Map<string, number>();
    for (const id of this.insertion) indegree.set(id, this.g.inDegree(id));
    const position = new Map(this.insertion.map((id, i) => [id, i]));
    // Ready nodes kept sorted by insertion position (a small binary heap).
    const heap: string[] = [];
    const push = (id: string) => {
      heap.push(id);
      let i = heap.length - 1;
      while (i > 0) {
        const p = (i - 1) >> 1;
        if (position.get(heap[p])! <= position.get(heap[i])!) break;
        [heap[p], heap[i]] = [heap[i], heap[p]];
        i = p;
      }
    };
    const pop = (): string => {
      const top = heap[0];
      const last = heap.pop()!;
      if (heap.length) {
        heap[0] = last;
        let i = 0;
        for (;;) {
          const l = 2 * i + 1;
          const r = l + 1;
          let m = i;
          if (l < heap.length && position.get(heap[l])! < position.get(heap[m])!) m = l;
          if (r < heap.length && position.get(heap[r])! < position.get(heap[m])!) m = r;
          if (m === i) break;
          [heap[m], heap[i]] = [heap[i], heap[m]];
          i = m;
        }
      }
      return top;
    };
    for (const id of this.insertion) if (indegree.get(id) === 0) push(id);
    const out: NodeSpec<C>[] = [];
    while (heap.length) {
      const id = pop();
      out.push(this.spec(id));
      for (const next of this.g.outNeighbors(id)) {
        const d = indegree.get(next)! - 1;
        indegree.set(next, d);
        if (d === 0) push(next);
      }
    }
    return out;
  }
}
