/**
 * What every pipeline rule gets: the work dir, the repository, the config, the records, and
 * the knobs of this run. Rules in /rules read from here and never from globals, and define
 * themselves with `pipelineRule` so the engine types their dependencies.
 */
import { ruleFor } from '../engine/types.js';
import type { Repository } from '../storage/types.js';
import type { Log } from '../util/log.js';
import type { AstroPixRecord } from '../wwt/wcs.js';
import type { PipelineConfig } from './config.js';
import type { Workdir } from './workdir.js';

export interface DownloadSettings {
  timeoutMs?: number;
  retries?: number;
  retryBaseMs?: number;
  /** Deadline for each whole download (feed and images), in ms; default sized to the body. */
  deadlineMs?: number;
  /** Images may come from file: URLs only when the feed itself is a local file. */
  allowFileUrls?: boolean;
}

export interface PipelineContext {
  workdir: Workdir;
  repo: Repository;
  config: PipelineConfig;
  /** The current record of each image in the graph (from the feed, or the cached copy). */
  records: ReadonlyMap<string, AstroPixRecord>;
  /** Ids whose `<id>/index.wtml` was in the repository when the run started. */
  publishedAtStart: ReadonlySet<string>;
  log: Log;
  /** Refuse images with more pixels than this (decompression bombs, runaway memory). */
  maxPixels: number;
  /** How many files to upload at once. */
  uploadConcurrency: number;
  download: DownloadSettings;
}

/** Define a pipeline rule whose results carry meta `M`: `pipelineRule<TileMeta>()({...})`. */
export const pipelineRule = <M = undefined>() => ruleFor<PipelineContext, M>();

/** The record of an image in the graph (every graph group has one). */
export function recordOf(ctx: PipelineContext, id: string): AstroPixRecord {
  const record = ctx.records.get(id);
  if (!record) throw new Error(`no feed record for ${id}`);
  return record;
}
