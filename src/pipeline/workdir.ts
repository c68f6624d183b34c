/**
 * The work directory's visible state, as the original pipeline laid it out:
 *   cache_todo/<id>/  downloaded, not yet processed (image.<ext> + the source's record file,
 *                     e.g. astropix.json)
 *   cache_done/<id>/  processed inputs
 *   out_todo/<id>/    outputs waiting to be published (tiles or image.jpg, thumb.jpg, WTML)
 *   out_done/<id>/    outputs already published
 * plus the engine's manifest and lock. Helpers here find an image's files in either place.
 */
import { constants, existsSync, promises as fsp, type Stats, statSync } from 'node:fs';
import path from 'node:path';
import type { SourceRecord } from '../sources/source.js';
import { ToastyError } from '../util/errors.js';
import { exists, writeFileAtomic } from '../util/fs.js';
import { sweepStaleTemporaries } from '../util/temporaries.js';

/** Field the cached record gains: the name the image was cached under. */
const CACHED_IMAGE_FIELD = 'toasty_cached_image_name';

/** The engine's manifest (`<name>.json` + `<name>.journal`) and the run lock, in the work dir. */
export const MANIFEST_NAME = 'toasty-manifest';
export const LOCK_FILE = '.toasty.lock';
/** In the repository, `<id>/skip.flag`: the image is not to be published (as the reference pipeline has it). */
export const SKIP_FLAG = 'skip.flag';

/**
 * The source's "not actionable" verdicts on images it lists without their records (Djangoplicity:
 * details without a full WCS, ...): id -> {reason, at}. Remembered so that their details are
 * not asked for again on every run; `--recheck` asks again.
 */
export const NOT_ACTIONABLE_FILE = 'not-actionable.json';

export interface NotActionableVerdict {
  reason: string;
  /** When the source said so (ISO 8601). */
  at: string;
}

export type Area = 'cache_todo' | 'cache_done' | 'out_todo' | 'out_done';

export class Workdir {
  private readonly areaRoots: Record<Area, string>;
  /** Names in cache_todo and out_todo when `listTodoAreas` ran; null when it did not. */
  private todo: Record<'cache_todo' | 'out_todo', ReadonlySet<string>> | null = null;
  /** Ids whose folder paths were handed out since: whoever has one may have made the folder. */
  private readonly handedOut = new Set<string>();

  constructor(readonly root: string) {
    this.areaRoots = {
      cache_todo: path.join(root, 'cache_todo'),
      cache_done: path.join(root, 'cache_done'),
      out_todo: path.join(root, 'out_todo'),
      out_done: path.join(root, 'out_done'),
    };
  }

  /**
   * Make sure the work directory can be used: a folder (created when missing, unless `write`
   * is false: a dry run creates nothing) that this process may write to when `write`.
   * Problems are one-line `state` errors naming the folder (exit status 2).
   */
  async prepare(write: boolean): Promise<void> {
    const fail = (why: string, e?: unknown) => new ToastyError('state', `work directory ${this.root} ${why}`, { cause: e });
    const reason = (e: unknown) => {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EACCES' || code === 'EPERM') return 'permission denied';
      if (code === 'EROFS') return 'read-only file system';
      if (code === 'ENOTDIR' || code === 'EEXIST') return 'a parent of it is a file';
      return (e as Error).message;
    };
    let isDir: boolean;
    try {
      isDir = (await fsp.stat(this.root)).isDirectory();
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw fail(`cannot be read (${reason(e)})`, e);
      if (!write) return;
      try {
        await fsp.mkdir(this.root, { recursive: true });
      } catch (e2) {
        throw fail(`cannot be created (${reason(e2)})`, e2);
      }
      return;
    }
    if (!isDir) throw fail('is a file, not a folder');
    if (!write) return;
    try {
      await fsp.access(this.root, constants.W_OK | constants.X_OK);
    } catch (e) {
      throw fail(`is not writable (${reason(e)})`, e);
    }
  }

  /**
   * The remembered not-actionable verdicts. A file that cannot be read as such is forgotten
   * (null), which costs only the requests it would have saved.
   */
  async notActionable(): Promise<Map<string, NotActionableVerdict> | null> {
    let text: string;
    try {
      text = await fsp.readFile(path.join(this.root, NOT_ACTIONABLE_FILE), 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return new Map();
      return null;
    }
    const out = new Map<string, NotActionableVerdict>();
    try {
      const doc = JSON.parse(text) as unknown;
      if (!doc || typeof doc !== 'object' || Array.isArray(doc)) return null;
      for (const [id, v] of Object.entries(doc as Record<string, Partial<NotActionableVerdict>>)) {
        if (v && typeof v.reason === 'string' && typeof v.at === 'string') out.set(id, { reason: v.reason, at: v.at });
      }
    } catch {
      return null;
    }
    return out;
  }

  async saveNotActionable(verdicts: ReadonlyMap<string, NotActionableVerdict>): Promise<void> {
    const sorted = Object.fromEntries([...verdicts].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    await writeFileAtomic(path.join(this.root, NOT_ACTIONABLE_FILE), `${JSON.stringify(sorted, null, 1)}\n`);
  }

  dir(area: Area, id: string): string {
    this.handedOut.add(id);
    return this.folder(area, id);
  }

  /**
   * List cache_todo and out_todo once, so that asking whether an image has a folder there costs
   * no call when it has none (the usual case: an up-to-date work dir keeps everything in the
   * *_done areas, and planning asks for every image). The listing answers only for images
   * whose folder path nobody has been given since (`dir`): this run creates folders only
   * through those paths. Call it with the work dir's lock held, so no other run writes here.
   */
  async listTodoAreas(): Promise<void> {
    const names = async (area: Area) => new Set(await fsp.readdir(this.areaRoots[area]).catch(() => [] as string[]));
    this.todo = { cache_todo: await names('cache_todo'), out_todo: await names('out_todo') };
  }

  /** False only when the folder is known to be absent without looking (see `listTodoAreas`). */
  private mayHave(area: Area, id: string): boolean {
    if (this.todo === null || (area !== 'cache_todo' && area !== 'out_todo') || this.handedOut.has(id)) return true;
    return this.todo[area].has(id);
  }

  /** `path.join(root, area, id)`, by concatenation when `id` is one plain name (planning makes many). */
  private folder(area: Area, id: string): string {
    return join(this.areaRoots[area], id);
  }

  /** The image's cache folder: cache_todo if present, else cache_done, else null. */
  async cacheDir(id: string): Promise<string | null> {
    for (const area of ['cache_todo', 'cache_done'] as const) {
      if (!this.mayHave(area, id)) continue;
      const d = this.folder(area, id);
      if (existsSync(d)) return d;
    }
    return null;
  }

  /**
   * The cached file `name` of an image where `cacheDir` would look for it, with its stat
   * (undefined when it is not there). Synchronous, in as few calls as it takes: planning
   * stats every cached image.
   */
  cachedFileStat(id: string, name: string): { file: string; stat: Stats | undefined } {
    const todo = this.folder('cache_todo', id);
    const dir = this.mayHave('cache_todo', id) && existsSync(todo) ? todo : this.folder('cache_done', id);
    const file = join(dir, name);
    // A missing cache_done folder and a missing file are the same answer: not here.
    return { file, stat: statSync(file, { throwIfNoEntry: false }) };
  }

  /** Where an output file of an image is now: out_todo first (newer), then out_done. */
  async outFile(id: string, name: string): Promise<string | null> {
    for (const area of ['out_todo', 'out_done'] as const) {
      if (!this.mayHave(area, id)) continue;
      const f = join(this.folder(area, id), name);
      if (await exists(f)) return f;
    }
    return null;
  }

  /**
   * Whether a file of the image exists in either of two areas. Checks the later area first:
   * in an up-to-date work dir that is where everything is, so it costs one call.
   */
  async has(kind: 'cache' | 'out', id: string, name: string): Promise<boolean> {
    const areas: Area[] = kind === 'cache' ? ['cache_done', 'cache_todo'] : ['out_done', 'out_todo'];
    // Synchronous on purpose: a plan makes thousands of these, and the async form's overhead
    // dominated the time to plan an up-to-date run.
    for (const area of areas) if (this.mayHave(area, id) && existsSync(join(this.folder(area, id), name))) return true;
    return false;
  }

  /**
   * The record cached with an image in `recordFile` (the source's name for it), as the source
   * gave it; null if none is readable.
   */
  async cachedRecord(id: string, recordFile: string): Promise<SourceRecord | null> {
    const dir = await this.cacheDir(id);
    if (!dir) return null;
    try {
      const rec = JSON.parse(await fsp.readFile(path.join(dir, recordFile), 'utf8')) as unknown;
      if (!rec || typeof rec !== 'object' || Array.isArray(rec)) return null;
      const { [CACHED_IMAGE_FIELD]: _name, ...record } = rec as SourceRecord;
      return record;
    } catch {
      return null;
    }
  }

  /** The record to cache beside `image`. */
  static cachedRecordText(record: SourceRecord, image: string): string {
    return `${JSON.stringify({ ...record, [CACHED_IMAGE_FIELD]: image }, null, 2)}\n`;
  }

  /** The downloaded image of an id (the fetch rule keeps one `image.<ext>`), or null. */
  async cachedImage(id: string): Promise<string | null> {
    const dir = await this.cacheDir(id);
    if (!dir) return null;
    const name = (await fsp.readdir(dir).catch(() => [] as string[])).find((n) => n.startsWith('image.'));
    return name ? path.join(dir, name) : null;
  }

  /** Ids that have a folder in `area`. */
  async ids(area: Area): Promise<string[]> {
    try {
      const entries = await fsp.readdir(path.join(this.root, area), { withFileTypes: true });
      return entries
        .filter((e) => e.isDirectory() && !e.name.startsWith('.'))
        .map((e) => e.name)
        .sort();
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw e;
    }
  }

  /** Files waiting in out_todo/<id> (empty when the folder is absent). */
  async pendingOutputs(id: string): Promise<string[]> {
    // The usual answer is "no such folder": a synchronous check is far cheaper than a readdir.
    if (!this.mayHave('out_todo', id) || !existsSync(this.folder('out_todo', id))) return [];
    try {
      return (await fsp.readdir(this.folder('out_todo', id))).filter((n) => !n.startsWith('.'));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw e;
    }
  }

  /**
   * Remove what killed runs left behind: temporary folders (with the tile pyramid's decoded
   * scratch file, 4 bytes a pixel), partial downloads and half-written files whose owner
   * process is gone. Call it with the work dir's lock held: then no other run writes here, and
   * pid-less temporary folders of earlier versions go too. Looks in the work dir, in each area,
   * and inside the image folders of cache_todo and out_todo (where downloads and tilings run);
   * the many finished folders of cache_done and out_done are not read one by one.
   */
  async sweepStaleTemporaries(): Promise<string[]> {
    // The areas at once: the *_done ones hold a folder per image, and their listings dominate.
    const areas = ['cache_todo', 'cache_done', 'out_todo', 'out_done'] as const;
    const swept = await Promise.all([
      sweepStaleTemporaries(this.root, { legacy: true }),
      ...areas.map((area) => sweepStaleTemporaries(path.join(this.root, area), { legacy: true })),
    ]);
    const removed = swept.flat();
    for (const area of ['cache_todo', 'out_todo'] as const) {
      for (const id of await this.ids(area)) removed.push(...(await sweepStaleTemporaries(this.folder(area, id), { legacy: true })));
    }
    return removed;
  }

  /** Remove a folder if it is empty (after its files moved on). */
  async pruneEmpty(dir: string): Promise<void> {
    try {
      await fsp.rmdir(dir);
    } catch {
      /* not empty or gone */
    }
  }
}

/** `path.join(dir, name)` for a normalised `dir`: plain concatenation when `name` is one plain name. */
function join(dir: string, name: string): string {
  return PLAIN_NAME.test(name) && name !== '.' && name !== '..' ? `${dir}${path.sep}${name}` : path.join(dir, name);
}

const PLAIN_NAME = /^[^/\\]+$/;
