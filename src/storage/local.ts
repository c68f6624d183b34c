/**
 * Repository in a local folder (`--local=DIR`): item path = DIR/joined segments. Writes go to a
 * temporary sibling and are renamed into place, so a crash never leaves a half-written tile.
 *
 * Symbolic links inside the repository are followed only while they stay inside it. One that
 * leads out (a symlinked `<id>/` pointing elsewhere) is never written, deleted or listed
 * through: a write or delete is refused naming the link, a read finds nothing, and a listing
 * leaves the link out. (Replacing a linked file itself is fine: the rename replaces the link.)
 */
import { createHash } from 'node:crypto';
import { constants as fsConstants, createReadStream, type Dirent, lstatSync, promises as fsp, type Stats } from 'node:fs';
import path from 'node:path';
import { ToastyError } from '../util/errors.js';
import { type HeldLock, LockHeldError, waitForLock } from '../util/lock.js';
import { copyFileAtomic, writeFileAtomic } from '../util/fs.js';
import { lstatKinds, PathKind } from '../util/fs-batch.js';
import {
  byName,
  checkMeta,
  folderSegments,
  itemPathSegments,
  type ProbeOptions,
  probeEachFolder,
  probeNames,
  type PutOptions,
  type RepoEntry,
  type Repository,
  type RepoStat,
  LOCK_WAIT_MS,
} from './types.js';

/** Temp names made by util/fs.ts (`.name.PID.HEX.tmp`): never list them. */
const TEMP_NAME = /^\..*\.\d+\.[0-9a-f]+\.tmp$/;

const errnoOf = (e: unknown) => (e as NodeJS.ErrnoException)?.code;
const MISSING = new Set(['ENOENT', 'ENOTDIR', 'EISDIR']);

/** From how many plain image folders `probeFolders` hands the calls to a worker thread. */
export const BATCH_PROBE_MIN = 1000;

export class LocalRepository implements Repository {
  readonly root: string;
  readonly description: string;
  readonly keepsMeta = false;

  constructor(root: string) {
    if (!root) throw new ToastyError('usage', 'local repository folder is empty', { field: 'local' });
    this.root = path.resolve(root);
    this.description = `local folder ${this.root}`;
  }

  private realRoot: Promise<string> | null = null;

  /**
   * Top-level folders the latest listing of the root saw as plain folders (not links): a
   * probe of one (the survey lists the root, then probes every image folder) need not lstat
   * it again. A folder made since is not in it and is checked as before.
   */
  private plainRootFolders: ReadonlySet<string> = new Set();

  /**
   * The first symbolic link on the way to `segs` (the last segment too when `last`) whose
   * target is outside the repository or missing, with that target; null when there is none.
   */
  private async escapingLink(segs: readonly string[], last: boolean): Promise<{ link: string; target: string } | null> {
    this.realRoot ??= fsp.realpath(this.root).catch(() => this.root);
    const root = await this.realRoot;
    let cur = this.root;
    const upTo = last ? segs.length : segs.length - 1;
    for (let i = 0; i < upTo; i++) {
      cur = path.join(cur, segs[i]!);
      let st: Stats;
      try {
        st = await fsp.lstat(cur);
      } catch (e) {
        if (MISSING.has(errnoOf(e) ?? '')) return null; // created fresh below here: no link
        throw e;
      }
      if (!st.isSymbolicLink()) continue;
      const target = await fsp.realpath(cur).catch(() => null);
      if (target === null) return { link: cur, target: '(missing)' };
      if (target !== root && !target.startsWith(root + path.sep)) return { link: cur, target };
    }
    return null;
  }

  /** The path to write or delete `itemPath` at, refusing one that leads out of the repository. */
  private async writablePath(op: string, itemPath: string): Promise<string> {
    const segs = itemPathSegments(itemPath);
    const out = await this.escapingLink(segs, false);
    if (out) {
      throw new ToastyError(
        'storage',
        `${this.description}: refused to ${op} ${itemPath}: ${path.relative(this.root, out.link)} is a symbolic link to ${out.target}, outside the repository`,
      );
    }
    return path.join(this.root, ...segs);
  }

  /** The path to read `itemPath` at, or null when it leads out of the repository. */
  private async readablePath(itemPath: string): Promise<string | null> {
    const segs = itemPathSegments(itemPath);
    return (await this.escapingLink(segs, true)) ? null : path.join(this.root, ...segs);
  }

  private fail(op: string, itemPath: string, e: unknown): ToastyError {
    const why = e instanceof Error ? e.message : String(e);
    return new ToastyError('storage', `${this.description}: ${op} ${itemPath} failed: ${why}`, { cause: e });
  }

  async check(opts: { write?: boolean } = {}): Promise<void> {
    let st: Stats;
    try {
      st = await fsp.stat(this.root);
    } catch (e) {
      if (errnoOf(e) === 'ENOENT') {
        throw new ToastyError('storage', `local repository folder ${this.root} does not exist (create it first)`, { field: 'local' });
      }
      throw new ToastyError('storage', `local repository folder ${this.root} is not usable: ${(e as Error).message}`, { field: 'local' });
    }
    if (!st.isDirectory()) {
      throw new ToastyError('storage', `local repository ${this.root} is not a folder`, { field: 'local' });
    }
    if (opts.write === false) return;
    try {
      await fsp.access(this.root, fsConstants.W_OK);
    } catch {
      throw new ToastyError('storage', `local repository folder ${this.root} is not writable`, { field: 'local' });
    }
  }

  async get(itemPath: string): Promise<Buffer | null> {
    const p = await this.readablePath(itemPath);
    if (p === null) return null;
    try {
      return await fsp.readFile(p);
    } catch (e) {
      if (MISSING.has(errnoOf(e) ?? '')) return null;
      throw this.fail('read', itemPath, e);
    }
  }

  async exists(itemPath: string): Promise<boolean> {
    const quick = this.quickStat(itemPath);
    if (quick !== undefined) return quick?.isFile() === true;
    const p = await this.readablePath(itemPath);
    if (p === null) return false;
    try {
      return (await fsp.stat(p)).isFile();
    } catch (e) {
      if (MISSING.has(errnoOf(e) ?? '')) return false;
      throw this.fail('stat', itemPath, e);
    }
  }

  async probeFolder(folder: string, names: readonly string[], opts: ProbeOptions = {}): Promise<Map<string, { md5?: string }>> {
    probeNames(names, opts);
    const segs = folderSegments(folder);
    const found = new Map<string, { md5?: string }>();
    // Planning probes every image folder: synchronous calls, as the async ones' overhead
    // dominated; an lstat per wanted name, not a readdir, since an image folder may hold
    // thousands of tiles. Only a path without symbolic links is answered here; a link (or an
    // error) goes the careful way, which leaves out links leading out of the repository.
    let dir = this.root;
    try {
      if (segs.length === 1 && this.plainRootFolders.has(segs[0]!)) dir = path.join(dir, segs[0]!);
      else {
        for (const seg of segs) {
          dir = path.join(dir, seg);
          const st = lstatSync(dir, { throwIfNoEntry: false });
          if (!st || (!st.isDirectory() && !st.isSymbolicLink())) return found;
          if (st.isSymbolicLink()) return this.probeCarefully(folder, names);
        }
      }
      for (const name of names) {
        const st = lstatSync(path.join(dir, name), { throwIfNoEntry: false });
        if (st?.isFile()) found.set(name, {});
        else if (st?.isSymbolicLink() && (await this.exists(folder ? `${folder}/${name}` : name))) found.set(name, {});
      }
    } catch {
      return this.probeCarefully(folder, names);
    }
    return found;
  }

  /**
   * Many folders at once: for a large repository, the names of every plain image folder are
   * looked at by a worker thread (util/lstat-batch.ts), so the calls overlap with the main
   * thread's work. A folder with a link or an error among them gets `probeFolder`'s careful way.
   */
  async probeFolders(folders: readonly string[], names: readonly string[], opts: ProbeOptions = {}): Promise<Map<string, Map<string, { md5?: string }>>> {
    probeNames(names, opts);
    const plain = folders.filter((f) => this.plainRootFolders.has(f));
    // A worker costs some tens of milliseconds to start: for a few folders, not worth it.
    if (plain.length < BATCH_PROBE_MIN) return probeEachFolder(this, folders, names, opts);
    const base = this.root.endsWith(path.sep) ? this.root : `${this.root}${path.sep}`;
    const paths: string[] = [];
    for (const folder of plain) for (const name of names) paths.push(`${base}${folder}${path.sep}${name}`);
    let kinds: Uint8Array;
    try {
      kinds = await lstatKinds(paths);
    } catch {
      return probeEachFolder(this, folders, names, opts);
    }
    const out = new Map<string, Map<string, { md5?: string }>>();
    const again: string[] = folders.filter((f) => !this.plainRootFolders.has(f));
    for (let i = 0; i < plain.length; i++) {
      const found = new Map<string, { md5?: string }>();
      let careful = false;
      for (let j = 0; j < names.length; j++) {
        const kind = kinds[i * names.length + j];
        if (kind === PathKind.file) found.set(names[j]!, {});
        else if (kind === PathKind.link || kind === PathKind.error) careful = true;
      }
      if (careful) again.push(plain[i]!);
      else out.set(plain[i]!, found);
    }
    for (const [folder, found] of await probeEachFolder(this, again, names, opts)) out.set(folder, found);
    return out;
  }

  private async probeCarefully(folder: string, names: readonly string[]): Promise<Map<string, { md5?: string }>> {
    const found = new Map<string, { md5?: string }>();
    for (const name of names) if (await this.exists(folder ? `${folder}/${name}` : name)) found.set(name, {});
    return found;
  }

  /**
   * What is at `itemPath` (null: nothing), by synchronous lstat calls along the path: planning
   * asks about every image folder, and the async calls' overhead dominated. Answers only for a
   * path without symbolic links; undefined (a link, an error) means: go the careful way.
   */
  private quickStat(itemPath: string): Stats | null | undefined {
    const segs = itemPathSegments(itemPath);
    let cur = this.root;
    let st: Stats | undefined;
    try {
      for (const seg of segs) {
        // Segments are plain names (itemPathSegments): joined without path.join's normalising.
        cur = cur.endsWith(path.sep) ? cur + seg : cur + path.sep + seg;
        st = lstatSync(cur, { throwIfNoEntry: false });
        if (!st) return null;
        if (st.isSymbolicLink()) return undefined;
      }
    } catch {
      return undefined;
    }
    return st ?? undefined;
  }

  async stat(itemPath: string): Promise<RepoStat | null> {
    const p = await this.readablePath(itemPath);
    if (p === null) return null;
    try {
      const st = await fsp.stat(p);
      if (!st.isFile()) return null;
      return { size: st.size, md5: await md5OfFile(p) };
    } catch (e) {
      if (MISSING.has(errnoOf(e) ?? '')) return null;
      throw this.fail('stat', itemPath, e);
    }
  }

  async put(itemPath: string, data: Buffer | string, opts: PutOptions = {}): Promise<void> {
    const p = await this.writablePath('write', itemPath);
    checkMeta(opts.meta);
    try {
      await writeFileAtomic(p, data);
    } catch (e) {
      throw this.fail('write', itemPath, e);
    }
  }

  async putFile(itemPath: string, localFile: string, opts: PutOptions = {}): Promise<void> {
    const p = await this.writablePath('write', itemPath);
    checkMeta(opts.meta);
    try {
      await copyFileAtomic(localFile, p);
    } catch (e) {
      throw this.fail(`copy ${localFile} to`, itemPath, e);
    }
  }

  async list(folder: string): Promise<RepoEntry[]> {
    const segs = folderSegments(folder);
    if (segs.length && (await this.escapingLink(segs, true))) return [];
    const dir = path.join(this.root, ...segs);
    let dirents: Dirent[];
    try {
      dirents = await fsp.readdir(dir, { withFileTypes: true });
    } catch (e) {
      // A missing folder lists as empty, like a prefix with no blobs.
      if (MISSING.has(errnoOf(e) ?? '') && folder !== '') return [];
      throw this.fail('list', folder || '(root)', e);
    }
    const out: RepoEntry[] = [];
    for (const d of dirents) {
      if (TEMP_NAME.test(d.name)) continue;
      let isFolder = d.isDirectory();
      if (d.isSymbolicLink()) {
        // Listed only when it stays inside the repository.
        if (await this.escapingLink([...segs, d.name], true)) continue;
        const st = await fsp.stat(path.join(dir, d.name)).catch(() => null);
        if (!st) continue;
        isFolder = st.isDirectory();
      }
      out.push({ name: d.name, isFolder });
    }
    if (segs.length === 0) this.plainRootFolders = new Set(dirents.filter((d) => d.isDirectory() && !TEMP_NAME.test(d.name)).map((d) => d.name));
    return out.sort(byName);
  }

  async delete(itemPath: string): Promise<void> {
    const segs = itemPathSegments(itemPath);
    const p = await this.writablePath('delete', itemPath);
    try {
      await fsp.rm(p, { force: true });
    } catch (e) {
      // A folder is not an item: nothing to delete (Azure behaves the same).
      if (errnoOf(e) === 'ERR_FS_EISDIR' || errnoOf(e) === 'EISDIR' || errnoOf(e) === 'ENOTDIR') return;
      throw this.fail('delete', itemPath, e);
    }
    // Folders exist only through their items (as on Azure): drop folders this emptied.
    for (let n = segs.length - 1; n > 0; n--) {
      try {
        await fsp.rmdir(path.join(this.root, ...segs.slice(0, n)));
      } catch {
        break;
      }
    }
  }

  async exclusive<T>(name: string, fn: () => Promise<T>, opts: { waitMs?: number } = {}): Promise<T> {
    const file = path.join(this.root, `.${itemPathSegments(name).join('-')}.lock`);
    let lock: HeldLock;
    try {
      lock = await waitForLock(file, `toasty (${name})`, opts.waitMs ?? LOCK_WAIT_MS);
    } catch (e) {
      if (!(e instanceof LockHeldError)) throw this.fail('lock', name, e);
      throw new ToastyError(
        'lock',
        `${this.description}: ${name} is held by pid ${e.holder.pid} on ${e.holder.host} (since ${e.holder.started}); gave up waiting`,
      );
    }
    try {
      return await fn();
    } finally {
      await lock.release();
    }
  }
}

export function md5OfFile(file: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const h = createHash('md5');
    createReadStream(file)
      .on('data', (chunk) => h.update(chunk))
      .on('error', reject)
      .on('end', () => resolve(h.digest('base64')));
  });
}
