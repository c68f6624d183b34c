/**
 * One pipeline invocation, as a few named steps:
 *   openRun         check the repository, read its config, lock the work dir, load the manifest
 *   gatherRecords   the feed's records (make, fetch) or the cached copies (later stages)
 *   surveyRepository  which images the repository already has
 *   chooseImages    leave out skip.flag images and those published by someone else
 *   BuildGraph.build  the graph of the command's rules (and what they depend on) over the images
 *   execute         the engine brings it up to date, holding nodes this command may not run
 *
 * `make` may run every rule; each stage command runs one cut of the same graph (nodes of other
 * stages are held, and their stale dependents wait for them).
 */
import path from 'node:path';
import {
  BuildGraph,
  Manifest,
  acquireLock,
  execute,
  type AnyRule,
  type EngineEvent,
  type HeldLock,
  type NodeOutcome,
  type NodeRef,
  nodeId,
} from '../engine/index.js';
import { STAGES, fetchRule, type Stage } from '../../rules/index.js';
import { parseFeed } from '../sources/astropix.js';
import { fetchFeedText } from '../sources/http.js';
import type { Repository } from '../storage/types.js';
import { type ToastyError, toToastyError } from '../util/errors.js';
import { writeFileAtomic } from '../util/fs.js';
import { globsMatcher } from '../util/glob.js';
import { silentLog, type Log } from '../util/log.js';
import { forEachLimit } from '../util/pool.js';
import { DEFAULT_MAX_PIXELS } from '../wwt/limits.js';
import { INDEX_WTML } from '../wwt/study-files.js';
import type { AstroPixRecord } from '../wwt/wcs.js';
import { CONFIG_NAME, ROOT_INDEX, loadConfig, type PipelineConfig } from './config.js';
import type { DownloadSettings, PipelineContext } from './context.js';
import { engineErrorToToasty } from './engine-errors.js';
import { LOCK_FILE, MANIFEST_NAME, Workdir } from './workdir.js';

export type { Stage };

/** Why a node is held back, as `SkipCause.hold`: it belongs to another stage, or --only left it out. */
export const HELD_FOR_STAGE = 'stage';
export const HELD_NOT_SELECTED = 'not selected';

/** The input labels of a rule of the pipeline, for explaining why its nodes are stale. */
export function inputLabelsOf(rule: string, extraRules: readonly AnyRule[] = []): AnyRule['inputLabels'] {
  return [...STAGES.make, ...extraRules].find((r) => r.name === rule)?.inputLabels;
}

export interface RunOptions {
  workdir: string;
  repo: Repository;
  stage: Stage;
  dryRun?: boolean;
  /** Image ids or globs to rebuild even when up to date. */
  force?: string[];
  /** Restrict the run to these image ids or globs (the index still runs). */
  only?: string[];
  jobs?: number;
  log?: Log;
  onEvent?: (e: EngineEvent) => void;
  maxPixels?: number;
  uploadConcurrency?: number;
  download?: DownloadSettings;
  /** Extra rules the command may run (tests add toy rules to the real graph this way). */
  extraRules?: readonly AnyRule[];
}

export interface Problem {
  image: string | null;
  rule?: string;
  error: ToastyError;
}

export interface Skipped {
  image: string;
  reason: string;
}

export interface RunReport {
  outcomes: NodeOutcome[];
  /** Failures of single images or of the feed: exit status 1 when any. */
  problems: Problem[];
  /** Feed records deliberately not processed (not actionable, already published, skip.flag). */
  skipped: Skipped[];
  rootIndexUrl: string;
  exitCode: 0 | 1;
}

export async function runPipeline(opts: RunOptions): Promise<RunReport> {
  const log = opts.log ?? silentLog;
  const run = await openRun(opts);
  try {
    if (!opts.dryRun) await writeFileAtomic(path.join(run.workdir.root, CONFIG_NAME), run.configText);
    const gathered = await gatherRecords(opts.stage, run.config, run.workdir, { ...opts.download, log });
    const survey = await surveyRepository(opts.repo);
    const chosen = await chooseImages(gathered.records, survey, opts.repo, {
      ours: (id) => run.manifest.get(nodeId(fetchRule, id)) !== undefined,
      forced: globsMatcher(opts.force ?? []),
    });
    const ctx: PipelineContext = {
      workdir: run.workdir,
      repo: opts.repo,
      config: run.config,
      records: chosen.records,
      publishedAtStart: survey.published,
      log,
      maxPixels: opts.maxPixels ?? DEFAULT_MAX_PIXELS,
      uploadConcurrency: opts.uploadConcurrency ?? 8,
      // A feed from the network must not make toasty publish local files.
      download: { ...opts.download, allowFileUrls: run.config.jsonQueryUrl.startsWith('file:') },
    };
    const stageRules = [...STAGES[opts.stage], ...(opts.extraRules ?? [])];
    const outcomes = await execute({
      graph: BuildGraph.build(stageRules, chosen.records.keys()),
      manifest: run.manifest,
      ctx,
      log,
      dryRun: opts.dryRun,
      jobs: opts.jobs,
      onEvent: opts.onEvent,
      force: forcedNodes(opts),
      hold: heldNodes(stageRules, opts.only),
    });
    // Images --only left out were held (so the index saw a plain run's inputs); the report
    // is about the images asked for.
    const selected = opts.only?.length ? globsMatcher(opts.only) : () => true;
    const reported = outcomes.filter((o) => o.group === null || selected(o.group));
    const problems = [...gathered.problems, ...nodeProblems(reported)];
    return {
      outcomes: reported,
      problems,
      skipped: [...gathered.skipped, ...chosen.skipped].filter((s) => selected(s.image)),
      rootIndexUrl: `${run.config.publishUrlPrefix}${ROOT_INDEX}`,
      exitCode: problems.length ? 1 : 0,
    };
  } finally {
    await run.close();
  }
}

interface OpenRun {
  workdir: Workdir;
  config: PipelineConfig;
  configText: string;
  manifest: Manifest;
  close(): Promise<void>;
}

/** Configuration problems and an unusable repository stop everything before any work. */
export async function openRun(opts: Pick<RunOptions, 'workdir' | 'repo' | 'stage' | 'dryRun'>): Promise<OpenRun> {
  const workdir = new Workdir(path.resolve(opts.workdir));
  await opts.repo.check();
  const { config, text: configText } = await loadConfig(opts.repo);
  let lock: HeldLock | null = null;
  try {
    if (!opts.dryRun) lock = await acquireLock(path.join(workdir.root, LOCK_FILE), `toasty ${opts.stage}`);
    if (lock) await workdir.sweepStaleTemporaries();
    const manifest = await Manifest.load(workdir.root, MANIFEST_NAME);
    const close = async () => {
      try {
        if (!opts.dryRun) await manifest.compact();
        await manifest.close();
      } finally {
        await lock?.release();
      }
    };
    return { workdir, config, configText, manifest, close };
  } catch (e) {
    await lock?.release();
    throw engineErrorToToasty(e, workdir.root);
  }
}

export interface GatheredRecords {
  records: Map<string, AstroPixRecord>;
  problems: Problem[];
  skipped: Skipped[];
}

/**
 * The records to work on: from the feed for `make` and `fetch`, else (or when the feed
 * cannot be read) the copies cached in the work dir, so whatever was already fetched can
 * still be processed and published.
 */
export async function gatherRecords(
  stage: Stage,
  config: PipelineConfig,
  workdir: Workdir,
  download: DownloadSettings & { log: Log },
): Promise<GatheredRecords> {
  const out: GatheredRecords = { records: new Map(), problems: [], skipped: [] };
  const fromFeed = stage === 'make' || stage === 'fetch';
  let feedOk = fromFeed;
  if (fromFeed) {
    try {
      const text = await fetchFeedText(config.jsonQueryUrl, download);
      const feed = parseFeed(text, config.jsonQueryUrl);
      for (const r of feed.rejected) out.problems.push({ image: r.id, rule: 'fetch', error: r.error });
      for (const n of feed.notActionable) out.skipped.push({ image: n.id, reason: `not actionable: ${n.reason}` });
      for (const e of feed.entries) out.records.set(e.id, e.record);
    } catch (e) {
      feedOk = false;
      out.problems.push({ image: null, rule: 'fetch', error: toToastyError(e, 'feed') });
    }
  }
  if (!feedOk) {
    const ids = new Set([...(await workdir.ids('cache_todo')), ...(await workdir.ids('cache_done'))]);
    for (const id of ids) {
      if (out.records.has(id)) continue;
      const rec = await workdir.cachedRecord(id);
      if (rec) out.records.set(id, rec);
    }
  }
  return out;
}

export interface RepositorySurvey {
  /** Top-level folders. */
  folders: ReadonlySet<string>;
  /** Folders holding `index.wtml`: completely published images. */
  published: ReadonlySet<string>;
}

export async function surveyRepository(repo: Repository): Promise<RepositorySurvey> {
  const folders = new Set((await repo.list('')).filter((e) => e.isFolder).map((e) => e.name));
  const published = new Set<string>();
  await forEachLimit([...folders], 16, async (id) => {
    if (await repo.exists(`${id}/${INDEX_WTML}`)) published.add(id);
  });
  return { folders, published };
}

/**
 * Leave out images with `skip.flag` in the repository and images published by someone else
 * (or before this work dir existed), unless forced. An image this work dir built stays ours.
 */
export async function chooseImages(
  records: ReadonlyMap<string, AstroPixRecord>,
  survey: RepositorySurvey,
  repo: Repository,
  opts: { ours: (id: string) => boolean; forced: (id: string) => boolean },
): Promise<{ records: Map<string, AstroPixRecord>; skipped: Skipped[] }> {
  const chosen = new Map<string, AstroPixRecord>();
  const skipped: Skipped[] = [];
  for (const [id, record] of records) {
    const ours = opts.ours(id);
    if (!ours && survey.folders.has(id) && (await repo.exists(`${id}/skip.flag`))) {
      skipped.push({ image: id, reason: 'skip.flag in the repository' });
    } else if (!ours && survey.published.has(id) && !opts.forced(id)) {
      skipped.push({ image: id, reason: 'already published' });
    } else {
      chosen.set(id, record);
    }
  }
  return { records: chosen, skipped };
}

/** Forced images' nodes; the index whenever any image is forced, and always for pipeline-reindex. */
function forcedNodes(opts: Pick<RunOptions, 'stage' | 'force'>): (node: NodeRef) => boolean {
  const forced = globsMatcher(opts.force ?? []);
  const anyForced = Boolean(opts.force?.length);
  return (node) => (node.group !== null ? forced(node.group) : opts.stage === 'reindex' || anyForced);
}

/**
 * Nodes of rules this command does not run wait for their own stage; with --only, images
 * not chosen are held too (still assessed, so the index sees the same inputs as a plain run).
 */
function heldNodes(stageRules: readonly AnyRule[], only: readonly string[] | undefined): (node: NodeRef) => string | null {
  const runs = new Set(stageRules.map((r) => r.name));
  const selected = only?.length ? globsMatcher(only) : null;
  return (node) => {
    if (!runs.has(node.rule)) return HELD_FOR_STAGE;
    if (selected && node.group !== null && !selected(node.group)) return HELD_NOT_SELECTED;
    return null;
  };
}

function nodeProblems(outcomes: readonly NodeOutcome[]): Problem[] {
  const problems: Problem[] = [];
  for (const o of outcomes) {
    if (o.status !== 'failed') continue;
    const error = toToastyError(o.error);
    problems.push({ image: o.group, rule: o.rule, error: o.group !== null ? error.forImage(o.group) : error });
  }
  return problems;
}
