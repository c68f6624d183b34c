/**
 * index — rebuild the repository's root index.wtml from every published image.
 *
 * Key: a digest of each image's published files (from the upload nodes), the other
 * images already in the repository, and folder_name / folder_thumbnail_url / publish_url_prefix.
 * It runs even when some images failed, so everything that did publish is listed.
 */
import { digestBytes, digestOutputs } from '../src/engine/key.js';
import { everyGroup } from '../src/engine/types.js';
import { pipelineRule } from '../src/pipeline/context.js';
import { BUILD_RECORD, buildRecordText } from '../src/pipeline/build-record.js';
import { ROOT_INDEX } from '../src/pipeline/config.js';
import { uploadRule } from './upload.js';

/** The repository lock taken while the root index is rewritten. */
const ROOT_INDEX_LOCK = 'toasty-index';

export interface RootIndexMeta {
  count: number;
}

export const rootIndexRule = pipelineRule<RootIndexMeta>()({
  name: 'index',
  version: 1,
  scope: 'one',
  // Short: an interrupted run waits for it.
  interrupt: 'finish',
  deps: { uploads: everyGroup(uploadRule, { partial: true }) },
  inputLabels: {
    images: { label: 'published images' },
    others: { label: 'published images' },
    folder_name: { label: 'folder_name' },
    folder_thumbnail_url: { label: 'folder_thumbnail_url' },
    publish_url_prefix: { label: 'publish_url_prefix' },
  },
  async inputs(inv) {
    // Each published image stands for its whole uploaded file set (tiles and WTML).
    const images: Record<string, string> = {};
    for (const [id, result] of inv.deps.uploads) images[id] = await digestOutputs(result.outputs);
    // A rejected image stays in the repository but not in the index (so rejecting one reindexes).
    const others = [...inv.ctx.publishedAtStart].filter((id) => !(id in images) && !inv.ctx.rejected.has(id)).sort();
    const c = inv.ctx.config;
    return {
      images,
      others,
      folder_name: c.folderName,
      folder_thumbnail_url: c.folderThumbnailUrl,
      publish_url_prefix: c.publishUrlPrefix,
    };
  },
  async verify(inv, recorded) {
    const data = await inv.ctx.repo.get(ROOT_INDEX);
    if (!data) return { problem: 'missing', where: 'repository', files: [ROOT_INDEX] };
    return (await digestBytes(data)) === recorded.outputs[ROOT_INDEX] ? null : { problem: 'differs', where: 'repository', files: [ROOT_INDEX] };
  },
  async run(inv, _inputs, self) {
    const { ctx } = inv;
    const { buildRootIndex } = await import('../src/pipeline/reindex.js');
    // One writer at a time, listing afresh under the lock: concurrent runs never lose an image.
    const written = await ctx.repo.exclusive(ROOT_INDEX_LOCK, async () => {
      const index = await buildRootIndex(ctx.repo, ctx.config, { log: ctx.log });
      const result = { outputs: { [ROOT_INDEX]: await digestBytes(index.text) }, meta: { count: index.ids.length } };
      const entry = { rule: rootIndexRule.name, version: rootIndexRule.version, key: self.key, leaves: self.leaves, result, at: new Date().toISOString() };
      await ctx.repo.put(BUILD_RECORD, buildRecordText(null, { [rootIndexRule.name]: entry }));
      await ctx.repo.put(ROOT_INDEX, index.text);
      return result;
    });
    ctx.log.info(`indexed ${written.meta.count} image(s): ${ctx.config.publishUrlPrefix}${ROOT_INDEX}`);
    return written;
  },
});
