/**
 * `toasty reject`: a curator's "do not publish this image". The mark is `<id>/skip.flag` in the
 * repository, as the reference pipeline has it (it wrote `{}`; this one writes a small JSON
 * object saying why, who and when), so every work dir and every runner honours it. The image's
 * pending outputs in this work dir go; files already published stay (toasty never deletes
 * what it is told not to publish), and the root index leaves the image out from the next run.
 */
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fetchRule, tileRule, wtmlRule } from '../../rules/index.js';
import { Manifest, nodeId, type AnyRule } from '../engine/index.js';
import type { Repository } from '../storage/types.js';
import { closest } from '../util/closest.js';
import { ToastyError } from '../util/errors.js';
import { acquireLock } from '../util/lock.js';
import { silentLog, type Log } from '../util/log.js';
import { forEachLimit } from '../util/pool.js';
import { INDEX_WTML } from '../wwt/study-files.js';
import { loadConfig } from './config.js';
import { engineErrorToToasty } from './engine-errors.js';
import { LOCK_FILE, MANIFEST_NAME, SKIP_FLAG, Workdir, type Area } from './workdir.js';

/** What `toasty reject` writes in skip.flag; `toasty: 'reject'` tells it from other tools' flags. */
export interface RejectFlag {
  toasty: 'reject';
  reason: string;
  /** The login name of whoever rejected it. */
  by: string;
  /** ISO time of the rejection. */
  at: string;
}

export function skipFlagText(flag: RejectFlag): string {
  return `${JSON.stringify(flag, null, 2)}\n`;
}

/** The flag if `toasty reject` wrote it; null for any other content (another tool's flag). */
export function parseSkipFlag(text: string): RejectFlag | null {
  try {
    const v = JSON.parse(text) as Partial<RejectFlag> | null;
    if (v && typeof v === 'object' && v.toasty === 'reject' && typeof v.reason === 'string') {
      return { toasty: 'reject', reason: v.reason, by: typeof v.by === 'string' ? v.by : '', at: typeof v.at === 'string' ? v.at : '' };
    }
  } catch {
    /* not ours */
  }
  return null;
}

/** Who is rejecting: the login name, where the system has one. */
export function currentUser(): string {
  try {
    return os.userInfo().username;
  } catch {
    return process.env.USER ?? process.env.USERNAME ?? '';
  }
}

export interface RejectedImage {
  id: string;
  /** written: a new flag; updated: toasty's earlier flag, new reason; foreign: another tool's flag, left as it is. */
  flag: 'written' | 'updated' | 'foreign';
  /** Whether `<id>/index.wtml` is in the repository: its files stay published. */
  published: boolean;
  /** Work-dir files removed (relative to the work dir). */
  removed: string[];
  /** Files left in out_todo/<id> or cache_todo/<id> because toasty's records do not name them. */
  kept: string[];
}

export interface UndoneImage {
  id: string;
  /** removed: toasty's flag removed; not-rejected: there was no flag. */
  result: 'removed' | 'not-rejected';
}

interface Common {
  workdir: string;
  repo: Repository;
  ids: readonly string[];
  log?: Log;
}

/** Mark images not to publish and drop their pending work; see the module comment. */
export async function rejectImages(opts: Common & { reason: string; by?: string; now?: Date }): Promise<RejectedImage[]> {
  const reason = opts.reason.trim();
  if (!reason) throw new ToastyError('usage', '--reason must say why the images are rejected', { field: 'reason' });
  const workdir = new Workdir(path.resolve(opts.workdir));
  await opts.repo.check({ write: true });
  // Pending outputs are the work dir's: no run may be writing them meanwhile.
  let lock: Awaited<ReturnType<typeof acquireLock>> | null = null;
  try {
    lock = await acquireLock(path.join(workdir.root, LOCK_FILE), 'toasty reject');
    const manifest = await Manifest.load(workdir.root, MANIFEST_NAME);
    try {
      const ids = unique(opts.ids);
      await requireKnown(ids, opts.repo, workdir, manifest);
      const flags = await readFlags(opts.repo, ids);
      const flag: RejectFlag = { toasty: 'reject', reason, by: opts.by ?? currentUser(), at: (opts.now ?? new Date()).toISOString() };
      const out: RejectedImage[] = [];
      for (const id of ids) {
        const existing = flags.get(id);
        const foreign = existing !== undefined && existing !== null && parseSkipFlag(existing) === null;
        if (!foreign) await opts.repo.put(`${id}/${SKIP_FLAG}`, skipFlagText(flag));
        const { removed, kept } = await dropPending(workdir, manifest, id);
        out.push({
          id,
          flag: foreign ? 'foreign' : existing ? 'updated' : 'written',
          published: await opts.repo.exists(`${id}/${INDEX_WTML}`),
          removed,
          kept,
        });
      }
      return out;
    } finally {
      await manifest.close();
    }
  } catch (e) {
    throw engineErrorToToasty(e, workdir.root);
  } finally {
    await lock?.release();
  }
}

/** Remove the flags `toasty reject` wrote, so the next run takes the images on again. */
export async function undoRejections(opts: Common): Promise<UndoneImage[]> {
  const workdir = new Workdir(path.resolve(opts.workdir));
  await opts.repo.check({ write: true });
  const manifest = await Manifest.load(workdir.root, MANIFEST_NAME).catch((e: unknown) => {
    throw engineErrorToToasty(e, workdir.root);
  });
  try {
    const ids = unique(opts.ids);
    await requireKnown(ids, opts.repo, workdir, manifest);
    const flags = await readFlags(opts.repo, ids);
    // Check every flag before removing any: a refusal changes nothing.
    for (const id of ids) {
      const text = flags.get(id);
      if (text !== null && text !== undefined && parseSkipFlag(text) === null) {
        throw new ToastyError(
          'usage',
          `${id}/${SKIP_FLAG} was not written by toasty reject (another tool or person marked the image); remove it from the repository by hand if the image should be published`,
          { imageId: id, field: SKIP_FLAG },
        );
      }
    }
    const out: UndoneImage[] = [];
    for (const id of ids) {
      if (flags.get(id) == null) {
        out.push({ id, result: 'not-rejected' });
        continue;
      }
      await opts.repo.delete(`${id}/${SKIP_FLAG}`);
      out.push({ id, result: 'removed' });
    }
    return out;
  } finally {
    await manifest.close();
  }
}

/** Which of `ids` have a skip.flag in the repository, with toasty's reason (null for another tool's flag). */
export async function readRejections(repo: Repository, ids: readonly string[]): Promise<Map<string, { reason: string | null }>> {
  const out = new Map<string, { reason: string | null }>();
  for (const [id, text] of await readFlags(repo, ids)) if (text !== null) out.set(id, { reason: parseSkipFlag(text)?.reason ?? null });
  return out;
}

const unique = (ids: readonly string[]) => [...new Set(ids)];

async function readFlags(repo: Repository, ids: readonly string[]): Promise<Map<string, string | null>> {
  const out = new Map<string, string | null>();
  await forEachLimit([...ids], 16, async (id) => {
    const data = await repo.get(`${id}/${SKIP_FLAG}`);
    out.set(id, data ? data.toString('utf8') : null);
  });
  return out;
}

/**
 * Every id must name an image this work dir, its build state, the repository or the feed
 * knows; an unknown one is a usage error naming the closest known ids. The feed is read only
 * when the cheaper places do not know an id.
 */
async function requireKnown(ids: readonly string[], repo: Repository, workdir: Workdir, manifest: Manifest): Promise<void> {
  const known = new Set<string>();
  for (const area of ['cache_todo', 'cache_done', 'out_todo', 'out_done'] as const) for (const id of await workdir.ids(area)) known.add(id);
  for (const node of manifest.ids()) {
    const colon = node.indexOf(':');
    if (colon > 0) known.add(node.slice(colon + 1));
  }
  for (const e of await repo.list('')) if (e.isFolder) known.add(e.name);
  if (ids.every((id) => known.has(id))) return;
  try {
    const { config } = await loadConfig(repo);
    const feed = await config.source.list({ log: silentLog });
    for (const id of feed.records.keys()) known.add(id);
    for (const n of feed.notActionable) known.add(n.id);
    for (const r of feed.rejected) if (r.id) known.add(r.id);
  } catch {
    // No config or an unreadable feed: the ids known so far are all there is to go on.
  }
  for (const id of ids) {
    if (known.has(id)) continue;
    const near = closest(id, [...known], 3);
    throw new ToastyError('usage', `no image ${id} in the work directory, the repository or the feed${near.length ? `; closest: ${near.join(', ')}` : ''}`, {
      field: 'ID',
    });
  }
}

/** Remove the image's pending files (out_todo, cache_todo) that toasty's records name as its outputs. */
async function dropPending(workdir: Workdir, manifest: Manifest, id: string): Promise<{ removed: string[]; kept: string[] }> {
  const outputs = (rules: AnyRule[]) => new Set(rules.flatMap((r) => Object.keys(manifest.get(nodeId(r, id))?.result.outputs ?? {})));
  const areas: Array<[Area, Set<string>]> = [
    ['out_todo', outputs([tileRule, wtmlRule])],
    ['cache_todo', outputs([fetchRule])],
  ];
  const removed: string[] = [];
  const kept: string[] = [];
  for (const [area, ours] of areas) {
    const dir = workdir.dir(area, id);
    let names: string[];
    try {
      names = await fsp.readdir(dir);
    } catch {
      continue;
    }
    for (const name of names.sort()) {
      const rel = path.join(area, id, name);
      if (!ours.has(name)) {
        kept.push(rel);
        continue;
      }
      await fsp.rm(path.join(dir, name), { force: true });
      removed.push(rel);
    }
    await workdir.pruneEmpty(dir);
  }
  return { removed, kept };
}
