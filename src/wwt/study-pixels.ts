/**
 * A study's pixels: the tile pyramid or image.jpg, plus thumb.jpg, each file with its digest.
 * Loads sharp, so callers that may not need pixels (the CLI, the tile rule) import it lazily.
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { digestFile } from '../util/digest.js';
import { silentLog, type Log } from '../util/log.js';
import { openImage } from './image.js';
import { TILE_PNG, type TilePngMode } from './encoding.js';
import { writeStudyPyramid, writeUntiledImage } from './pyramid.js';
import { THUMBNAIL_NAME, UNTILED_IMAGE_NAME } from './study-files.js';
import { placeStudy, type StudyPixels } from './study-wtml.js';
import { writeThumbnail } from './thumbnail.js';
import { needsTiling, studyTiling } from './tiling.js';
import type { AvmWcs } from './wcs.js';

/**
 * Write the study's pixels into `outDir` (which must exist and be empty). With a WCS (or an
 * AstroPix record, short for its WCS) it is validated first, so an image WWT cannot place is
 * refused before tiling. The image is opened once, with `maxPixels`, and every writer decodes
 * it under that same limit.
 */
export async function writeStudyPixels(
  imagePath: string,
  outDir: string,
  opts: { wcs?: AvmWcs | null; maxPixels?: number; log?: Log; tilePng?: TilePngMode } = {},
): Promise<StudyPixels> {
  const log = opts.log ?? silentLog;
  const image = await openImage(imagePath, { maxPixels: opts.maxPixels });
  const { width, height } = image;
  const tiled = needsTiling(width, height);
  const tileLevels = tiled ? studyTiling(width, height).tileLevels : 0;
  const wcs = opts.wcs ?? null;
  const flipX = wcs ? placeStudy(wcs, { width, height, tiled, tileLevels }).flipX : false;
  if (tiled) {
    await writeStudyPyramid(image, outDir, { flipX, log, png: TILE_PNG[opts.tilePng ?? 'small'] });
  } else {
    await writeUntiledImage(image, path.join(outDir, UNTILED_IMAGE_NAME), { flipX });
  }
  await writeThumbnail(image, path.join(outDir, THUMBNAIL_NAME), { flipX });
  const files: Record<string, string> = {};
  for (const name of (await fsp.readdir(outDir)).sort()) {
    if (name.startsWith('.')) continue;
    files[name] = await digestFile(path.join(outDir, name));
  }
  return { width, height, tiled, tileLevels, flipX, files };
}
