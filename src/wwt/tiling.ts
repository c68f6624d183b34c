/**
 * Study tiling geometry: where an image sits in its padded power-of-two
 * square and which 256x256 tiles it populates at each level (their names are in study-files).
 * Pure integer arithmetic; no pixels here.
 */

/** Images larger than this on either side are tiled; others become a single `image.jpg`. */
export const TILING_THRESHOLD = 2048;

/** Side of a study tile in pixels. */
export const TILE_SIZE = 256;

export interface StudyTiling {
  /** Side of the padded square, a power of two >= 256. */
  paddedSize: number;
  /** Tiles per side at the deepest level. */
  tilesPerSide: number;
  /** Levels below the root (`TileLevels`); the deepest level is this number. */
  tileLevels: number;
  /** Image offset inside the padded square, pixels from the left (floor of the margin / 2). */
  imageX0: number;
  /** Image offset inside the padded square, pixels from the top. */
  imageY0: number;
}

/** One populated deepest-level tile and the rectangle it shares with the image. */
export interface TileOverlap {
  level: number;
  x: number;
  y: number;
  /** Size of the overlap rectangle. */
  width: number;
  height: number;
  /** Top-left of the overlap in image pixels. */
  imageX: number;
  imageY: number;
  /** Top-left of the overlap in tile pixels. */
  tileX: number;
  tileY: number;
}

/** Inclusive ranges of populated tile columns and rows at one level. */
export interface TileRange {
  x0: number;
  x1: number;
  y0: number;
  y1: number;
}

function checkSize(width: number, height: number): void {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new RangeError(`image size must be positive integers, got ${width}x${height}`);
  }
}

/** True when the study pipeline tiles an image of this size (strictly above 2048 on a side). */
export function needsTiling(width: number, height: number): boolean {
  return width > TILING_THRESHOLD || height > TILING_THRESHOLD;
}

/** Smallest power of two that is >= n and >= 256. */
function p2(n: number): number {
  let p = TILE_SIZE;
  while (p < n) p *= 2;
  return p;
}

export function studyTiling(width: number, height: number): StudyTiling {
  checkSize(width, height);
  const paddedSize = Math.max(p2(width), p2(height));
  const tilesPerSide = paddedSize / TILE_SIZE;
  return {
    paddedSize,
    tilesPerSide,
    tileLevels: Math.round(Math.log2(tilesPerSide)),
    imageX0: Math.floor((paddedSize - width) / 2),
    imageY0: Math.floor((paddedSize - height) / 2),
  };
}

/**
 * Populated tile ranges for every level, index = level (0 .. tileLevels). Coarser levels
 * halve the deepest ranges: a parent exists exactly when one of its children does.
 */
export function tileRanges(width: number, height: number): TileRange[] {
  const t = studyTiling(width, height);
  const deepest: TileRange = {
    x0: Math.floor(t.imageX0 / TILE_SIZE),
    x1: Math.floor((t.imageX0 + width - 1) / TILE_SIZE),
    y0: Math.floor(t.imageY0 / TILE_SIZE),
    y1: Math.floor((t.imageY0 + height - 1) / TILE_SIZE),
  };
  const ranges: TileRange[] = new Array(t.tileLevels + 1);
  for (let level = t.tileLevels; level >= 0; level--) {
    const s = t.tileLevels - level;
    ranges[level] = { x0: deepest.x0 >> s, x1: deepest.x1 >> s, y0: deepest.y0 >> s, y1: deepest.y1 >> s };
  }
  return ranges;
}

/** Overlap rectangles of the populated deepest-level tiles, columns fastest within each row. */
export function deepestLevelTiles(width: number, height: number): TileOverlap[] {
  const t = studyTiling(width, height);
  const r = tileRanges(width, height)[t.tileLevels];
  const out: TileOverlap[] = [];
  for (let ty = r.y0; ty <= r.y1; ty++) {
    const gy0 = Math.max(ty * TILE_SIZE, t.imageY0);
    const gy1 = Math.min((ty + 1) * TILE_SIZE, t.imageY0 + height);
    for (let tx = r.x0; tx <= r.x1; tx++) {
      const gx0 = Math.max(tx * TILE_SIZE, t.imageX0);
      const gx1 = Math.min((tx + 1) * TILE_SIZE, t.imageX0 + width);
      out.push({
        level: t.tileLevels,
        x: tx,
        y: ty,
        width: gx1 - gx0,
        height: gy1 - gy0,
        imageX: gx0 - t.imageX0,
        imageY: gy0 - t.imageY0,
        tileX: gx0 - tx * TILE_SIZE,
        tileY: gy0 - ty * TILE_SIZE,
      });
    }
  }
  return out;
}

/** Populated tiles per level as `[x, y]`, sorted by x then y (the vectors' order). */
export function tilesPerLevel(width: number, height: number): Map<number, Array<[number, number]>> {
  const out = new Map<number, Array<[number, number]>>();
  tileRanges(width, height).forEach((r, level) => {
    const tiles: Array<[number, number]> = [];
    for (let x = r.x0; x <= r.x1; x++) for (let y = r.y0; y <= r.y1; y++) tiles.push([x, y]);
    out.set(level, tiles);
  });
  return out;
}

/** Total number of tiles a fully opaque image of this size produces. */
export function totalTileCount(width: number, height: number): number {
  return tileRanges(width, height).reduce((n, r) => n + (r.x1 - r.x0 + 1) * (r.y1 - r.y0 + 1), 0);
}
