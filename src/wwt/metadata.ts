import { constellationAt } from './constellations.js';
import { formatTimestamp, isoTimestamp, type AwareTimestamp } from './datetime.js';
import { skyPlacement, type SkyPlacement, type WcsHeaders } from './wcs.js';
import { THUMBNAIL_NAME } from './study-files.js';
import { explorerFolder, type WtmlFolder, type WtmlImageSet, type WtmlPlace } from './wtml.js';

/** Where an item comes from, for WWT's provenance and image-of-the-day tooling. */
export interface StudyProvenance {
  /** The source's name for its feed (AstroPix: the publisher id). */
  channel: string;
  /** The item's id within the channel. */
  itemId: string;
  /** When the item was published. */
  published: AwareTimestamp;
}

/** What a source says about a study, as plain data. */
export interface StudyText {
  title: string;
  description?: string;
  credits?: string;
  creditsUrl?: string;
  /** The Place's XLastUpdated, which orders the root index newest first. */
  lastUpdated?: AwareTimestamp;
  provenance?: StudyProvenance;
}

/** The Place's Annotation: compact JSON with the keys WWT's tooling reads. */
export function placeAnnotation(p: StudyProvenance): string {
  return JSON.stringify({ channel: p.channel, itemid: p.itemId, publishedUTCISO8601: isoTimestamp(p.published) });
}

function buildPlace(placement: SkyPlacement, t: StudyText, constellation: string): WtmlPlace {
  const pi = placement.imageset;
  const imageSet: WtmlImageSet = {
    name: t.title,
    dataSetType: 'Sky',
    bandPass: 'Visible',
    projection: pi.projection,
    url: pi.url,
    fileType: pi.fileType,
    tileLevels: pi.tileLevels,
    baseTileLevel: 0,
    baseDegreesPerTile: pi.baseDegreesPerTile,
    widthFactor: 2,
    bottomsUp: pi.bottomsUp,
    rotation: pi.rotation,
    centerX: pi.centerX,
    centerY: pi.centerY,
    offsetX: pi.offsetX,
    offsetY: pi.offsetY,
    sparse: true,
    elevationModel: false,
    generic: false,
    stockSet: false,
    quadTreeMap: '',
    thumbnailUrl: THUMBNAIL_NAME,
  };
  if (t.credits) imageSet.credits = t.credits;
  if (t.creditsUrl) imageSet.creditsUrl = t.creditsUrl;
  if (t.description) imageSet.description = t.description;
  const place: WtmlPlace = {
    name: t.title,
    dataSetType: 'Sky',
    ra: placement.place.ra,
    dec: placement.place.dec,
    zoomLevel: placement.place.zoomLevel,
    rotation: 0,
    angle: 0,
    angularSize: 0,
    magnitude: 0,
    opacity: 100,
    thumbnail: imageSet.thumbnailUrl,
    constellation,
    imageSet,
  };
  // WWT shows the Place's description; the ImageSet keeps its copy for older readers.
  if (t.description) place.description = t.description;
  if (t.provenance) place.annotation = placeAnnotation(t.provenance);
  if (t.lastUpdated) place.xLastUpdated = formatTimestamp(t.lastUpdated);
  return place;
}

/**
 * The per-image folder (`index_rel.wtml`) of a study placed on the sky: Folder, Place and
 * ImageSet all named by the title, one Place, its Constellation from the image centre.
 */
export function studyFolder(placement: SkyPlacement, text: StudyText): WtmlFolder {
  const constellation = constellationAt(placement.place.ra, placement.place.dec);
  return explorerFolder(text.title, [buildPlace(placement, text, constellation)]);
}

/**
 * Placement for an image without any WCS ("untethered"): centred on RA 0h, Dec 0, north up,
 * east left, with the longer side spanning 1 degree (a typical size for a press-release
 * picture, so the client's default zoom shows it whole). Built as synthetic TAN headers and
 * run through the normal placement, so tiled and untiled offsets stay consistent.
 */
export function untetheredPlacement(width: number, height: number, tileLevels: number): SkyPlacement {
  const scale = 1 / Math.max(width, height);
  const headers: WcsHeaders = {
    CTYPE1: 'RA---TAN',
    CTYPE2: 'DEC--TAN',
    CRVAL1: 0,
    CRVAL2: 0,
    CRPIX1: (width + 1) / 2,
    CRPIX2: (height + 1) / 2,
    CD1_1: -scale,
    CD1_2: 0,
    CD2_1: 0,
    CD2_2: -scale,
  };
  return skyPlacement(headers, width, height, tileLevels);
}

/**
 * A study folder for an image with no sky position (see `untetheredPlacement`). Its
 * Constellation is empty: the synthetic position says nothing about the sky.
 */
export function untetheredStudyFolder(args: { width: number; height: number; tileLevels: number; text: StudyText }): WtmlFolder {
  const placement = untetheredPlacement(args.width, args.height, args.tileLevels);
  return explorerFolder(args.text.title, [buildPlace(placement, args.text, '')]);
}
