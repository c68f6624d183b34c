/**
 * A source of images, as the pipeline sees it: an adapter that turns its feed into neutral
 * candidates. Past src/sources/ no code reads a source's own field names: a record is plain
 * JSON that the fetch node keys on, and the adapter says where its image comes from and what
 * study it makes (the sky position as AVM quantities, and the text).
 *
 * Adding a source: one file exporting a `SourceDefinition`, and one line in `registry.ts`.
 */
import type { ToastyError } from '../util/errors.js';
import type { Log } from '../util/log.js';
import type { StudySource } from '../wwt/study-wtml.js';
import type { AvmWcs } from '../wwt/wcs.js';
import type { HttpOptions } from './http.js';

/** One image's record as its source gave it (minus volatile fields): plain JSON. */
export type SourceRecord = Record<string, unknown>;

/** What a feed (or a batch of its details) yields. */
export interface Candidates<R> {
  /** Usable candidates by unique id, in feed order. */
  records: Map<string, R>;
  /** Entries that cannot be used, with why; `id` is null when the entry has no usable id. */
  rejected: Array<{ id: string | null; error: ToastyError }>;
  /** Entries deliberately not processed, with the reason. */
  notActionable: Array<{ id: string; reason: string }>;
}

/** Where an image's bytes come from. */
export interface SourceDownload {
  url: string;
  /** File name in the work dir's cache: `image.<ext>`. */
  cacheName: string;
  /**
   * The source's date for the image, or null: while the URL and this date stay the same, a
   * changed record reuses the cached download.
   */
  date: string | null;
}

/** How a source reaches the network: the pipeline's retry and timeout settings. */
export type SourceIo = Pick<HttpOptions, 'timeoutMs' | 'retries' | 'retryBaseMs'> & { log: Log };

export interface SourceAdapter {
  /** The config's `source_type`. */
  readonly type: string;
  /** The record cached beside each downloaded image in the work dir (later stages read it). */
  readonly recordFile: string;
  /** Images may come from `file:` URLs: only when the feed itself is a local file. */
  readonly allowFileImages: boolean;
  /** Settings that shape every study's text (they join the wtml key), if the source has any. */
  readonly studySettings?: Readonly<Record<string, string>>;
  /**
   * The feed's candidates. A null record: the listing names the image but not its record,
   * which `describe` fetches. A feed that cannot be read throws ToastyError `feed`.
   */
  list(io: SourceIo): Promise<Candidates<SourceRecord | null>>;
  /** Records of listed images, from the source; a failure is that image's problem alone. */
  describe?(ids: readonly string[], io: SourceIo): Promise<Candidates<SourceRecord>>;
  /** Where the image comes from; ToastyError `record` naming the field when the record cannot say. */
  download(record: SourceRecord): SourceDownload;
  /** The study the record describes; errors name the record's field. */
  study(record: SourceRecord, id: string): StudySource;
  /**
   * The study's WCS alone, as `study` reads it (the same value, the same WCS errors): planning
   * asks every image's parity, and building the text for it cost as much again.
   */
  wcs?(record: SourceRecord, id: string): AvmWcs;
}

/** One `source_type`: its section of the config file -> its adapter. */
export interface SourceDefinition {
  readonly type: string;
  /** Settings its section must hold (named when the section is missing). */
  readonly required: readonly string[];
  configure(section: SettingsSection): SourceAdapter;
}

/** A source's section of the config file; errors name `<source_type>.<key>`. */
export interface SettingsSection {
  /** A string setting; '' when it is optional and absent. */
  string(key: string, required: boolean): string;
  /** A whole number of at least 1; `fallback` when absent. */
  count(key: string, fallback: number): number;
  /** A configuration error about one setting. */
  error(key: string, message: string): ToastyError;
}
