/**
 * index — rebuild the repository's root index.wtml from every published image.
 *
 * Key: a digest of each image's published files (from the upload nodes), the other
 * images already in the repository, and folder_name / folder_thumbnail_url / publish_url_prefix.
 * It runs even when some images failed, so everything that did publish is listed.
 */
import type { Rule } from '../src/engine/types.js';
import { digestBytes, digestOutputs } from '../src/engine/key.js';
import type { PipelineContext } from '../src/pipeline/context.js';

export const ROOT_INDEX = 'index.wtml';

async function published(inv: { deps: ReadonlyMap<string, { outputs: Record<string, string> }>; ctx: PipelineContext }) {
  // Each published image stands for its whole uploaded file set (tiles and WTML).
  const images: Record<string, string> = {};
  for (const [nodeId, result] of inv.deps) images[nodeId.replace(/^upload:/, '')] = await digestOutputs(result.outputs);
  const others = [...inv.ctx.publishedAtStart].filter((id) => !(id in images)).sort();
  return { images, others };
}

export const rootIndexRule: Rule<PipelineContext> = {
  name: 'index',
  version: 1,
  partialDeps: true,
  newReason: 'new repository index',
  async inputs(inv) {
    const { images, others } = await published(inv);
    const c = inv.ctx.config;
    return {
      images,
      others,
      folder_name: c.folderName,
      folder_thumbnail_url: c.folderThumbnailUrl,
      publish_url_prefix: c.publishUrlPrefix,
    };
  },
  explain(changed) {
    const why = new Set<string>();
    for (const p of changed) {
      if (p.startsWith('images') || p.startsWith('others')) why.add('published images changed');
      else why.add(`${p} changed`);
    }
    return [...why].join('; ');
  },
  async verify(inv, recorded) {
    const data = await inv.ctx.repo.get(ROOT_INDEX);
    if (!data) return 'output missing in repository';
    return (await digestBytes(data)) === recorded.outputs[ROOT_INDEX] ? null : 'root index.wtml differs from the one published';
  },
  async run(inv) {
    const { ctx } = inv;
    const { buildRootIndex } = await import('../src/pipeline/reindex.js');
    const result = await buildRootIndex(ctx.repo, ctx.config, { log: ctx.log });
    await ctx.repo.put(ROOT_INDEX, result.text);
    ctx.log.info(`indexed ${result.ids.length} image(s): ${ctx.config.publishUrlPrefix}${ROOT_INDEX}`);
    return { outputs: { [ROOT_INDEX]: await digestBytes(result.text) }, meta: { count: result.ids.length } };
  },
};
