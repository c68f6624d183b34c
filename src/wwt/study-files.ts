/**
 * The file names inside a study folder, in one place: the pixel writers create these files,
 * the WTML points at them, and publishing and the preview server look for them.
 */

/** The study's WTML with absolute URLs; published last, so its presence means "complete". */
export const INDEX_WTML = 'index.wtml';

/** The same WTML with URLs relative to the study folder (what `index.wtml` is made from). */
export const INDEX_REL_WTML = 'index_rel.wtml';

/** The 96x45 JPEG thumbnail. */
export const THUMBNAIL_NAME = 'thumb.jpg';

/** The whole image as one JPEG, for images too small to tile. */
export const UNTILED_IMAGE_NAME = 'image.jpg';

/** ImageSet Url template of the tiles ("LXY" names): `{1}` level, `{2}` column, `{3}` row. */
export const TILE_URL_TEMPLATE = 'L{1}X{2}Y{3}.png';

/** What every tile name, and no other study file name, starts with ('L', as in `L4X3Y12.png`). */
export const TILE_NAME_START = TILE_URL_TEMPLATE.slice(0, TILE_URL_TEMPLATE.indexOf('{'));

/** The file name of one tile, e.g. `L4X3Y12.png`: the URL template filled in. */
export function tileFileName(level: number, x: number, y: number): string {
  return TILE_URL_TEMPLATE.replace('{1}', String(level)).replace('{2}', String(x)).replace('{3}', String(y));
}

/** A tile's file name: the URL template with numbers in its places. */
const TILE_NAME = new RegExp(`^${TILE_URL_TEMPLATE.replace('.', '\\.').replace(/\{\d\}/g, '\\d+')}$`);

/** Whether `name` is one of a study's pixel files (a tile, the untiled image, the thumbnail). */
export function isPixelFileName(name: string): boolean {
  return name === THUMBNAIL_NAME || name === UNTILED_IMAGE_NAME || TILE_NAME.test(name);
}

/**
 * A re-published study's pixel folder inside its repository folder: 16 hex digits, the digest
 * of the pixel files, so new pixels never overwrite the ones a visible index.wtml points at.
 */
export const PIXEL_FOLDER = /^[0-9a-f]{16}$/;
