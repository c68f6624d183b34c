/**
 * Turning engine events and run reports into what a person (stderr) or a program (`--json`
 * on stdout) sees. Both are consumers of the same outcome list; causes become words in
 * describe.ts.
 */
import type { EngineEvent, NodeOutcome } from '../engine/types.js';
import { feedUnreachable, type RunReport } from '../pipeline/run.js';
import type { Log } from '../util/log.js';
import { redactSecrets } from '../util/redact.js';
import { describeSkip, describeStale, type LabelsOf, where } from './describe.js';

type Active = Extract<NodeOutcome, { status: 'ran' | 'would-run' }>;
type Skipped = Extract<NodeOutcome, { status: 'skipped' }>;

const interrupted = (o: NodeOutcome): boolean => o.status === 'skipped' && o.cause.kind === 'interrupted';
const abandoned = (o: NodeOutcome): boolean => o.status === 'skipped' && o.cause.kind === 'abandoned';

/**
 * Whether a dry run knows the node will run. A node stale only because a dependency will run
 * ('after') may turn out up to date: if the dependency produces the same bytes, its key holds.
 */
export const certain = (o: Active): boolean => o.cause.kind !== 'after' && o.cause.kind !== 'needed';

/** A run's outcomes sorted by what the report says of them. */
interface Sorted {
  active: Active[];
  ran: Active[];
  failed: Extract<NodeOutcome, { status: 'failed' }>[];
  /** Skips worth a line each (nodes an interruption left are summed up in one line instead). */
  listedSkips: Skipped[];
  interrupted: Skipped[];
  fresh: number;
  abandoned: number;
}

const sortedOf = new WeakMap<readonly NodeOutcome[], Sorted>();

/**
 * One pass over the outcomes, shared by every part of the report: an up-to-date run has one
 * outcome per node, each of them fresh, and filtering them once per line cost per image.
 */
function sortOutcomes(outcomes: readonly NodeOutcome[]): Sorted {
  let s = sortedOf.get(outcomes);
  if (s) return s;
  s = { active: [], ran: [], failed: [], listedSkips: [], interrupted: [], fresh: 0, abandoned: 0 };
  for (const o of outcomes) {
    if (o.status === 'fresh') s.fresh++;
    else if (o.status === 'failed') s.failed.push(o);
    else if (o.status === 'skipped') {
      if (o.cause.kind === 'interrupted') s.interrupted.push(o);
      else {
        s.listedSkips.push(o);
        if (o.cause.kind === 'abandoned') s.abandoned++;
      }
    } else {
      s.active.push(o);
      if (o.status === 'ran') s.ran.push(o);
    }
  }
  sortedOf.set(outcomes, s);
  return s;
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

/** Live lines while nodes run; without bars also one line as each node finishes, with its time. */
export function eventPrinter(log: Log, labels: LabelsOf): (e: EngineEvent) => void {
  return (e) => {
    if (e.type === 'node-start') log.info(`${e.node.rule.padEnd(6)} ${e.node.group ?? ''}  (${describeStale(e.cause, e.node, labels)})`);
    else if (e.type === 'node-end' && e.outcome.status === 'failed') {
      log.error(`${[e.outcome.rule, e.outcome.group].filter(Boolean).join(' ')}: ${errorText(e.outcome.error)}`);
    } else if (e.type === 'node-end' && e.outcome.status === 'ran' && !log.live) {
      log.info(`${e.outcome.rule.padEnd(6)} ${e.outcome.group ?? ''}  done in ${seconds(e.outcome.ms)}`);
    }
  };
}

/**
 * The plan of a dry run, one line per node that would run, then those that may run (stale
 * only because a dependency runs first: whether they do depends on what it produces).
 */
export function printPlan(report: RunReport, labels: LabelsOf, out: (line: string) => void): void {
  const nodes = sortOutcomes(report.outcomes).active;
  const sure = nodes.filter(certain);
  const maybe = nodes.filter((o) => !certain(o));
  const line = (o: Active) => out(`  ${o.rule.padEnd(6)} ${(o.group ?? '(repository)').padEnd(32)} ${describeStale(o.cause, o, labels)}`);
  if (nodes.length === 0) out('Everything is up to date: nothing would run.');
  if (sure.length) out(`${sure.length} node(s) would run:`);
  sure.forEach(line);
  if (maybe.length) out(`${maybe.length} node(s) may run, if what they depend on changes when it runs:`);
  maybe.forEach(line);
  printSkips(report, labels, out);
  for (const p of report.problems) out(`  problem: ${where(p)}: ${p.error.message}`);
}

function printSkips(report: RunReport, labels: LabelsOf, out: (line: string) => void) {
  for (const o of sortOutcomes(report.outcomes).listedSkips) out(`  skipped ${o.rule} ${o.group ?? ''}: ${describeSkip(o.cause, o, labels)}`);
  for (const s of report.skipped) out(`  not processed: ${s.image}: ${s.reason}`);
}

/**
 * What a run did; failures go to `fail` (stderr), the rest to `out`. With `ms` (the run's
 * time) a closing line counts the nodes: ran, up to date, failed, skipped.
 */
export function printSummary(report: RunReport, labels: LabelsOf, out: (line: string) => void, fail: (line: string) => void, ms?: number): void {
  const ran = sortOutcomes(report.outcomes).ran;
  const counts = new Map<string, number>();
  for (const o of ran) counts.set(o.rule, (counts.get(o.rule) ?? 0) + 1);
  const parts = [...counts].map(([r, n]) => `${r} ${n}`);
  // The first line agrees with the FAILED lines below it: never "up to date" beside failures.
  const failed = report.problems.length ? ` ${report.problems.length} problem(s), below.` : '';
  if (ran.length) out(`Ran ${ran.length} node(s): ${parts.join(', ')}.${failed}`);
  else out(failed ? `Nothing ran to completion.${failed}` : 'Everything was up to date.');
  printSkips(report, labels, out);
  for (const p of report.problems) fail(feedUnreachable(p) ? `error: ${p.error.message}` : `FAILED ${where(p)}: ${p.error.message}`);
  if (report.indexed) out(`Repository index: ${report.rootIndexUrl}`);
  if (ms !== undefined) out(countsLine(report.outcomes, ms));
}

function countsLine(outcomes: readonly NodeOutcome[], ms: number): string {
  const s = sortOutcomes(outcomes);
  const notStarted = s.interrupted.length;
  return (
    `Done in ${seconds(ms)}: ${s.ran.length} ran, ${s.fresh} already done, ` +
    `${s.failed.length} failed, ${s.listedSkips.length} skipped${notStarted ? `, ${notStarted} not started` : ''}.`
  );
}

/**
 * After an interruption: how far the images got, in one line. An image is finished when
 * each of its nodes ran or was up to date (and one ran), not started when none ran or was
 * abandoned while running.
 */
export function interruptedLine(report: RunReport): string {
  const byImage = new Map<string, NodeOutcome[]>();
  for (const o of report.outcomes) if (o.group !== null) byImage.set(o.group, [...(byImage.get(o.group) ?? []), o]);
  let finished = 0;
  let partly = 0;
  let notStarted = 0;
  for (const list of byImage.values()) {
    const ran = list.some((o) => o.status === 'ran' || o.status === 'failed' || abandoned(o));
    if (list.some((o) => interrupted(o) || abandoned(o))) {
      if (ran) partly++;
      else notStarted++;
    } else if (ran && list.every((o) => o.status === 'ran' || o.status === 'fresh')) finished++;
  }
  const parts = [`${finished} image(s) finished`, ...(partly ? [`${partly} partly done`] : []), `${notStarted} not started`];
  return `Interrupted: ${parts.join(', ')}; the next run resumes where this one stopped.`;
}

/** The `--json` document: exactly one object on stdout. Each node has its cause as data and in words. */
export function jsonReport(report: RunReport, labels: LabelsOf, dryRun: boolean, exitCode: number = report.exitCode): string {
  const sorted = sortOutcomes(report.outcomes);
  return JSON.stringify({
    dryRun,
    nodes: sorted.active.map((o) => ({
      rule: o.rule,
      image: o.group,
      // A dry run's 'may-run' node (certain: false) runs only if its dependency's outputs change.
      status: o.status === 'ran' ? 'ran' : certain(o) ? 'would-run' : 'may-run',
      certain: o.status === 'ran' || certain(o),
      reason: describeStale(o.cause, o, labels),
      cause: o.cause,
      ...(o.status === 'ran' ? { changed: o.changed, ms: o.ms } : {}),
    })),
    failed: sorted.failed.map((o) => ({ rule: o.rule, image: o.group, error: errorText(o.error) })),
    problems: report.problems.map((p) => ({
      about: p.about,
      image: p.image,
      ...(p.rule ? { rule: p.rule } : {}),
      message: p.error.message,
      code: p.error.code,
    })),
    skipped: [
      ...sorted.listedSkips.map((o) => ({ rule: o.rule, image: o.group, reason: describeSkip(o.cause, o, labels), cause: o.cause })),
      ...report.skipped.map((s) => ({ rule: null, image: s.image, reason: s.reason })),
    ],
    ...(sorted.interrupted.length || sorted.abandoned
      ? { interrupted: true, notStarted: sorted.interrupted.map((o) => ({ rule: o.rule, image: o.group })) }
      : {}),
    rootIndexUrl: report.rootIndexUrl,
    exitCode,
  });
}

function errorText(e: unknown): string {
  // Errors other than ToastyError (whose messages are redacted already) may quote a URL.
  return redactSecrets(e instanceof Error ? e.message : String(e));
}
