/**
 * Turning engine events and run reports into what a person (stderr) or a program (`--json`
 * on stdout) sees. Both are consumers of the same outcome list.
 */
import type { EngineEvent, NodeOutcome } from '../engine/types.js';
import type { RunReport } from '../pipeline/run.js';
import type { Log } from '../util/log.js';

const active = (o: NodeOutcome) => o.status === 'ran' || o.status === 'would-run';

/** Live lines while nodes run. */
export function eventPrinter(log: Log): (e: EngineEvent) => void {
  return (e) => {
    if (e.type === 'node-start') log.info(`${e.rule.padEnd(6)} ${e.group ?? ''}  (${e.reason})`);
    else if (e.type === 'node-end' && e.outcome.status === 'failed') {
      log.error(`${e.outcome.rule} ${e.outcome.group ?? ''}: ${e.outcome.error?.message}`);
    }
  };
}

/** The plan of a dry run, one line per node that would run. */
export function printPlan(report: RunReport, out: (line: string) => void): void {
  const nodes = report.outcomes.filter(active);
  if (nodes.length === 0) out('Everything is up to date: nothing would run.');
  else out(`${nodes.length} node(s) would run:`);
  for (const o of nodes) out(`  ${o.rule.padEnd(6)} ${(o.group ?? '(repository)').padEnd(32)} ${o.reason ?? ''}`);
  printSkips(report, out);
  for (const p of report.problems) out(`  problem: ${p.image ?? '(feed)'}${p.rule ? ` [${p.rule}]` : ''}: ${p.message}`);
}

function printSkips(report: RunReport, out: (line: string) => void) {
  const waiting = report.outcomes.filter((o) => o.status === 'skipped');
  for (const o of waiting) out(`  skipped ${o.rule} ${o.group ?? ''}: ${o.reason}`);
  for (const s of report.skipped) out(`  not processed: ${s.image}: ${s.reason}`);
}

export function printSummary(report: RunReport, out: (line: string) => void): void {
  const ran = report.outcomes.filter((o) => o.status === 'ran');
  const counts = new Map<string, number>();
  for (const o of ran) counts.set(o.rule, (counts.get(o.rule) ?? 0) + 1);
  const parts = [...counts].map(([r, n]) => `${r} ${n}`);
  out(ran.length ? `Ran ${ran.length} node(s): ${parts.join(', ')}.` : 'Everything was up to date.');
  printSkips(report, out);
  for (const p of report.problems) out(`FAILED ${p.image ?? '(feed)'}${p.rule ? ` [${p.rule}]` : ''}: ${p.message}`);
  if (report.outcomes.some((o) => o.rule === 'index' && o.status !== 'skipped')) out(`Repository index: ${report.rootIndexUrl}`);
}

/** The `--json` document: exactly one object on stdout. */
export function jsonReport(report: RunReport, dryRun: boolean): string {
  return JSON.stringify({
    dryRun,
    nodes: report.outcomes.filter(active).map((o) => ({
      rule: o.rule,
      image: o.group,
      reason: o.reason ?? null,
      ...(o.changed !== undefined ? { changed: o.changed } : {}),
      ...(o.ms !== undefined ? { ms: o.ms } : {}),
    })),
    failed: report.outcomes
      .filter((o) => o.status === 'failed')
      .map((o) => ({ rule: o.rule, image: o.group, error: o.error?.message ?? 'failed' })),
    problems: report.problems,
    skipped: [
      ...report.outcomes.filter((o) => o.status === 'skipped').map((o) => ({ rule: o.rule, image: o.group, reason: o.reason ?? '' })),
      ...report.skipped.map((s) => ({ rule: null, image: s.image, reason: s.reason })),
    ],
    rootIndexUrl: report.rootIndexUrl,
    exitCode: report.exitCode,
  });
}
