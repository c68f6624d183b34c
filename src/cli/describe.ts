/**
 * Causes in words: the engine and the pipeline say why a node is stale or skipped as data;
 * this is the one place that turns them into a person's sentence.
 */
import type { InputChange, InputLabel, NodeRef, OutputProblem, SkipCause, StaleCause } from '../engine/types.js';
import { HELD_FOR_STAGE, HELD_NOT_SELECTED } from '../pipeline/holds.js';
import type { Problem } from '../pipeline/run.js';

export type LabelsOf = (rule: string) => Readonly<Record<string, InputLabel>> | undefined;

export function describeStale(cause: StaleCause, node: NodeRef, labels: LabelsOf): string {
  switch (cause.kind) {
    case 'new':
      return node.group !== null ? 'new image' : `new ${node.rule}`;
    case 'forced':
      return 'forced';
    case 'rule-changed':
      return `rule version changed (${cause.from} -> ${cause.to})`;
    case 'inputs-changed':
      return describeInputs(cause.changes, labels(node.rule) ?? {});
    case 'outputs':
      return describeOutputs(cause);
    case 'after':
      return `after ${cause.dep.id}`;
    case 'needed':
      return `outputs not in the work directory, needed by ${cause.by.id}`;
  }
}

export function describeSkip(cause: SkipCause, node: NodeRef, labels: LabelsOf): string {
  switch (cause.kind) {
    case 'dependency-failed':
      return `${cause.dep.id} failed`;
    case 'dependency-skipped':
      return `${cause.dep.id} was skipped`;
    case 'held': {
      const why = describeStale(cause.stale, node, labels);
      if (cause.hold === HELD_FOR_STAGE) return `left for its own stage (${why})`;
      if (cause.hold === HELD_NOT_SELECTED) return `not selected by --only (${why})`;
      return `held: ${cause.hold} (${why})`;
    }
    case 'interrupted':
      return 'not started: the run was interrupted';
    case 'abandoned':
      return 'stopped while it ran: the run was interrupted (the next run does it again)';
  }
}

function describeOutputs(p: OutputProblem): string {
  const what = p.files.length === 1 ? p.files[0] : `${p.files.length} files`;
  switch (p.problem) {
    case 'missing':
      return `${what} missing from the ${p.where}`;
    case 'pending':
      return `${p.files.length === 1 ? '1 file' : `${p.files.length} files`} waiting in ${p.where}`;
    case 'differs':
      return `${what} in the ${p.where} differs from the one built`;
  }
}

/** `record.title` -> `feed record changed (title)`; one phrase per labelled input, in path order. */
function describeInputs(changes: readonly InputChange[], labels: Readonly<Record<string, InputLabel>>): string {
  if (changes.length === 0) return 'inputs changed';
  const byTop = new Map<string, InputChange[]>();
  for (const c of changes) {
    const top = c.path.split(/[.[]/)[0];
    byTop.set(top, [...(byTop.get(top) ?? []), c]);
  }
  const phrases = new Set<string>();
  for (const [top, list] of byTop) {
    const label = labels[top] ?? { label: top };
    const subs = list.map((c) => ({ ...c, sub: c.path.slice(top.length).replace(/^\./, '').split('[')[0] })).filter((c) => c.sub !== '');
    if (!label.detail || subs.length === 0) {
      phrases.add(`${label.label} changed`);
      continue;
    }
    const parts = [...new Set(subs.map((c) => (label.detail === 'values' ? `${c.sub} ${shown(c.before)} -> ${shown(c.after)}` : c.sub)))];
    phrases.add(`${label.label} changed (${parts.slice(0, 4).join(', ')}${parts.length > 4 ? ', ...' : ''})`);
  }
  return [...phrases].join('; ');
}

/** A leaf's value for people: strings without their JSON quotes, `?` when only a digest was kept. */
function shown(json: string | undefined): string {
  if (json === undefined) return '?';
  try {
    const v = JSON.parse(json) as unknown;
    return typeof v === 'string' ? v : json;
  } catch {
    return json;
  }
}

/** What a problem is about: `<id> [rule]`, `(feed)` or `(root index)`; a feed entry without a usable id is `(feed entry)`. */
export function where(p: Problem): string {
  const what = p.about === 'image' ? (p.image ?? '(feed entry)') : p.about === 'feed' ? '(feed)' : '(root index)';
  return p.about === 'image' && p.rule ? `${what} [${p.rule}]` : what;
}
