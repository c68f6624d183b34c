/**
 * tile:<id> — cut the cached image into a study (tile pyramid or image.jpg) plus thumb.jpg.
 *
 * Key: the cached image's bytes, the record's parity (a positive-parity tiled image is
 * flopped), the tiling parameters and the pixel toolchain (sharp, libvips, codecs, encoder
 * settings), so upgrading sharp re-tiles rather than keeping another encoder's tiles.
 * Output: out_todo/<id>/ with the pixel files; the processed input moves to cache_done/<id>.
 * The study's shape goes to `meta` for the wtml rule.
 */
import { constants as fsConstants, promises as fsp } from 'node:fs';
import path from 'node:path';
import { digestFile } from '../src/engine/key.js';
import { type Deps, type Invocation, sameGroup } from '../src/engine/types.js';
import { pipelineRule, wcsOf, type PipelineContext } from '../src/pipeline/context.js';
import { ToastyError } from '../src/util/errors.js';
import { labelled } from '../src/util/log.js';
import { makeSiblingTempDir, removeTempDir, replaceDir } from '../src/util/fs.js';
import { isPixelFileName, THUMBNAIL_NAME } from '../src/wwt/study-files.js';
import type { StudyShape } from '../src/wwt/study-wtml.js';
import { TILING_THRESHOLD } from '../src/wwt/tiling.js';
import { pixelToolchain } from '../src/wwt/toolchain.js';
import { fetchRule } from './fetch.js';

export interface TileMeta extends StudyShape {
  /** Stat fingerprint of the cached image, so an unchanged file is not re-hashed. */
  source: { name: string; size: number; mtimeMs: number; ino: number; digest: string };
}

/** What `imageDigest` reads of a tile node's invocation. */
type TileInvocation = Pick<Invocation<PipelineContext, TileMeta, Deps, 'each'>, 'group' | 'ctx' | 'previous' | 'refreshMeta'>;

async function cachedImage(ctx: PipelineContext, id: string, name: string) {
  const dir = await ctx.workdir.cacheDir(id);
  if (!dir) throw new ToastyError('image', 'cached image missing (run the fetch stage first)', { imageId: id });
  return { dir, file: path.join(dir, name) };
}

export const tileRule = pipelineRule<TileMeta>()({
  name: 'tile',
  version: 1,
  scope: 'each',
  // Tiling a big image takes minutes; the study is built in a temporary folder renamed into
  // place, so an interrupted run need not wait for it (a Kubernetes SIGKILL would not).
  interrupt: 'abandon',
  deps: { fetch: sameGroup(fetchRule) },
  inputLabels: {
    image: { label: 'image bytes' },
    positiveParity: { label: 'WCS parity' },
    tiling: { label: 'tiling parameters', detail: 'fields' },
    toolchain: { label: 'pixel toolchain', detail: 'values' },
  },
  async inputs(inv) {
    const fetched = inv.deps.fetch;
    return {
      image: await imageDigest(inv, fetched.meta.image, fetched.outputs[fetched.meta.image]),
      positiveParity: wcsOf(inv.ctx, inv.group).scale[0] > 0,
      tiling: { threshold: TILING_THRESHOLD, tile: 256, format: 'png', maxPixels: inv.ctx.maxPixels },
      toolchain: await pixelToolchain(inv.ctx.tilePng),
    };
  },
  // The study's files are read by the upload rule, and only for files the repository lacks.
  present: (inv) => inv.ctx.workdir.has('out', inv.group, THUMBNAIL_NAME),
  async run(inv, inputs) {
    const { ctx, group: id } = inv;
    const fetched = await inv.materialize('fetch');
    const { dir, file } = await cachedImage(ctx, id, fetched.meta.image);
    // Loaded on demand: planning an up-to-date run never needs the pixel libraries.
    const { writeStudyPixels } = await import('../src/wwt/study-pixels.js');
    const target = ctx.workdir.dir('out_todo', id);
    const tmp = await makeSiblingTempDir(target);
    let pixels: Awaited<ReturnType<typeof writeStudyPixels>>;
    try {
      pixels = await writeStudyPixels(file, tmp, {
        wcs: wcsOf(ctx, id),
        maxPixels: ctx.maxPixels,
        log: labelled(ctx.log, `tile ${id}`),
        tilePng: ctx.tilePng,
      });
    } catch (e) {
      await removeTempDir(tmp);
      throw await explainIfDiskFull(e, path.dirname(target));
    }
    // Abandoned (the run was interrupted and has ended): the study does not go into place.
    if (inv.signal.aborted) {
      await removeTempDir(tmp);
      throw inv.signal.reason;
    }
    await keepOtherFiles(target, tmp);
    await replaceDir(tmp, target);
    // What was published before belongs to the previous tiling.
    await fsp.rm(ctx.workdir.dir('out_done', id), { recursive: true, force: true });
    let cacheDir = dir;
    const done = ctx.workdir.dir('cache_done', id);
    if (dir !== done) {
      await fsp.rm(done, { recursive: true, force: true });
      await fsp.mkdir(path.dirname(done), { recursive: true });
      await fsp.rename(dir, done);
      cacheDir = done;
    }
    const name = path.basename(file);
    const st = await fsp.stat(path.join(cacheDir, name));
    const { files, ...shape } = pixels;
    return {
      outputs: files,
      meta: { ...shape, source: { name, size: st.size, mtimeMs: st.mtimeMs, ino: st.ino, digest: inputs.image } },
    };
  },
});

/**
 * The cached image's digest: hashed from the file when it is here (a file edited in place
 * counts), re-hashed only when its stat fingerprint changed; when it is not here (a work dir
 * that adopted the repository's build record), the digest the fetch recorded.
 */
async function imageDigest(inv: TileInvocation, name: string, fetched: string | undefined): Promise<string> {
  const id = inv.group;
  const { file, stat: st } = inv.ctx.workdir.cachedFileStat(id, name);
  if (!st) {
    if (fetched === undefined) throw new ToastyError('image', 'cached image missing (run the fetch stage first)', { imageId: id });
    return fetched;
  }
  const previous = inv.previous?.meta;
  const prev = previous?.source;
  if (prev && prev.size === st.size && prev.mtimeMs === st.mtimeMs && prev.ino === st.ino && prev.name === name) return prev.digest;
  const digest = await digestFile(file);
  // Same bytes under a new fingerprint (a work dir restored from a backup or a CI cache, moved
  // to another disk): remember the new one, or every later run would hash the file again.
  if (previous && prev?.name === name && prev.digest === digest) {
    inv.refreshMeta({ ...previous, source: { name, size: st.size, mtimeMs: st.mtimeMs, ino: st.ino, digest } });
  }
  return digest;
}

/**
 * The study folder is swapped whole, but it also holds files of the rules after this one (the
 * WTML): keep them in the new folder. They may be current (a tiling rebuilt for an upload, the
 * WTML written earlier in the same run) and are rewritten anyway when the new pixels change
 * what they say. Hard links: the old folder stays whole until the swap.
 */
async function keepOtherFiles(from: string, to: string): Promise<void> {
  let entries: import('node:fs').Dirent[];
  try {
    entries = await fsp.readdir(from, { withFileTypes: true });
  } catch {
    return; // no previous folder
  }
  for (const e of entries) {
    if (!e.isFile() || isPixelFileName(e.name) || e.name.startsWith('.')) continue;
    const src = path.join(from, e.name);
    const dst = path.join(to, e.name);
    // Never over a file the new study has (EEXIST): what the tiling wrote wins.
    await fsp.link(src, dst).catch((e: NodeJS.ErrnoException) => {
      if (e.code !== 'EEXIST') return fsp.copyFile(src, dst, fsConstants.COPYFILE_EXCL);
    });
  }
}

/**
 * libvips reports a full disk as a write failure ("wbuffer_write: write failed") that reads
 * like a decoding problem. If the work directory is (nearly) out of space, say so plainly.
 */
async function explainIfDiskFull(e: unknown, dir: string): Promise<unknown> {
  const msg = e instanceof Error ? e.message : String(e);
  if (!/ENOSPC|no space|write failed/i.test(msg)) return e;
  try {
    const fs = await fsp.statfs(dir);
    const free = fs.bavail * fs.bsize;
    if (/ENOSPC|no space/i.test(msg) || free < 256 * 2 ** 20) {
      return new ToastyError('storage', `no space left in the work directory ${dir} (${(free / 2 ** 20).toFixed(1)} MiB free) while tiling: ${msg}`, {
        cause: e,
      });
    }
  } catch {
    /* statfs unavailable: keep the original error */
  }
  return e;
}
