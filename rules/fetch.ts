/**
 * fetch:<id> — download the image and cache it with its record.
 *
 * Key: the feed record (canonical JSON). Output: the cached image and astropix.json in
 * cache_todo/<id> (or cache_done/<id> once processed). A record change that keeps the same
 * download URL and last_updated only rewrites astropix.json: no re-download.
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import type { Rule } from '../src/engine/types.js';
import { digestBytes, digestFile } from '../src/engine/key.js';
import { cachedImageName, downloadUrl } from '../src/sources/astropix.js';
import { downloadImage } from '../src/sources/http.js';
import { writeFileAtomic } from '../src/util/fs.js';
import { parseAstropixWcs } from '../src/wwt/wcs.js';
import { imageOf, type PipelineContext } from '../src/pipeline/context.js';

export const RECORD_FILE = 'astropix.json';

interface FetchMeta {
  url: string;
  image: string; // cached file name, e.g. image.jpg
  lastUpdated: string | null;
  [k: string]: string | null;
}

export const fetchRule: Rule<PipelineContext> = {
  name: 'fetch',
  version: 1,
  newReason: 'new image',
  inputs(inv) {
    return { record: inv.ctx.records.get(imageOf(inv.node.group)) as never };
  },
  explain: (changed) => `feed record changed (${fieldsOf(changed)})`,
  async verify(inv, recorded) {
    const meta = recorded.meta as FetchMeta;
    return (await inv.ctx.workdir.has('cache', imageOf(inv.node.group), meta.image)) ? null : 'cached image missing';
  },
  async run(inv) {
    const { ctx } = inv;
    const id = imageOf(inv.node.group);
    const record = ctx.records.get(id)!;
    // A record whose WCS is unusable fails here, before a possibly huge download.
    parseAstropixWcs(record);
    const url = downloadUrl(record);
    const image = cachedImageName(url);
    const lastUpdated = typeof record.last_updated === 'string' ? record.last_updated : null;
    const prev = inv.previous?.meta as FetchMeta | undefined;
    let dir = await ctx.workdir.cacheDir(id);
    const reuse =
      dir !== null && prev !== undefined && prev.url === url && prev.image === image && prev.lastUpdated === lastUpdated &&
      (await fsp.access(path.join(dir, image)).then(() => true, () => false));
    if (!reuse) {
      // A fresh download goes to cache_todo; any processed copy is superseded.
      const todo = ctx.workdir.dir('cache_todo', id);
      await downloadImage(url, path.join(todo, image), ctx.download);
      const done = ctx.workdir.dir('cache_done', id);
      if (done !== todo) await fsp.rm(done, { recursive: true, force: true });
      dir = todo;
      // Remove a stale image of another extension from an earlier download.
      for (const f of await fsp.readdir(dir)) {
        if (f.startsWith('image.') && f !== image) await fsp.rm(path.join(dir, f), { force: true });
      }
    }
    const cached = JSON.stringify({ ...record, toasty_cached_image_name: image }, null, 2) + '\n';
    await writeFileAtomic(path.join(dir!, RECORD_FILE), cached);
    const meta: FetchMeta = { url, image, lastUpdated };
    return {
      outputs: { [image]: await digestFile(path.join(dir!, image)), [RECORD_FILE]: await digestBytes(cached) },
      meta,
    };
  },
};

/** `record.title`, `record.wcs_scale[0]` -> `title, wcs_scale`. */
export function fieldsOf(changed: string[]): string {
  const names = [...new Set(changed.map((p) => p.replace(/^record\.?/, '').split(/[.[]/)[0] || 'record'))];
  return names.slice(0, 4).join(', ') + (names.length > 4 ? ', ...' : '');
}
