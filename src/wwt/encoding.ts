/**
 * How a study's pixel files are encoded. One home for these settings: the writers use them,
 * and the tile rule's key includes them, so changing any of them re-tiles (and says why).
 */
export const STUDY_ENCODING = {
  /** Tile PNGs: fast zlib, no row filters (the speed/size trade-off is measured in bench/). */
  tilePng: { compressionLevel: 2, adaptiveFiltering: false, palette: false },
  /** image.jpg of an untiled study. */
  untiledJpeg: { quality: 90 },
  /** thumb.jpg, resampled with Lanczos-3. */
  thumbJpeg: { quality: 90, kernel: 'lanczos3' },
} as const;
