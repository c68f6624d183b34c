/**
 * wtml:<id> — write index_rel.wtml (relative URLs) and index.wtml (absolute URLs under
 * publish_url_prefix) for a tiled or untiled study.
 *
 * Key: the record, the source's settings that shape the text (if any), the study's shape
 * from the tile rule, publish_url_prefix and the XML writer's version; so a new prefix
 * rewrites only the WTML (the tiles are untouched).
 */
import path from 'node:path';
import { digestBytes, digestOutputs } from '../src/engine/key.js';
import { sameGroup } from '../src/engine/types.js';
import { pipelineRule, recordOf, type PublishedPixels } from '../src/pipeline/context.js';
import { writeFileAtomic } from '../src/util/fs.js';
import { INDEX_REL_WTML, INDEX_WTML } from '../src/wwt/study-files.js';
import type { StudyShape } from '../src/wwt/study-wtml.js';
import { wtmlToolchain } from '../src/wwt/toolchain.js';
import { tileRule } from './tile.js';

function shapeOf(m: StudyShape): StudyShape {
  return { width: m.width, height: m.height, tiled: m.tiled, tileLevels: m.tileLevels, flipX: m.flipX };
}

export interface WtmlMeta {
  /** Subfolder of the image folder the WTML addresses the pixel files in ('' or `<digest>/`). */
  pixelDir: string;
}

export const wtmlRule = pipelineRule<WtmlMeta>()({
  name: 'wtml',
  version: 2, // 2: Folder named by the title; Place Constellation, Description and Annotation
  scope: 'each',
  // Short: an interrupted run waits for it.
  interrupt: 'finish',
  deps: { tile: sameGroup(tileRule) },
  inputLabels: {
    publish_url_prefix: { label: 'publish_url_prefix' },
    study: { label: 'study shape' },
    tiles: { label: 'tiles' },
    record: { label: 'feed record', detail: 'fields' },
    source: { label: 'source settings', detail: 'fields' },
    pixel_dir: { label: 'pixel folder', detail: 'values' },
    toolchain: { label: 'WTML writer', detail: 'values' },
  },
  async inputs(inv) {
    const tile = inv.deps.tile;
    // A summary of the tiles, so new pixels also refresh the WTML (and everything after it).
    const tiles = await digestOutputs(tile.outputs);
    return {
      record: recordOf(inv.ctx, inv.group),
      // Absent for a source without such settings, so its keys are what they always were.
      source: inv.ctx.source.studySettings,
      study: shapeOf(tile.meta),
      tiles,
      pixel_dir: pixelDir(inv.ctx.publishedPixels(inv.group), inv.ctx.publishedAtStart.has(inv.group), tile.outputs, tiles),
      publish_url_prefix: inv.ctx.config.publishUrlPrefix,
      toolchain: wtmlToolchain(),
    };
  },
  // index.wtml is written after index_rel.wtml: its presence vouches for both.
  present: (inv) => inv.ctx.workdir.has('out', inv.group, INDEX_WTML),
  async run(inv, inputs) {
    const { ctx, group: id } = inv;
    // Loaded on demand: the XML writer is not needed to plan an up-to-date run.
    const { studyWtml } = await import('../src/wwt/study-wtml.js');
    const { indexRel, index } = studyWtml({
      uniqueId: id,
      study: ctx.source.study(inputs.record, id),
      shape: inputs.study,
      publishUrlPrefix: inputs.publish_url_prefix,
      pixelDir: inputs.pixel_dir,
    });
    if (index === null) throw new Error('publish_url_prefix is empty');
    const dir = ctx.workdir.dir('out_todo', id);
    // index_rel.wtml first: index.wtml is the file whose presence means "complete".
    await writeFileAtomic(path.join(dir, INDEX_REL_WTML), indexRel);
    await writeFileAtomic(path.join(dir, INDEX_WTML), index);
    return {
      outputs: { [INDEX_REL_WTML]: await digestBytes(indexRel), [INDEX_WTML]: await digestBytes(index) },
      meta: { pixelDir: inputs.pixel_dir },
    };
  },
});

/**
 * Where the image's pixel files go in the repository. A first publish is flat. New pixels
 * never overwrite the ones the visible index.wtml points at: they go to a subfolder named by
 * their digest, so a reader (or a CDN cache) sees the old study or the new one, never a mix.
 */
export function pixelDir(published: PublishedPixels | undefined, visible: boolean, pixels: Readonly<Record<string, string>>, tiles: string): string {
  if (published && sameFiles(published.files, pixels)) return published.dir;
  if (!published && !visible) return '';
  return `${tiles}/`;
}

/** The same files with the same digests (what equal `digestOutputs` says, without hashing). */
function sameFiles(a: Readonly<Record<string, string>>, b: Readonly<Record<string, string>>): boolean {
  const names = Object.keys(a);
  if (names.length !== Object.keys(b).length) return false;
  for (const name of names) if (!Object.hasOwn(b, name) || a[name] !== b[name]) return false;
  return true;
}
