/**
 * AstroPix record + sky placement -> the per-image WTML folder, with URLs relative to the
 * image folder (`index_rel.wtml`; prefixing them gives `index.wtml`).
 */
import { ToastyError, isToastyError } from '../util/errors.js';
import { xLastUpdatedFromRecord } from './datetime.js';
import { skyPlacement, type AstroPixRecord, type SkyPlacement, type WcsHeaders } from './wcs.js';
import { THUMBNAIL_NAME } from './study-files.js';
import { explorerFolder, type WtmlFolder, type WtmlImageSet, type WtmlPlace } from './wtml.js';

/** Text of a record field; AstroPix writes strings, but tolerate numbers and null. */
function recordText(record: AstroPixRecord, field: string): string {
  const v = record[field];
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return '';
}

/** Python `urllib.parse.quote(s, safe='')`: everything but `A-Za-z0-9_.-~` percent-encoded. */
function quote(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** The AstroPix landing page used as CreditsUrl when the record has no `reference_url`. */
export function astropixImagePageUrl(record: AstroPixRecord): string {
  const pub = recordText(record, 'publisher_id');
  const id = recordText(record, 'image_id');
  if (!pub) throw new ToastyError('record', 'publisher_id is missing', { field: 'publisher_id' });
  if (!id) throw new ToastyError('record', 'image_id is missing', { field: 'image_id' });
  return `http://astropix.ipac.caltech.edu/image/${quote(pub)}/${quote(id)}`;
}

interface StudyText {
  title: string;
  description?: string;
  credits?: string;
  creditsUrl?: string;
  xLastUpdated?: string;
}

function buildPlace(placement: SkyPlacement, t: StudyText): WtmlPlace {
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
    imageSet,
  };
  if (t.xLastUpdated !== undefined) place.xLastUpdated = t.xLastUpdated;
  return place;
}

/**
 * The per-image folder (`index_rel.wtml`): Folder Name = unique id, one Place named by the
 * record's title, its text from description, image_credit and reference_url. Record errors (bad `last_updated`, no CreditsUrl source) carry the image id.
 */
export function studyFolder(args: { uniqueId: string; record: AstroPixRecord; placement: SkyPlacement }): WtmlFolder {
  const { uniqueId, record, placement } = args;
  try {
    const referenceUrl = recordText(record, 'reference_url');
    const place = buildPlace(placement, {
      title: recordText(record, 'title'),
      description: recordText(record, 'description'),
      credits: recordText(record, 'image_credit'),
      creditsUrl: referenceUrl || astropixImagePageUrl(record),
      xLastUpdated: xLastUpdatedFromRecord(record.last_updated),
    });
    return explorerFolder(uniqueId, [place]);
  } catch (e) {
    throw isToastyError(e) ? e.forImage(uniqueId) : e;
  }
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

/** A study folder for an image with no sky position (see `untetheredPlacement`). */
export function untetheredStudyFolder(args: {
  name: string;
  width: number;
  height: number;
  tileLevels: number;
  title?: string;
  description?: string;
  credits?: string;
  creditsUrl?: string;
  xLastUpdated?: string;
}): WtmlFolder {
  const placement = untetheredPlacement(args.width, args.height, args.tileLevels);
  const place = buildPlace(placement, { ...args, title: args.title ?? args.name });
  return explorerFolder(args.name, [place]);
}
