/**
 * What every pipeline rule gets: the work dir, the repository, the config, the records, and
 * the knobs of this run. Rules in /rules read from here and never from globals.
 */
import type { Log } from '../util/log.js';
import type { Repository } from '../storage/types.js';
import type { AstroPixRecord } from '../sources/astropix.js';
import type { PipelineConfig } from './config.js';
import type { Workdir } from './workdir.js';

export interface DownloadSettings {
  timeoutMs?: number;
  retries?: number;
  retryBaseMs?: number;
  /** Images may come from file: URLs only when the feed itself is a local file. */
  allowFileUrls?: boolean;
}

export interface PipelineContext {
  workdir: Workdir;
  repo: Repository;
  config: PipelineConfig;
  /** The current record of each image in the graph (from the feed, or the cached copy). */
  records: Map<string, AstroPixRecord>;
  /** Ids whose `<id>/index.wtml` was in the repository when the run started. */
  publishedAtStart: Set<string>;
  log: Log;
  /** Refuse images with more pixels than this (decompression bombs, runaway memory). */
  maxPixels: number;
  /** How many files to upload at once. */
  uploadConcurrency: number;
  download: DownloadSettings;
}

export const imageOf = (group: string | null): string => {
  if (group === null) throw new Error('per-image rule used on a whole-graph node');
  return group;
};
