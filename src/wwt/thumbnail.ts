/**
 * Study thumbnails: centre-crop to the 96:45 aspect, shrink to fit 96x45 (never
 * enlarge), JPEG RGB. The crop box and final size are normative and follow the reference's
 * float arithmetic, including Python's round-half-to-even; the resampling is not.
 */
import { ToastyError } from '../util/errors.js';
import { writeFileAtomic } from '../util/fs.js';
import { STUDY_ENCODING } from './encoding.js';
import { explainDecodeFailure, normalisedImage, type SourceImage } from './image.js';

export const THUMB_WIDTH = 96;
export const THUMB_HEIGHT = 45;

/** Python 3 `round(x)`: nearest integer, ties to even (JS Math.round ties up). */
export function roundHalfEven(x: number): number {
  const f = Math.floor(x);
  const d = x - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

export interface ThumbnailGeometry {
  /** Crop box in source pixels: left, top, right, bottom (right/bottom exclusive). */
  crop: [number, number, number, number];
  /** Final thumbnail size [width, height]. */
  size: [number, number];
}

/** Pick floor or ceil of `n`, whichever `closeness` scores lower (floor on a tie), at least 1. */
function roundAspect(n: number, closeness: (k: number) => number): number {
  const lo = Math.floor(n);
  const hi = Math.ceil(n);
  return Math.max(closeness(hi) < closeness(lo) ? hi : lo, 1);
}

/**
 * Crop box and output size for a W x H image. Degenerate crops (a 1x1 image gives a
 * zero-height crop in the reference) are clamped to at least 1 pixel.
 */
export function thumbnailGeometry(width: number, height: number): ThumbnailGeometry {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new ToastyError('image', `cannot make a thumbnail of a ${width}x${height} image`);
  }
  const aspect = THUMB_WIDTH / THUMB_HEIGHT;
  let crop: [number, number, number, number];
  if (width / height > aspect) {
    const cw = Math.min(width, Math.max(1, roundHalfEven(height * aspect)));
    const dx = Math.floor((width - cw) / 2);
    crop = [dx, 0, dx + cw, height];
  } else {
    const ch = Math.min(height, Math.max(1, roundHalfEven(width / aspect)));
    const dy = Math.floor((height - ch) / 2);
    crop = [0, dy, width, dy + ch];
  }
  const cw = crop[2] - crop[0];
  const ch = crop[3] - crop[1];
  let size: [number, number] = [cw, ch];
  if (cw > THUMB_WIDTH || ch > THUMB_HEIGHT) {
    // Fit inside the box keeping the crop's aspect, like Pillow's Image.thumbnail.
    const a = cw / ch;
    if (THUMB_WIDTH / THUMB_HEIGHT >= a) {
      size = [roundAspect(THUMB_HEIGHT * a, (k) => Math.abs(a - k / THUMB_HEIGHT)), THUMB_HEIGHT];
    } else {
      size = [THUMB_WIDTH, roundAspect(THUMB_WIDTH / a, (k) => (k === 0 ? 0 : Math.abs(a - THUMB_WIDTH / k)))];
    }
  }
  return { crop, size };
}

export interface ThumbnailOptions {
  /** Mirror left-right first (same flop as the tiles), then crop. */
  flipX?: boolean;
  quality?: number;
}

/** Write `thumb.jpg` (or any `outPath`) for `image`, atomically. Returns the geometry used. */
export async function writeThumbnail(image: SourceImage, outPath: string, opts: ThumbnailOptions = {}): Promise<ThumbnailGeometry> {
  const geometry = thumbnailGeometry(image.width, image.height);
  const [left, top, right, bottom] = geometry.crop;
  // sharp extracts before it flops, so crop the mirror-image box of the unflipped pixels.
  const srcLeft = opts.flipX ? image.width - right : left;
  let jpeg: Buffer;
  try {
    jpeg = await normalisedImage(image, { flipX: opts.flipX })
      .extract({ left: srcLeft, top, width: right - left, height: bottom - top })
      .resize(geometry.size[0], geometry.size[1], { fit: 'fill', kernel: STUDY_ENCODING.thumbJpeg.kernel })
      .removeAlpha()
      .jpeg({ quality: opts.quality ?? STUDY_ENCODING.thumbJpeg.quality })
      .toBuffer();
  } catch (e) {
    throw await explainDecodeFailure(image, e, { flipX: opts.flipX });
  }
  await writeFileAtomic(outPath, jpeg);
  return geometry;
}
