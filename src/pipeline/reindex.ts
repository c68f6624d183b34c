/**
 * Rebuild the repository's root index.wtml: every folder that has a parseable
 * index.wtml contributes its Place, newest XLastUpdated first (ties by id).
 */
import type { Repository } from '../storage/types.js';
import { silentLog, type Log } from '../util/log.js';
import { toToastyError } from '../util/errors.js';
import { forEachLimit } from '../util/pool.js';
import { compareNewestFirst } from '../wwt/datetime.js';
import { INDEX_WTML } from '../wwt/study-files.js';
import { parseWtml, writeWtml, wwtAttributesOnly, type WtmlPlace } from '../wwt/wtml.js';
import type { PipelineConfig } from './config.js';
import { SKIP_FLAG } from './workdir.js';

export interface ReindexResult {
  /** The document written. */
  text: string;
  /** Ids listed, in order. */
  ids: string[];
  /** Folders left out, with the reason. */
  skipped: Array<{ id: string; reason: string }>;
}

/** Longest `<id>/index.wtml` taken into the root index, in characters. */
const IMAGE_INDEX_MAX_LENGTH = 1 << 20;

export async function buildRootIndex(repo: Repository, config: PipelineConfig, opts: { log?: Log; concurrency?: number } = {}): Promise<ReindexResult> {
  const log = opts.log ?? silentLog;
  const folders = (await repo.list('')).filter((e) => e.isFolder).map((e) => e.name);
  const found: Array<{ id: string; place: WtmlPlace }> = [];
  const skipped: ReindexResult['skipped'] = [];
  await forEachLimit(folders, opts.concurrency ?? 8, async (id) => {
    const [data, rejected] = await Promise.all([repo.get(`${id}/${INDEX_WTML}`), repo.exists(`${id}/${SKIP_FLAG}`)]);
    if (rejected) {
      // Its files stay published (toasty deletes nothing it is told not to publish); the index
      // no longer offers it.
      skipped.push({ id, reason: 'rejected (skip.flag)' });
      return;
    }
    if (!data) {
      skipped.push({ id, reason: 'no index.wtml (not completely published)' });
      return;
    }
    try {
      // An image's own index is a few kB: anything far bigger is not one toasty wrote.
      const place = parseWtml(data.toString('utf8'), { maxLength: IMAGE_INDEX_MAX_LENGTH }).children[0];
      if (!place) throw new Error('its folder has no Place');
      // Only what WWT defines goes into the root index: a folder's index.wtml may come from
      // anyone with write access to the repository.
      found.push({ id, place: wwtAttributesOnly(place) });
    } catch (e) {
      const reason = `index.wtml is unreadable: ${toToastyError(e).message}`;
      skipped.push({ id, reason });
      log.warn(`reindex: skipping ${id}: ${reason}`);
    }
  });
  found.sort((a, b) => compareNewestFirst(a.place.xLastUpdated, b.place.xLastUpdated) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const text = writeWtml({
    name: config.folderName,
    group: 'Explorer',
    browseable: true,
    searchable: true,
    thumbnail: config.folderThumbnailUrl || undefined,
    children: found.map((f) => f.place),
  });
  skipped.sort((a, b) => (a.id < b.id ? -1 : 1));
  return { text, ids: found.map((f) => f.id), skipped };
}
