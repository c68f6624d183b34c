/**
 * One pipeline invocation: read the config from the repository, gather the records (from the
 * feed, or from the work dir's cached copies for the later stages), build the graph of
 * fetch -> tile -> wtml -> upload -> index nodes, and let the engine bring it up to date.
 *
 * `make` runs the whole graph; each stage command runs one cut of the same graph (nodes of
 * other stages are left alone, and their stale dependents wait for them).
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { BuildGraph, Manifest, acquireLock, execute, type EngineEvent, type NodeOutcome, type NodeSpec, type WorkdirLock } from '../engine/index.js';
import { fetchRule, rootIndexRule, tileRule, uploadRule, wtmlRule } from '../../rules/index.js';
import { parseFeed, type AstroPixRecord } from '../sources/astropix.js';
import { fetchFeedText } from '../sources/http.js';
import type { Repository } from '../storage/types.js';
import { toToastyError } from '../util/errors.js';
import { writeFileAtomic } from '../util/fs.js';
import { globsMatcher } from '../util/glob.js';
import { silentLog, type Log } from '../util/log.js';
import { DEFAULT_MAX_PIXELS } from '../wwt/limits.js';
import { CONFIG_NAME, loadConfig } from './config.js';
import type { DownloadSettings, PipelineContext } from './context.js';
import { Workdir } from './workdir.js';
import { RECORD_FILE } from '../../rules/fetch.js';

export type Stage = 'make' | 'fetch' | 'process' | 'publish' | 'reindex';

/** Which rules each command may run. */
const STAGE_RULES: Record<Stage, readonly string[]> = {
  make: ['fetch', 'tile', 'wtml', 'upload', 'index'],
  fetch: ['fetch'],
  process: ['tile', 'wtml'],
  publish: ['upload'],
  reindex: ['index'],
};

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
}

export interface Problem {
  image: string | null;
  rule?: string;
  message: string;
}

export interface RunReport {
  outcomes: NodeOutcome[];
  /** Failures of single images or of the feed: exit status 1 when any. */
  problems: Problem[];
  /** Feed records deliberately not processed (not actionable, already published, skip.flag). */
  skipped: Array<{ image: string; reason: string }>;
  rootIndexUrl: string;
  exitCode: 0 | 1;
}

export async function runPipeline(opts: RunOptions): Promise<RunReport> {
  const log = opts.log ?? silentLog;
  const { repo } = opts;
  const wd = new Workdir(path.resolve(opts.workdir));
  // Configuration problems and an unusable repository stop everything before any work.
  await repo.check();
  const { config, text: configText } = await loadConfig(repo);
  const problems: Problem[] = [];
  const skipped: RunReport['skipped'] = [];

  let lock: WorkdirLock | null = null;
  if (!opts.dryRun) {
    lock = await acquireLock(wd.root, `toasty ${opts.stage}`);
  }
  const manifest = await Manifest.load(wd.root);
  try {
    if (!opts.dryRun) await writeFileAtomic(path.join(wd.root, CONFIG_NAME), configText);

    // 1. Records: from the feed (make, fetch) or the cached copies (later stages).
    const records = new Map<string, AstroPixRecord>();
    const fromFeed = opts.stage === 'make' || opts.stage === 'fetch';
    let feedOk = true;
    if (fromFeed) {
      try {
        const text = await fetchFeedText(config.jsonQueryUrl, { ...opts.download, log });
        const feed = parseFeed(text, config.jsonQueryUrl);
        for (const r of feed.rejected) {
          problems.push({ image: r.id, rule: 'fetch', message: r.error.message });
        }
        for (const n of feed.notActionable) skipped.push({ image: n.id, reason: `not actionable: ${n.reason}` });
        for (const e of feed.entries) records.set(e.id, e.record);
      } catch (e) {
        feedOk = false;
        problems.push({ image: null, rule: 'fetch', message: toToastyError(e, 'feed').message });
      }
    }
    if (!fromFeed || !feedOk) {
      // Whatever was already fetched can still be processed and published.
      for (const id of new Set([...(await wd.ids('cache_todo')), ...(await wd.ids('cache_done'))])) {
        if (records.has(id)) continue;
        const rec = await readCachedRecord(wd, id);
        if (rec) records.set(id, rec);
      }
    }

    // 2. What the repository already has.
    const folders = new Set((await repo.list('')).filter((e) => e.isFolder).map((e) => e.name));
    const publishedAtStart = new Set<string>();
    await forEachLimit([...folders], 16, async (id) => {
      if (await repo.exists(`${id}/index.wtml`)) publishedAtStart.add(id);
    });
    const only = opts.only?.length ? globsMatcher(opts.only) : null;
    const force = globsMatcher(opts.force ?? []);
    for (const id of [...records.keys()]) {
      if (only && !only(id)) {
        records.delete(id);
        continue;
      }
      // skip.flag keeps a candidate out; an image this work dir already built stays ours.
      const ours = manifest.get(`fetch:${id}`) !== undefined;
      if (!ours && folders.has(id) && (await repo.exists(`${id}/skip.flag`))) {
        skipped.push({ image: id, reason: 'skip.flag in the repository' });
        records.delete(id);
        continue;
      }
      // Published by someone else (or before this work dir existed): not ours to rebuild.
      if (publishedAtStart.has(id) && !ours && !force(id)) {
        skipped.push({ image: id, reason: 'already published' });
        records.delete(id);
      }
    }

    // 3. The graph.
    const ctx: PipelineContext = {
      workdir: wd,
      repo,
      config,
      records,
      publishedAtStart,
      log,
      maxPixels: opts.maxPixels ?? DEFAULT_MAX_PIXELS,
      uploadConcurrency: opts.uploadConcurrency ?? 8,
      // A feed from the network must not make toasty publish local files.
      download: { ...opts.download, allowFileUrls: config.jsonQueryUrl.startsWith('file:') },
    };
    const graph = new BuildGraph<PipelineContext>();
    const stageRules = new Set(STAGE_RULES[opts.stage]);
    if (opts.stage !== 'reindex') {
      const maxRule = opts.stage === 'make' ? 'upload' : STAGE_RULES[opts.stage].at(-1)!;
      const chain = [fetchRule, tileRule, wtmlRule, uploadRule];
      const upto = chain.findIndex((r) => r.name === maxRule);
      // What each rule reads: upload publishes the tile and the wtml outputs together.
      const deps: Record<string, string[]> = { fetch: [], tile: ['fetch'], wtml: ['tile'], upload: ['tile', 'wtml'] };
      for (const id of records.keys()) {
        for (const rule of chain.slice(0, upto + 1)) {
          graph.add({ id: `${rule.name}:${id}`, rule, group: id, deps: deps[rule.name].map((r) => `${r}:${id}`) });
        }
      }
    }
    if (stageRules.has('index')) {
      const uploads = opts.stage === 'make' ? [...records.keys()].map((id) => `upload:${id}`) : [];
      graph.add({ id: 'index', rule: rootIndexRule, group: null, deps: uploads });
    }
    graph.seal();

    const outcomes = await execute({
      graph,
      manifest,
      ctx,
      log,
      dryRun: opts.dryRun,
      jobs: opts.jobs,
      onEvent: opts.onEvent,
      // Forcing any image also refreshes the index; pipeline-reindex always rebuilds it.
      force: (s: NodeSpec<PipelineContext>) => (s.group ? force(s.group) : opts.stage === 'reindex' || Boolean(opts.force?.length)),
      frozen: (s) => !stageRules.has(s.rule.name),
    });
    for (const o of outcomes) {
      if (o.status === 'failed') {
        problems.push({ image: o.group, rule: o.rule, message: toToastyError(o.error).message });
      }
    }
    return {
      outcomes,
      problems,
      skipped,
      rootIndexUrl: `${config.publishUrlPrefix}index.wtml`,
      exitCode: problems.length ? 1 : 0,
    };
  } finally {
    if (!opts.dryRun) await manifest.compact();
    await manifest.close();
    await lock?.release();
  }
}

async function readCachedRecord(wd: Workdir, id: string): Promise<AstroPixRecord | null> {
  const dir = await wd.cacheDir(id);
  if (!dir) return null;
  try {
    const rec = JSON.parse(await fsp.readFile(path.join(dir, RECORD_FILE), 'utf8')) as AstroPixRecord;
    delete rec.toasty_cached_image_name;
    return rec;
  } catch {
    return null;
  }
}

async function forEachLimit<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}


