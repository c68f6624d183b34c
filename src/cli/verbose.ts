/**
 * What `--verbose` adds to a pipeline run, as debug lines beside the normal ones (report.ts):
 * each node's inputs digest (the key its build record keeps) when it starts, its time when it
 * ends, the stack of an unexpected failure, and the time spent per rule at the end.
 */
import type { EngineEvent, NodeRef } from '../engine/types.js';
import { isToastyError } from '../util/errors.js';
import type { Log } from '../util/log.js';

const name = (n: NodeRef) => [n.rule, n.group].filter(Boolean).join(' ');

export function verboseEvents(log: Log): (e: EngineEvent) => void {
  return (e) => {
    if (e.type === 'node-start') {
      log.debug(`${name(e.node)}: inputs ${e.key}`);
    } else if (e.type === 'node-end') {
      const o = e.outcome;
      if (o.status === 'ran') log.debug(`${name(o)}: ran in ${o.ms} ms${o.changed ? '' : ' (outputs unchanged)'}`);
      if (o.status === 'failed') {
        log.debug(`${name(o)}: failed after ${o.ms} ms`);
        // A ToastyError's message says it all; anything else is a bug, and its stack finds it.
        if (o.error instanceof Error && !isToastyError(o.error) && o.error.stack) log.debug(o.error.stack);
      }
    } else if (e.type === 'run-end') {
      const byRule = new Map<string, { n: number; ms: number }>();
      for (const o of e.outcomes) {
        if (o.status !== 'ran' && o.status !== 'failed') continue;
        const t = byRule.get(o.rule) ?? { n: 0, ms: 0 };
        byRule.set(o.rule, { n: t.n + 1, ms: t.ms + o.ms });
      }
      if (byRule.size) log.debug(`time by rule: ${[...byRule].map(([r, t]) => `${r} ${t.ms} ms (${t.n} node${t.n === 1 ? '' : 's'})`).join(', ')}`);
    }
  };
}
