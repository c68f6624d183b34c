/**
 * One pipeline invocation, as a few named steps:
 *   openRun         check the repository, read its config, lock the work dir, load the manifest
 *   gatherRecords   the feed's candidates (make, fetch) or the cached records (later stages)
 *   surveyRepository  which images the repository already has
 *   adoptBuildRecords what the repository's build records say of images this work dir lacks
 *   chooseImages    leave out skip.flag images and those published by someone else
 *   completeRecords the record of each chosen image the listing named without one
 *   BuildGraph.build  the graph of the command's rules (and what they depend on) over the images
 *   execute         the engine brings it up to date, holding nodes this command may not run
 *
 * `make` may run every rule; each stage command runs one cut of the same graph (nodes of other
 * stages are held, and their stale dependents wait for them).
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { BuildGraph, Manifest, execute, type AnyRule, type EngineEvent, type NodeOutcome, type NodeRef, nodeId } from '../engine/index.js';
import { STAGES, fetchRule, publishedPixelsOf, rootIndexRule, tileRule, uploadRule, wtmlRule, type Stage } from '../../rules/index.js';
import type { FetchMeta } from '../../rules/fetch.js';
import type { Candidates, SourceAdapter, SourceIo, SourceRecord } from '../sources/source.js';
import type { Repository } from '../storage/types.js';
import { ToastyError, toToastyError } from '../util/errors.js';
import { hasher } from '../util/digest.js';
import { deepFreeze } from '../util/freeze.js';
import { writeFileAtomic } from '../util/fs.js';
import { acquireLock, type HeldLock } from '../util/lock.js';
import { closest } from '../util/closest.js';
import { globsMatcher } from '../util/glob.js';
import { silentLog, type Log } from '../util/log.js';
import { DEFAULT_MAX_PIXELS } from '../wwt/limits.js';
import { INDEX_WTML, TILE_NAME_START } from '../wwt/study-files.js';
import { CONFIG_NAME, ROOT_INDEX, loadConfig, saveParsedConfig, unknownKeyWarnings, type PipelineConfig } from './config.js';
import { adoptBuildRecords } from './build-record.js';
import type { DownloadSettings, PipelineContext } from './context.js';
import { engineErrorToToasty } from './engine-errors.js';
import { HELD_FOR_STAGE, HELD_NOT_SELECTED } from './holds.js';
import { LOCK_FILE, MANIFEST_NAME, type NotActionableVerdict, SKIP_FLAG, Workdir } from './workdir.js';

export type { Stage };

export { HELD_FOR_STAGE, HELD_NOT_SELECTED } from './holds.js';

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
  /** Only the images of shard `index` of `count` (by a stable hash of the id); no root index. */
  shard?: { index: number; count: number };
  /** Images to publish again in full (a repair): nothing the repository holds is trusted. */
  republish?: readonly string[];
  /** Write tile PNGs for speed rather than size (part of the tile key). */
  fastTiles?: boolean;
  /** Ask the source again for every record it lists without one (Djangoplicity details). */
  recheck?: boolean;
  /** Aborted (Ctrl-C): start no more nodes; what runs finishes and is recorded. */
  signal?: AbortSignal;
}

export interface Problem {
  /** What failed: one image, the feed as a whole, or the repository's root index. */
  about: 'image' | 'feed' | 'root-index';
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
  /** Whether the root index was looked at (fresh or rewritten) in this run. */
  indexed: boolean;
  /** 2 when the feed could not be read at all (no answer, an error status). */
  exitCode: 0 | 1 | 2;
}

export async function runPipeline(opts: RunOptions): Promise<RunReport> {
  const log = opts.log ?? silentLog;
  // The repository survey starts as soon as the repository is known to be usable: on a large
  // local one its calls run in a worker thread, meanwhile the manifest and the feed are read.
  let surveying: Promise<RepositorySurvey> | null = null;
  const run = await openRun(opts, () => {
    surveying = surveyRepository(opts.repo);
    surveying.catch(() => {}); // awaited below; an error is reported there
  });
  try {
    for (const warning of unknownKeyWarnings(run.config)) log.warn(warning);
    if (!opts.dryRun) {
      // Only when it changed: an up-to-date run writes (and waits for the disk on) nothing it
      // need not.
      const copy = path.join(run.workdir.root, CONFIG_NAME);
      if ((await fsp.readFile(copy, 'utf8').catch(() => null)) !== run.configText) await writeFileAtomic(copy, run.configText);
      if (run.configDocument !== undefined) await saveParsedConfig(run.workdir.root, run.configText, run.configDocument);
    }
    const source = run.config.source;
    const io: SourceIo = { ...opts.download, log };
    const gathered = await gatherRecords(opts.stage, run.config, run.workdir, io);
    if (opts.shard) await keepShard(gathered.records, opts.shard);
    const forcedImage = globsMatcher(opts.force ?? []);
    const republish = new Set(opts.republish ?? []);
    const survey = await (surveying ?? surveyRepository(opts.repo));
    const known = [...gathered.records.keys()].filter((id) => survey.published.has(id));
    await adoptBuildRecords(
      opts.repo,
      run.manifest,
      { image: [fetchRule, tileRule, wtmlRule, uploadRule], publish: uploadRule, index: rootIndexRule },
      known,
      survey.indexMd5,
    );
    // A pattern that names no image is a mistake (a feed's own id, a typo): say so, not nothing.
    // (Unless the feed itself failed: then that is the news, and the listing is incomplete.)
    if (!gathered.problems.some((p) => p.about === 'feed')) {
      const listed = [...gathered.records.keys(), ...gathered.skipped.map((s) => s.image)];
      checkPatterns('--force', opts.force, listed);
      checkPatterns('--only', opts.only, listed);
    }
    const chosen = await chooseImages(gathered.records, survey, {
      ours: (id) => run.manifest.has(nodeId(fetchRule, id)),
      forced: (id) => forcedImage(id) || republish.has(id),
    });
    const completed = await completeRecords(chosen.records, source, {
      known: (id) => knownRecord(run, source, id),
      recheck: opts.recheck ?? false,
      io,
      verdicts: {
        read: () => run.workdir.notActionable(),
        write: async (v) => void (opts.dryRun || (await run.workdir.saveNotActionable(v))),
      },
    });
    // Frozen: a record is part of several nodes' keys, and the engine serialises a frozen
    // value once (util/freeze.ts).
    for (const record of completed.records.values()) deepFreeze(record);
    const ctx: PipelineContext = {
      workdir: run.workdir,
      repo: opts.repo,
      config: run.config,
      source,
      records: completed.records,
      publishedAtStart: survey.published,
      rejected: survey.rejected,
      publishedPixels: (id) => {
        const upload = run.manifest.get(nodeId(uploadRule, id));
        return upload ? publishedPixelsOf(id, upload.result) : undefined;
      },
      republish,
      log,
      maxPixels: opts.maxPixels ?? DEFAULT_MAX_PIXELS,
      uploadConcurrency: opts.uploadConcurrency ?? 8,
      tilePng: opts.fastTiles ? 'fast' : 'small',
      // A feed from the network must not make toasty publish local files.
      download: { ...opts.download, allowFileUrls: source.allowFileImages },
    };
    // A shard never writes the root index: one reindex after all shards does.
    const stageRules = [...STAGES[opts.stage], ...(opts.extraRules ?? [])].filter((r) => !opts.shard || r !== rootIndexRule);
    const outcomes = await execute({
      graph: BuildGraph.build(stageRules, completed.records.keys()),
      manifest: run.manifest,
      ctx,
      log,
      dryRun: opts.dryRun,
      jobs: opts.jobs,
      onEvent: opts.onEvent,
      force: forcedNodes(opts),
      hold: heldNodes(stageRules, opts.only),
      signal: opts.signal,
    });
    // Images --only left out were held (so the index saw a plain run's inputs); the report
    // is about the images asked for.
    const selected = opts.only?.length ? globsMatcher(opts.only) : () => true;
    const reported = outcomes.filter((o) => o.group === null || selected(o.group));
    const problems = [...gathered.problems, ...completed.problems.filter((p) => p.image === null || selected(p.image)), ...nodeProblems(reported)];
    return {
      outcomes: reported,
      problems,
      skipped: [...gathered.skipped, ...chosen.skipped, ...completed.skipped].filter((s) => selected(s.image)),
      rootIndexUrl: `${run.config.publishUrlPrefix}${ROOT_INDEX}`,
      indexed: reported.some((o) => o.rule === rootIndexRule.name && o.status !== 'skipped'),
      exitCode: problems.some(feedUnreachable) ? 2 : problems.length ? 1 : 0,
    };
  } finally {
    await run.close();
  }
}

interface OpenRun {
  workdir: Workdir;
  config: PipelineConfig;
  configText: string;
  /** The config's document when it was read from YAML in this run (to keep in the work dir). */
  configDocument?: unknown;
  manifest: Manifest;
  close(): Promise<void>;
}

/** Configuration problems and an unusable repository stop everything before any work. */
export async function openRun(opts: Pick<RunOptions, 'workdir' | 'repo' | 'stage' | 'dryRun'>, repositoryReady?: () => void): Promise<OpenRun> {
  const workdir = new Workdir(path.resolve(opts.workdir));
  await workdir.prepare(!opts.dryRun);
  // A dry run changes nothing, so it needs no proof of write access.
  await opts.repo.check({ write: !opts.dryRun });
  const { config, text: configText, document: configDocument } = await loadConfig(opts.repo, { workdir: workdir.root });
  repositoryReady?.();
  let lock: HeldLock | null = null;
  try {
    if (!opts.dryRun) lock = await acquireLock(path.join(workdir.root, LOCK_FILE), `toasty ${opts.stage}`);
    if (lock) await workdir.sweepStaleTemporaries();
    // A dry run holds no lock: a run alongside may change the work dir under it either way.
    await workdir.listTodoAreas();
    const manifest = await Manifest.load(workdir.root, MANIFEST_NAME);
    const close = async () => {
      try {
        if (!opts.dryRun) await manifest.compact();
        await manifest.close();
      } finally {
        await lock?.release();
      }
    };
    return { workdir, config, configText, configDocument, manifest, close };
  } catch (e) {
    await lock?.release();
    throw engineErrorToToasty(e, workdir.root);
  }
}

export interface GatheredRecords<R = SourceRecord | null> {
  /** By image id; a null record is one the listing named without it (see completeRecords). */
  records: Map<string, R>;
  problems: Problem[];
  skipped: Skipped[];
}

/**
 * The candidates to work on: from the feed for `make` and `fetch`, else (or when the feed
 * cannot be read) the records cached in the work dir, so whatever was already fetched can
 * still be processed and published.
 */
export async function gatherRecords(stage: Stage, config: PipelineConfig, workdir: Workdir, io: SourceIo): Promise<GatheredRecords> {
  const out: GatheredRecords = { records: new Map(), problems: [], skipped: [] };
  const fromFeed = stage === 'make' || stage === 'fetch';
  let feedOk = fromFeed;
  if (fromFeed) {
    try {
      const feed = await config.source.list(io);
      addCandidates(out, feed);
    } catch (e) {
      feedOk = false;
      out.problems.push({ about: 'feed', image: null, rule: 'fetch', error: toToastyError(e, 'feed') });
    }
  }
  if (!feedOk) {
    const ids = new Set([...(await workdir.ids('cache_todo')), ...(await workdir.ids('cache_done'))]);
    for (const id of ids) {
      if (out.records.has(id)) continue;
      const rec = await workdir.cachedRecord(id, config.source.recordFile);
      if (rec) out.records.set(id, rec);
    }
  }
  return out;
}

function addCandidates<R>(out: GatheredRecords<R>, c: Candidates<R>): void {
  for (const r of c.rejected) out.problems.push({ about: 'image', image: r.id, rule: 'fetch', error: r.error });
  for (const n of c.notActionable) out.skipped.push({ image: n.id, reason: `not actionable: ${n.reason}` });
  for (const [id, record] of c.records) out.records.set(id, record);
}

/**
 * Every chosen image's record. One the listing named without its record comes from what this
 * work dir or the repository's build record already has (`known`), else from the source;
 * `recheck` asks the source for all of them again (a failure then keeps the known record).
 * Images the source called not actionable are remembered (`verdicts`) and not asked for again
 * until `recheck`; a record from the source forgets the verdict.
 */
export async function completeRecords(
  records: ReadonlyMap<string, SourceRecord | null>,
  source: SourceAdapter,
  opts: { known: (id: string) => Promise<SourceRecord | null>; recheck: boolean; io: SourceIo; verdicts?: NotActionableMemory },
): Promise<GatheredRecords<SourceRecord>> {
  const out: GatheredRecords<SourceRecord> = { records: new Map(), problems: [], skipped: [] };
  const known = new Map<string, SourceRecord>();
  const verdicts = (await opts.verdicts?.read()) ?? new Map<string, NotActionableVerdict>();
  const ask: string[] = [];
  for (const [id, record] of records) {
    if (record) continue;
    const verdict = opts.recheck ? undefined : verdicts.get(id);
    if (verdict) {
      out.skipped.push({ image: id, reason: `not actionable: ${verdict.reason} (remembered from ${verdict.at}; --recheck asks again)` });
      continue;
    }
    const k = await opts.known(id);
    if (k) known.set(id, k);
    if (!k || opts.recheck) ask.push(id);
  }
  let described: Candidates<SourceRecord> = { records: new Map(), rejected: [], notActionable: [] };
  if (ask.length) {
    if (!source.describe) throw new Error(`the ${source.type} listing named images without their records`);
    described = await source.describe(ask, opts.io);
  }
  addCandidates(out, described);
  if (opts.verdicts && rememberVerdicts(verdicts, described)) await opts.verdicts.write(verdicts);
  // Listing order, so the graph is the same whichever way a record came.
  const ordered = new Map<string, SourceRecord>();
  const notActionable = new Set(out.skipped.map((s) => s.image));
  for (const [id, record] of records) {
    const r = record ?? out.records.get(id) ?? (notActionable.has(id) ? undefined : known.get(id));
    if (r) ordered.set(id, r);
  }
  out.records = ordered;
  return out;
}

/** Where `completeRecords` keeps the source's not-actionable verdicts between runs. */
export interface NotActionableMemory {
  /** Null when what was remembered cannot be read (then nothing is). */
  read(): Promise<Map<string, NotActionableVerdict> | null>;
  write(verdicts: ReadonlyMap<string, NotActionableVerdict>): Promise<void>;
}

/** Record what the source just said of each image asked for; whether anything changed. */
function rememberVerdicts(verdicts: Map<string, NotActionableVerdict>, described: Candidates<SourceRecord>): boolean {
  let changed = false;
  const at = new Date().toISOString();
  for (const { id, reason } of described.notActionable) {
    if (verdicts.get(id)?.reason === reason) continue;
    verdicts.set(id, { reason, at });
    changed = true;
  }
  for (const id of described.records.keys()) changed = verdicts.delete(id) || changed;
  return changed;
}

/** What this work dir caches, or the fetch node recorded (maybe adopted), as an image's record. */
async function knownRecord(run: OpenRun, source: SourceAdapter, id: string): Promise<SourceRecord | null> {
  const cached = await run.workdir.cachedRecord(id, source.recordFile);
  if (cached) return cached;
  const meta = run.manifest.get(nodeId(fetchRule, id))?.result.meta as FetchMeta | undefined;
  return meta?.record ?? null;
}

export interface RepositorySurvey {
  /** Top-level folders. */
  folders: ReadonlySet<string>;
  /** Folders holding `index.wtml`: completely published images. */
  published: ReadonlySet<string>;
  /** Folders holding `skip.flag`: images not to publish (`toasty reject`, or another tool). */
  rejected: ReadonlySet<string>;
  /** The MD5 of each published `index.wtml`, where the storage gave it with the check. */
  indexMd5: ReadonlyMap<string, string>;
}

export async function surveyRepository(repo: Repository): Promise<RepositorySurvey> {
  const folders = new Set((await repo.list('')).filter((e) => e.isFolder).map((e) => e.name));
  const published = new Set<string>();
  const rejected = new Set<string>();
  const indexMd5 = new Map<string, string>();
  // Two names in every image folder (one listing each on Azure, passing over the tiles).
  const probed = await repo.probeFolders([...folders], [INDEX_WTML, SKIP_FLAG], { bulk: TILE_NAME_START });
  for (const id of folders) {
    const found = probed.get(id);
    if (!found) continue;
    if (found.has(SKIP_FLAG)) rejected.add(id);
    const index = found.get(INDEX_WTML);
    if (!index) continue;
    published.add(id);
    if (index.md5) indexMd5.set(id, index.md5);
  }
  return { folders, published, rejected, indexMd5 };
}

/**
 * Leave out images with `skip.flag` in the repository (always: `--force` does not undo a
 * rejection, `toasty reject --undo` does) and images published by someone else (or before this
 * work dir existed), unless forced. An image this work dir built stays ours.
 */
export async function chooseImages<R>(
  records: ReadonlyMap<string, R>,
  survey: RepositorySurvey,
  opts: { ours: (id: string) => boolean; forced: (id: string) => boolean },
): Promise<{ records: Map<string, R>; skipped: Skipped[] }> {
  const chosen = new Map<string, R>();
  const skipped: Skipped[] = [];
  for (const [id, record] of records) {
    const ours = opts.ours(id);
    if (survey.rejected.has(id)) {
      skipped.push({ image: id, reason: 'skip.flag in the repository' });
    } else if (!ours && survey.published.has(id) && !opts.forced(id)) {
      skipped.push({ image: id, reason: 'already published' });
    } else {
      chosen.set(id, record);
    }
  }
  return { records: chosen, skipped };
}

/**
 * Forced images' nodes and the uploads of images to republish; the index whenever any image
 * is, and always for pipeline-reindex.
 */
function forcedNodes(opts: Pick<RunOptions, 'stage' | 'force' | 'republish'>): (node: NodeRef) => boolean {
  const forced = globsMatcher(opts.force ?? []);
  const republish = new Set(opts.republish ?? []);
  const anyForced = Boolean(opts.force?.length || republish.size);
  return (node) =>
    node.group !== null ? forced(node.group) || (node.rule === uploadRule.name && republish.has(node.group)) : opts.stage === 'reindex' || anyForced;
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

/** Exit 2 for an id or glob that matches no listed image, naming the closest ids. */
export function checkPatterns(option: string, patterns: readonly string[] | undefined, ids: readonly string[]): void {
  for (const pattern of patterns ?? []) {
    if (ids.some(globsMatcher([pattern]))) continue;
    const near = closest(pattern, ids, 3);
    throw new ToastyError('usage', `${option} ${pattern} matches no image of the feed${near.length ? `; closest: ${near.join(', ')}` : ''}`, {
      field: option.slice(2),
    });
  }
}

/** Keep only the records of shard `index` of `count`: a stable hash of the id, so every run agrees. */
export async function keepShard(records: Map<string, unknown>, shard: { index: number; count: number }): Promise<void> {
  const h = await hasher();
  for (const id of [...records.keys()]) {
    if (Number(h.h64(id) % BigInt(shard.count)) !== shard.index) records.delete(id);
  }
}

/** The feed could not be read at all: not one image's fault, so a configuration-level failure. */
export const feedUnreachable = (p: Problem): boolean => p.about === 'feed' && p.error.unreachable === true;

function nodeProblems(outcomes: readonly NodeOutcome[]): Problem[] {
  const problems: Problem[] = [];
  for (const o of outcomes) {
    if (o.status !== 'failed') continue;
    const error = toToastyError(o.error);
    problems.push(
      o.group !== null
        ? { about: 'image', image: o.group, rule: o.rule, error: error.forImage(o.group) }
        : { about: 'root-index', image: null, rule: o.rule, error },
    );
  }
  return problems;
}
