/**
 * Turning engine events and run reports into what a person (stderr) or a program (`--json`
 * on stdout) sees. Both are consumers of the same outcome list; causes become words in
 * describe.ts.
 */
import type { EngineEvent, NodeOutcome } from '../engine/types.js';
import type { RunReport } from '../pipeline/run.js';
import type { Log } from '../util/log.js';
import { redactSecrets } from '../util/redact.js';
import { describeSkip, describeStale, type LabelsOf, where } from './describe.js';

type Active = Extract<NodeOutcome, { status: 'ran' | 'would-run' }>;
type Skipped = Extract<NodeOutcome, { status: 'skipped' }>;

const active = (o: NodeOutcome): o is Active => o.status === 'ran' || o.status === 'would-run';
const skipped = (o: NodeOutcome): o is Skipped => o.status === 'skipped';

/** Live lines while nodes run. */
export function eventPrinter(log: Log, labels: LabelsOf): (e: EngineEvent) => void {
  return (e) => {
    if (e.type === 'node-start') log.info(`${e.node.rule.padEnd(6)} ${e.node.group ?? ''}  (${describeStale(e.cause, e.node, labels)})`);
    else if (e.type === 'node-end' && e.outcome.status === 'failed') {
      log.error(`${[e.outcome.rule, e.outcome.group].filter(Boolean).join(' ')}: ${errorText(e.outcome.error)}`);
    }
  };
}

/** The plan of a dry run, one line per node that would run. */
export function printPlan(report: RunReport, labels: LabelsOf, out: (line: string) => void): void {
  const nodes = report.outcomes.filter(active);
  if (nodes.length === 0) out('Everything is up to date: nothing would run.');
  else out(`${nodes.length} node(s) would run:`);
  for (const o of nodes) out(`  ${o.rule.padEnd(6)} ${(o.group ?? '(repository)').padEnd(32)} ${describeStale(o.cause, o, labels)}`);
  printSkips(report, labels, out);
  for (const p of report.problems) out(`  problem: ${where(p)}: ${p.error.message}`);
}

function printSkips(report: RunReport, labels: LabelsOf, out: (line: string) => void) {
  for (const o of report.outcomes.filter(skipped)) out(`  skipped ${o.rule} ${o.group ?? ''}: ${describeSkip(o.cause, o, labels)}`);
  for (const s of report.skipped) out(`  not processed: ${s.image}: ${s.reason}`);
}

/** What a run did; failures go to `fail` (stderr), the rest to `out`. */
export function printSummary(report: RunReport, labels: LabelsOf, out: (line: string) => void, fail: (line: string) => void): void {
  const ran = report.outcomes.filter((o) => o.status === 'ran');
  const counts = new Map<string, number>();
  for (const o of ran) counts.set(o.rule, (counts.get(o.rule) ?? 0) + 1);
  const parts = [...counts].map(([r, n]) => `${r} ${n}`);
  // The first line agrees with the FAILED lines below it: never "up to date" beside failures.
  const failed = report.problems.length ? ` ${report.problems.length} problem(s), below.` : '';
  if (ran.length) out(`Ran ${ran.length} node(s): ${parts.join(', ')}.${failed}`);
  else out(failed ? `Nothing ran to completion.${failed}` : 'Everything was up to date.');
  printSkips(report, labels, out);
  for (const p of report.problems) fail(`FAILED ${where(p)}: ${p.error.message}`);
  if (report.indexed) out(`Repository index: ${report.rootIndexUrl}`);
}

/** The `--json` document: exactly one object on stdout. Each node has its cause as data and in words. */
export function jsonReport(report: RunReport, labels: LabelsOf, dryRun: boolean): string {
  return JSON.stringify({
    dryRun,
    nodes: report.outcomes.filter(active).map((o) => ({
      rule: o.rule,
      image: o.group,
      reason: describeStale(o.cause, o, labels),
      cause: o.cause,
      ...(o.status === 'ran' ? { changed: o.changed, ms: o.ms } : {}),
    })),
    failed: report.outcomes.flatMap((o) => (o.status === 'failed' ? [{ rule: o.rule, image: o.group, error: errorText(o.error) }] : [])),
    problems: report.problems.map((p) => ({
      about: p.about,
      image: p.image,
      ...(p.rule ? { rule: p.rule } : {}),
      message: p.error.message,
      code: p.error.code,
    })),
    skipped: [
      ...report.outcomes.filter(skipped).map((o) => ({ rule: o.rule, image: o.group, reason: describeSkip(o.cause, o, labels), cause: o.cause })),
      ...report.skipped.map((s) => ({ rule: null, image: s.image, reason: s.reason })),
    ],
    rootIndexUrl: report.rootIndexUrl,
    exitCode: report.exitCode,
  });
}

function errorText(e: unknown): string {
  // Errors other than ToastyError (whose messages are redacted already) may quote a URL.
  return redactSecrets(e instanceof Error ? e.message : String(e));
}
