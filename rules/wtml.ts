/**
 * wtml:<id> — write index_rel.wtml (relative URLs) and index.wtml (absolute URLs under
 * publish_url_prefix) for a tiled or untiled study.
 *
 * Key: the record, the study's shape from the tile rule, and publish_url_prefix; so a new
 * prefix rewrites only the WTML (the tiles are untouched).
 */
import path from 'node:path';
import type { Rule } from '../src/engine/types.js';
import { digestBytes, digestOutputs } from '../src/engine/key.js';
import { writeFileAtomic } from '../src/util/fs.js';
import { imageOf, type PipelineContext } from '../src/pipeline/context.js';
import type { StudyShape } from '../src/wwt/study-wtml.js';
import { fieldsOf } from './fetch.js';

function shapeOf(meta: unknown): StudyShape {
  const m = meta as StudyShape;
  return { width: m.width, height: m.height, tiled: m.tiled, tileLevels: m.tileLevels, flipX: m.flipX };
}

export const wtmlRule: Rule<PipelineContext> = {
  name: 'wtml',
  version: 1,
  newReason: 'new image',
  async inputs(inv) {
    const id = imageOf(inv.node.group);
    return {
      record: inv.ctx.records.get(id) as never,
      study: shapeOf(inv.deps.get(`tile:${id}`)!.meta) as never,
      // A summary of the tiles, so new pixels also refresh the WTML (and everything after it).
      tiles: await digestOutputs(inv.deps.get(`tile:${id}`)!.outputs),
      publish_url_prefix: inv.ctx.config.publishUrlPrefix,
    };
  },
  explain(changed) {
    const parts: string[] = [];
    if (changed.includes('publish_url_prefix')) parts.push('publish_url_prefix changed');
    if (changed.some((p) => p.startsWith('study'))) parts.push('study shape changed');
    else if (changed.includes('tiles')) parts.push('tiles changed');
    const rec = changed.filter((p) => p.startsWith('record'));
    if (rec.length) parts.push(`feed record changed (${fieldsOf(rec)})`);
    return parts.join('; ') || 'inputs changed';
  },
  async verify(inv) {
    const id = imageOf(inv.node.group);
    // index.wtml is written after index_rel.wtml: its presence vouches for both.
    return (await inv.ctx.workdir.has('out', id, 'index.wtml')) ? null : 'index.wtml missing from the work directory';
  },
  async run(inv) {
    const { ctx } = inv;
    const id = imageOf(inv.node.group);
    const { studyWtml } = await import('../src/wwt/study-wtml.js');
    const { indexRel, index } = studyWtml({
      uniqueId: id,
      record: ctx.records.get(id)!,
      shape: shapeOf(inv.deps.get(`tile:${id}`)!.meta),
      publishUrlPrefix: ctx.config.publishUrlPrefix,
    });
    const dir = ctx.workdir.dir('out_todo', id);
    // index_rel.wtml first: index.wtml is the file whose presence means "complete".
    await writeFileAtomic(path.join(dir, 'index_rel.wtml'), indexRel);
    await writeFileAtomic(path.join(dir, 'index.wtml'), index!);
    return { outputs: { 'index_rel.wtml': await digestBytes(indexRel), 'index.wtml': await digestBytes(index!) } };
  },
};
