/**
 * One image -> a WWT study: the pixels (tile pyramid or image.jpg, plus thumb.jpg) and the
 * WTML (index_rel.wtml with relative URLs, index.wtml with absolute ones). The pipeline rules
 * and `toasty tile-study` both come through here.
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { digestFile } from '../util/digest.js';
import { silentLog, type Log } from '../util/log.js';
import { openImage, DEFAULT_MAX_PIXELS } from './image.js';
import { writeStudyPyramid, writeUntiledImage } from './pyramid.js';
import { writeThumbnail } from './thumbnail.js';
import { needsTiling, studyTiling } from './tiling.js';
import { mirrorAstropixRecord, needsMirror, parseAstropixWcs, skyPlacement, wcsHeaders, type AstroPixRecord, type SkyPlacement } from './wcs.js';
import { studyFolder, untetheredStudyFolder } from './metadata.js';
import { THUMBNAIL_NAME, UNTILED_IMAGE_NAME } from './study-files.js';
import { absolutizeStudyUrls, writeWtml, type WtmlFolder } from './wtml.js';

/** Facts about a study that its WTML depends on. */
export interface StudyShape {
  width: number;
  height: number;
  tiled: boolean;
  tileLevels: number;
  /** The image was flopped horizontally (positive-parity WCS on a tiled study). */
  flipX: boolean;
}

export interface StudyPixels extends StudyShape {
  /** Every file written (tiles or image.jpg, thumb.jpg) with its digest. */
  files: Record<string, string>;
}

/**
 * Check that the record's WCS places an image of this size in WWT (throws ToastyError 'wcs'
 * or 'record' otherwise), before any expensive tiling.
 */
export function placeStudy(record: AstroPixRecord, shape: Omit<StudyShape, 'flipX'>): { placement: SkyPlacement; flipX: boolean } {
  const wcs = parseAstropixWcs(record);
  const flipX = needsMirror(wcs, shape.tiled);
  const effective = flipX ? parseAstropixWcs(mirrorAstropixRecord(record)) : wcs;
  const headers = wcsHeaders(effective, shape.width, shape.height).headers;
  return { placement: skyPlacement(headers, shape.width, shape.height, shape.tileLevels), flipX };
}

/**
 * Write the study's pixels into `outDir` (which must exist and be empty). With a record the
 * WCS is validated first, so an image WWT cannot place is refused before tiling.
 */
export async function writeStudyPixels(
  imagePath: string,
  outDir: string,
  opts: { record?: AstroPixRecord | null; maxPixels?: number; log?: Log } = {},
): Promise<StudyPixels> {
  const log = opts.log ?? silentLog;
  const maxPixels = opts.maxPixels ?? DEFAULT_MAX_PIXELS;
  const info = await openImage(imagePath, { maxPixels });
  const tiled = needsTiling(info.width, info.height);
  const tileLevels = tiled ? studyTiling(info.width, info.height).tileLevels : 0;
  let flipX = false;
  if (opts.record) {
    flipX = placeStudy(opts.record, { width: info.width, height: info.height, tiled, tileLevels }).flipX;
  }
  if (tiled) {
    await writeStudyPyramid(imagePath, outDir, { flipX, maxPixels, log });
  } else {
    await writeUntiledImage(imagePath, path.join(outDir, UNTILED_IMAGE_NAME), { flipX, maxPixels });
  }
  await writeThumbnail(imagePath, path.join(outDir, THUMBNAIL_NAME), { flipX });
  const files: Record<string, string> = {};
  for (const name of (await fsp.readdir(outDir)).sort()) {
    if (name.startsWith('.')) continue;
    files[name] = await digestFile(path.join(outDir, name));
  }
  return { width: info.width, height: info.height, tiled, tileLevels, flipX, files };
}

export interface StudyWtml {
  folder: WtmlFolder;
  /** index_rel.wtml: URLs relative to the image's folder. */
  indexRel: string;
  /** index.wtml: the same with `publishUrlPrefix + id + '/'` on the four URL fields. */
  index: string | null;
}

/** The WTML documents for a placed study (record given) or an untethered one. */
export function studyWtml(args: {
  uniqueId: string;
  record: AstroPixRecord | null;
  shape: StudyShape;
  name?: string;
  publishUrlPrefix?: string | null;
}): StudyWtml {
  const { shape } = args;
  let folder: WtmlFolder;
  if (args.record) {
    const { placement } = placeStudy(args.record, shape);
    folder = studyFolder({ uniqueId: args.uniqueId, record: args.record, placement });
  } else {
    folder = untetheredStudyFolder({ name: args.name ?? args.uniqueId, width: shape.width, height: shape.height, tileLevels: shape.tileLevels });
  }
  const indexRel = writeWtml(folder);
  const index = args.publishUrlPrefix ? writeWtml(absolutizeStudyUrls(folder, `${args.publishUrlPrefix}${args.uniqueId}/`)) : null;
  return { folder, indexRel, index };
}
