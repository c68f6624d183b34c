/**
 * A study's WTML: its sky placement (from the record's WCS, or untethered without one) and
 * the two documents, `index_rel.wtml` with URLs relative to the study folder and `index.wtml`
 * with absolute ones. Pure: nothing here (or below it) loads sharp, so the WTML rule and
 * planning can import it at start-up.
 */
import { studyFolder, untetheredStudyFolder } from './metadata.js';
import { mirrorAstropixRecord, needsMirror, parseAstropixWcs, skyPlacement, wcsHeaders, type AstroPixRecord, type SkyPlacement } from './wcs.js';
import { absolutizeStudyUrls, prefixUrl, writeWtml, type WtmlFolder } from './wtml.js';

/** Facts about a study that its WTML depends on. */
export interface StudyShape {
  width: number;
  height: number;
  tiled: boolean;
  tileLevels: number;
  /** The image was flopped horizontally (positive-parity WCS on a tiled study). */
  flipX: boolean;
}

/** What writing a study's pixels produced. */
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

export interface StudyWtml {
  folder: WtmlFolder;
  /** index_rel.wtml: URLs relative to the image's folder. */
  indexRel: string;
  /** index.wtml: the same with `publishUrlPrefix + id + '/'` on the four URL fields. */
  index: string | null;
}

/**
 * The WTML documents for a placed study (record given) or an untethered one. With `pixelDir`
 * (`<folder>/`), the pixel files (tiles or image.jpg, thumbnail) are addressed in that
 * subfolder of the study folder, where a re-published study keeps its new pixels.
 */
export function studyWtml(args: {
  uniqueId: string;
  record: AstroPixRecord | null;
  shape: StudyShape;
  name?: string;
  publishUrlPrefix?: string | null;
  pixelDir?: string;
}): StudyWtml {
  const { shape } = args;
  let folder: WtmlFolder;
  if (args.record) {
    const { placement } = placeStudy(args.record, shape);
    folder = studyFolder({ uniqueId: args.uniqueId, record: args.record, placement });
  } else {
    folder = untetheredStudyFolder({ name: args.name ?? args.uniqueId, width: shape.width, height: shape.height, tileLevels: shape.tileLevels });
  }
  if (args.pixelDir) folder = relocatePixels(folder, args.pixelDir);
  const indexRel = writeWtml(folder);
  const index = args.publishUrlPrefix ? writeWtml(absolutizeStudyUrls(folder, `${args.publishUrlPrefix}${args.uniqueId}/`)) : null;
  return { folder, indexRel, index };
}

/** The folder with its pixel URLs (ImageSet Url and thumbnails, not CreditsUrl) under `dir`. */
function relocatePixels(folder: WtmlFolder, dir: string): WtmlFolder {
  return {
    ...folder,
    children: folder.children.map((p) => ({
      ...p,
      thumbnail: prefixUrl(p.thumbnail, dir),
      imageSet: { ...p.imageSet, url: prefixUrl(p.imageSet.url, dir), thumbnailUrl: prefixUrl(p.imageSet.thumbnailUrl, dir) },
    })),
  };
}
