/**
 * A study's WTML: its sky placement (from the source's WCS, or untethered without one) and
 * the two documents, `index_rel.wtml` with URLs relative to the study folder and `index.wtml`
 * with absolute ones. Pure: nothing here (or below it) loads sharp, so the WTML rule and
 * planning can import it at start-up.
 */
import { isToastyError } from '../util/errors.js';
import { studyFolder, untetheredStudyFolder, type StudyText } from './metadata.js';
import { mirrorWcs, needsMirror, skyPlacement, wcsHeaders, type AvmWcs, type SkyPlacement } from './wcs.js';
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

/** A study as any source describes it, as plain data: where it is on the sky, and its text. */
export interface StudySource {
  wcs: AvmWcs;
  text: StudyText;
}

/**
 * Check that the WCS places an image of this size in WWT (throws ToastyError 'wcs' otherwise),
 * before any expensive tiling. A positive-parity tiled study is placed by its mirror twin.
 */
export function placeStudy(wcs: AvmWcs, shape: Omit<StudyShape, 'flipX'>): { placement: SkyPlacement; flipX: boolean } {
  const flipX = needsMirror(wcs, shape.tiled);
  const headers = wcsHeaders(flipX ? mirrorWcs(wcs) : wcs, shape.width, shape.height).headers;
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
 * The WTML documents for a placed study or an untethered one (`study: null`, named `name`).
 * Errors carry the image id. With `pixelDir` (`<folder>/`), the pixel files (tiles or image.jpg,
 * thumbnail) are addressed in that subfolder of the study folder, where a re-published study
 * keeps its new pixels.
 */
export function studyWtml(args: {
  study: StudySource | null;
  uniqueId: string;
  shape: StudyShape;
  name?: string;
  publishUrlPrefix?: string | null;
  pixelDir?: string;
}): StudyWtml {
  const { shape, uniqueId } = args;
  let folder: WtmlFolder;
  try {
    const { study } = args;
    if (study) {
      folder = studyFolder(placeStudy(study.wcs, shape).placement, study.text);
    } else {
      const text = { title: args.name ?? uniqueId };
      folder = untetheredStudyFolder({ width: shape.width, height: shape.height, tileLevels: shape.tileLevels, text });
    }
  } catch (e) {
    throw isToastyError(e) ? e.forImage(uniqueId) : e;
  }
  if (args.pixelDir) folder = relocatePixels(folder, args.pixelDir);
  const indexRel = writeWtml(folder);
  const index = args.publishUrlPrefix ? writeWtml(absolutizeStudyUrls(folder, `${args.publishUrlPrefix}${uniqueId}/`)) : null;
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
