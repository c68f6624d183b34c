/**
 * What every pipeline rule gets: the work dir, the repository, the config, the source and its
 * records, and the knobs of this run. Rules in /rules read from here and never from globals,
 * and define themselves with `pipelineRule` so the engine types their dependencies. Rules
 * never name a source: they ask `source` about a record.
 */
import { ruleFor } from '../engine/types.js';
import type { SourceAdapter, SourceRecord } from '../sources/source.js';
import type { Repository } from '../storage/types.js';
import type { Log } from '../util/log.js';
import type { TilePngMode } from '../wwt/encoding.js';
import type { StudySource } from '../wwt/study-wtml.js';
import type { AvmWcs } from '../wwt/wcs.js';
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
  /** The feed's adapter (the config's `source_type`). */
  source: SourceAdapter;
  /** The current record of each image in the graph (from the feed, or the cached copy). */
  records: ReadonlyMap<string, SourceRecord>;
  /** Ids whose `<id>/index.wtml` was in the repository when the run started. */
  publishedAtStart: ReadonlySet<string>;
  /** Ids with `<id>/skip.flag` in the repository when the run started: kept out of the root index. */
  rejected: ReadonlySet<string>;
  /**
   * Where an image's published pixel files are and what they are, as last committed. Asked
   * of each image once, by its WTML: worked out then rather than kept for every image.
   */
  publishedPixels(id: string): PublishedPixels | undefined;
  /** Images whose every file is to be sent again (a repair): the repository is not trusted. */
  republish: ReadonlySet<string>;
  log: Log;
  /** Refuse images with more pixels than this (decompression bombs, runaway memory). */
  maxPixels: number;
  /** How many files to upload at once. */
  uploadConcurrency: number;
  /** Tile PNGs small (the default) or fast to write. */
  tilePng: TilePngMode;
  download: DownloadSettings;
}

export interface PublishedPixels {
  /** Subfolder of the image folder holding them: '' (flat) or `<digest>/`. */
  dir: string;
  /** The pixel files (tile rule outputs) by name, with their digests. */
  files: Readonly<Record<string, string>>;
}

/** Define a pipeline rule whose results carry meta `M`: `pipelineRule<TileMeta>()({...})`. */
export const pipelineRule = <M = undefined>() => ruleFor<PipelineContext, M>();

/** The record of an image in the graph (every graph group has one). */
export function recordOf(ctx: PipelineContext, id: string): SourceRecord {
  const record = ctx.records.get(id);
  if (!record) throw new Error(`no feed record for ${id}`);
  return record;
}

/** The study an image's record describes, as its source reads it. */
export function studyOf(ctx: PipelineContext, id: string): StudySource {
  return ctx.source.study(recordOf(ctx, id), id);
}

/** The WCS of the study an image's record describes, without building its text. */
export function wcsOf(ctx: PipelineContext, id: string): AvmWcs {
  const record = recordOf(ctx, id);
  return ctx.source.wcs ? ctx.source.wcs(record, id) : ctx.source.study(record, id).wcs;
}
