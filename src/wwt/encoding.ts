/**
 * How a study's pixel files are encoded. One home for these settings: the writers use them,
 * and the tile rule's key includes them, so changing any of them re-tiles (and says why).
 */

/** zlib settings of the tile PNGs. Tiles are served for years: size wins by default. */
export interface TilePngSettings {
  compressionLevel: number;
  /** libpng's adaptive row filters: smaller files for photographic content, slower. */
  adaptiveFiltering: boolean;
}

export const TILE_PNG = {
  /** The reference pipeline's zlib settings (level 6, adaptive filters). */
  small: { compressionLevel: 6, adaptiveFiltering: true },
  /** Speed over size (`--fast-tiles`): about 1.6x the bytes, written about twice as fast. */
  fast: { compressionLevel: 2, adaptiveFiltering: false },
} as const satisfies Record<string, TilePngSettings>;

export type TilePngMode = keyof typeof TILE_PNG;

export const STUDY_ENCODING = {
  /**
   * Tile PNGs, beyond zlib: a fully opaque tile is written without its alpha channel (same
   * pixels once decoded, about 10% fewer bytes) and no pHYs chunk (WWT ignores it).
   */
  tilePng: { ...TILE_PNG.small, opaqueAsRgb: true, physChunk: false },
  /** image.jpg of an untiled study. */
  untiledJpeg: { quality: 90 },
  /** thumb.jpg, resampled with Lanczos-3. */
  thumbJpeg: { quality: 90, kernel: 'lanczos3' },
} as const;

/** The encoding as the tile key sees it, for one PNG mode. */
export function studyEncoding(mode: TilePngMode = 'small') {
  return { ...STUDY_ENCODING, tilePng: { ...STUDY_ENCODING.tilePng, ...TILE_PNG[mode] } };
}
