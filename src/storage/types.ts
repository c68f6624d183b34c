/**
 * The data repository a pipeline publishes into: a local folder or an Azure Blob
 * container. Both speak in '/'-joined item paths relative to the repository root, e.g.
 * `nrao_nrao_gallery009/L4X3Y3.png` or `index.wtml`.
 */
import { ToastyError } from '../util/errors.js';
import { forEachLimit } from '../util/pool.js';

export interface RepoEntry {
  name: string;
  isFolder: boolean;
  /** Base64 content MD5, when the listing carries it for free (Azure). */
  md5?: string;
}

export interface RepoStat {
  size: number;
  /** Base64 content MD5 when known (both backends fill it for items toasty wrote). */
  md5?: string;
  /** User metadata (lower-case keys). Only backends with `keepsMeta` store it. */
  meta?: Record<string, string>;
}

export interface PutOptions {
  /** Defaults to `contentTypeFor(path)`. */
  contentType?: string;
  /** User metadata; keys lower-case letters, digits and `_`, not starting with a digit. */
  meta?: Record<string, string>;
  /** Base64 MD5 of the content, when the caller has it already (a file is then not read twice). */
  md5?: string;
}

export interface ProbeOptions {
  /**
   * A string that none of the probed names contains but the folder's bulk does (e.g. 'L' for
   * tile names `L4X3Y3.png`): a listing may skip every name containing it, so a folder of
   * thousands of tiles is still a small answer (Azure lists with it as the delimiter).
   */
  bulk?: string;
}

export interface Repository {
  /** Human description without secrets: "local folder /x" or "Azure container NAME (prefix P)". */
  readonly description: string;
  /** Whether `put` metadata is stored and returned by `stat` (Azure yes, local folder no). */
  readonly keepsMeta: boolean;
  /**
   * Verify the repository is usable before any work (folder exists / container exists, creds OK,
   * endpoint reachable, and unless `write: false`, writable); throws ToastyError code 'storage'
   * naming the container, never the secret.
   */
  check(opts?: { write?: boolean }): Promise<void>;
  /** Item contents, or null when there is no such item. */
  get(path: string): Promise<Buffer | null>;
  /** Whether an item (not a folder) exists at `path`. */
  exists(path: string): Promise<boolean>;
  /**
   * Which of `names` (single path segments) are items directly in `folder`, each with its MD5
   * when the backend has it without reading the content (Azure: yes; a local folder: no). One
   * request on Azure however many names (a listing of the folder); a name that is missing, a
   * folder, or (locally) a symbolic link leading out of the repository is absent.
   */
  probeFolder(folder: string, names: readonly string[], opts?: ProbeOptions): Promise<Map<string, { md5?: string }>>;
  /** `probeFolder` for many folders (every image folder of a run), by folder. */
  probeFolders(folders: readonly string[], names: readonly string[], opts?: ProbeOptions): Promise<Map<string, Map<string, { md5?: string }>>>;
  stat(path: string): Promise<RepoStat | null>;
  /** Create or overwrite an item; readers never see a half-written item. */
  put(path: string, data: Buffer | string, opts?: PutOptions): Promise<void>;
  /** Upload a local file (streamed; parallel blocks on Azure for big files). */
  putFile(path: string, localFile: string, opts?: PutOptions): Promise<void>;
  /** One level: '' = root, 'id' = inside that folder; sorted by name (code-unit order). */
  list(folder: string): Promise<RepoEntry[]>;
  /** Remove an item; a missing item is fine. */
  delete(path: string): Promise<void>;
  /**
   * Run `fn` holding the repository-wide lock `name` (a lock file locally, a blob lease on
   * Azure): another holder is waited for up to `waitMs` (default 2 min), then it is a 'lock'
   * error. A holder that dies frees the lock (its pid is gone / its lease expires).
   */
  exclusive<T>(name: string, fn: () => Promise<T>, opts?: { waitMs?: number }): Promise<T>;
}

/** How long a repository lock is waited for by default. */
export const LOCK_WAIT_MS = 120_000;

/**
 * Split and check an item path. Rejects what would mean different things on the two backends
 * or escape the repository: empty, leading '/', empty/'.'/'..' segments, backslashes, NUL.
 */
export function itemPathSegments(itemPath: string, what = 'item path'): string[] {
  const bad = (why: string) => new ToastyError('storage', `invalid repository ${what} ${JSON.stringify(itemPath)}: ${why}`);
  if (typeof itemPath !== 'string' || itemPath.length === 0) throw bad('empty');
  if (itemPath.includes('\\')) throw bad("backslash (use '/')");
  if (itemPath.includes('\0')) throw bad('NUL character');
  if (itemPath.startsWith('/')) throw bad("leading '/'");
  const segs = itemPath.split('/');
  for (const s of segs) {
    if (s === '') throw bad("empty segment (doubled or trailing '/')");
    if (s === '.' || s === '..') throw bad(`'${s}' segment`);
  }
  return segs;
}

/** The names argument of `probeFolder`: single segments, without the `bulk` string. */
export function probeNames(names: readonly string[], opts: ProbeOptions = {}): void {
  if (opts.bulk !== undefined && (opts.bulk === '' || opts.bulk.includes('/'))) {
    throw new ToastyError('storage', `invalid probe bulk ${JSON.stringify(opts.bulk)}: non-empty, without '/'`);
  }
  for (const name of names) {
    if (itemPathSegments(name, 'name').length !== 1) throw new ToastyError('storage', `invalid repository name ${JSON.stringify(name)}: one segment`);
    if (opts.bulk && name.includes(opts.bulk)) {
      throw new ToastyError('storage', `invalid repository name ${JSON.stringify(name)}: it contains the bulk string ${JSON.stringify(opts.bulk)}`);
    }
  }
}

/** Folder argument of `list`: '' is the root, otherwise an item path. */
export function folderSegments(folder: string): string[] {
  return folder === '' ? [] : itemPathSegments(folder, 'folder');
}

const META_KEY = /^[a-z_][a-z0-9_]*$/;

/** Metadata keys must be valid on Azure (C# identifiers); lower-case since Azure lower-cases them. */
export function checkMeta(meta: Record<string, string> | undefined): Record<string, string> | undefined {
  if (!meta) return undefined;
  for (const [k, v] of Object.entries(meta)) {
    if (!META_KEY.test(k)) {
      throw new ToastyError('storage', `invalid metadata key ${JSON.stringify(k)}: use lower-case letters, digits and '_'`);
    }
    if (typeof v !== 'string' || !/^[\x20-\x7e]*$/.test(v)) {
      throw new ToastyError('storage', `invalid metadata value for ${k}: printable ASCII only`);
    }
  }
  return meta;
}

/** Code-unit order, independent of locale, used by both backends. */
export function byName(a: RepoEntry, b: RepoEntry): number {
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

/** `probeFolders` as one `probeFolder` per folder, `width` at a time (each a round trip on Azure). */
export async function probeEachFolder(
  repo: Pick<Repository, 'probeFolder'>,
  folders: readonly string[],
  names: readonly string[],
  opts: ProbeOptions = {},
  width = 32,
): Promise<Map<string, Map<string, { md5?: string }>>> {
  const out = new Map<string, Map<string, { md5?: string }>>();
  await forEachLimit(folders, width, async (folder) => {
    out.set(folder, await repo.probeFolder(folder, names, opts));
  });
  return out;
}
