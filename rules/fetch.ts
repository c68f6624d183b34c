/**
 * fetch:<id> — download the image and cache it with its record.
 *
 * Key: the feed record (canonical JSON). Output: the cached image and the source's record
 * file (astropix.json, djangoplicity.json) in cache_todo/<id> (or cache_done/<id> once
 * processed). A record change that keeps the same download URL and date only rewrites the
 * record file: no re-download.
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { digestBytes, digestFile } from '../src/engine/key.js';
import { pipelineRule, recordOf } from '../src/pipeline/context.js';
import { Workdir } from '../src/pipeline/workdir.js';
import { downloadImage } from '../src/sources/http.js';
import type { SourceRecord } from '../src/sources/source.js';
import { writeFileAtomic } from '../src/util/fs.js';

export interface FetchMeta {
  url: string;
  /** Cached file name, e.g. image.jpg. */
  image: string;
  /** The source's date for the image (see `SourceDownload.date`). */
  lastUpdated: string | null;
  /**
   * The record the node was keyed on. The repository's build record always has it (the upload
   * puts it there), so a work dir without the image's cached record need not ask the source
   * for it again. The work dir's own manifest keeps it only from sources whose listing lacks
   * records (they would be asked for it again, `SourceAdapter.describe`): from a feed that
   * lists them whole, a copy per image was a tenth of the manifest every run reads.
   */
  record?: SourceRecord;
}

export const fetchRule = pipelineRule<FetchMeta>()({
  name: 'fetch',
  version: 1,
  scope: 'each',
  // A download can take minutes; it goes to a `.part` file renamed when complete.
  interrupt: 'abandon',
  deps: {},
  inputLabels: { record: { label: 'feed record', detail: 'fields' } },
  inputs(inv) {
    return { record: recordOf(inv.ctx, inv.group) };
  },
  // The cached image is only needed when the tile rule runs; a work dir that knows this
  // image from the repository's build record does not download it otherwise.
  present: (inv, recorded) => inv.ctx.workdir.has('cache', inv.group, recorded.meta.image),
  async run(inv, { record }) {
    const { ctx, group: id } = inv;
    // A record that cannot make a study fails here, before a possibly huge download.
    ctx.source.study(record, id);
    const { url, cacheName: image, date: lastUpdated } = ctx.source.download(record);
    const prev = inv.previous?.meta;
    let dir = await ctx.workdir.cacheDir(id);
    const reuse =
      dir !== null &&
      prev !== undefined &&
      prev.url === url &&
      prev.image === image &&
      prev.lastUpdated === lastUpdated &&
      (await fsp.access(path.join(dir, image)).then(
        () => true,
        () => false,
      ));
    if (!reuse || dir === null) {
      // A fresh download goes to cache_todo; any processed copy is superseded.
      const todo = ctx.workdir.dir('cache_todo', id);
      // With the run's log, so --verbose shows the download's retries.
      await downloadImage(url, path.join(todo, image), { ...ctx.download, log: ctx.log, signal: inv.signal });
      // Abandoned (the run was interrupted and has ended): leave the cache as it was.
      if (inv.signal.aborted) throw inv.signal.reason;
      await fsp.rm(ctx.workdir.dir('cache_done', id), { recursive: true, force: true });
      dir = todo;
      // Remove a stale image of another extension from an earlier download.
      for (const f of await fsp.readdir(dir)) {
        if (f.startsWith('image.') && f !== image) await fsp.rm(path.join(dir, f), { force: true });
      }
    }
    const cached = Workdir.cachedRecordText(record, image);
    const recordFile = ctx.source.recordFile;
    await writeFileAtomic(path.join(dir, recordFile), cached);
    return {
      outputs: { [image]: await digestFile(path.join(dir, image)), [recordFile]: await digestBytes(cached) },
      meta: { url, image, lastUpdated, ...(ctx.source.describe ? { record } : {}) },
    };
  },
});
