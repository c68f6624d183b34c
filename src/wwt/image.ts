/**
 * Opening source images: a header-only probe that refuses what the study pipeline cannot or
 * should not decode and returns the `SourceImage` every writer takes, and the one sharp
 * pipeline every pixel writer starts from.
 *
 * Rules that matter for WWT: pixels are used as stored (EXIF orientation is never applied,
 * because the AstroPix WCS refers to the stored grid); everything becomes 8-bit sRGB, with
 * alpha kept when the source has it.
 */
import { promises as fsp } from 'node:fs';
import sharp, { type Metadata, type Sharp } from 'sharp';
import { ToastyError } from '../util/errors.js';
import { describeNonImage, sniffImageFormat, SNIFF_BYTES, type ImageFormat } from '../util/image-format.js';

/** Refuse images with more pixels than this unless told otherwise (24000x24000 fits). */
export { DEFAULT_MAX_PIXELS } from './limits.js';
import { DEFAULT_MAX_PIXELS } from './limits.js';

export interface ImageInfo {
  width: number;
  height: number;
  format: ImageFormat;
  /** Channels as stored (1 grey, 2 grey+alpha, 3 RGB, 4 RGBA or CMYK, ...). */
  channels: number;
  hasAlpha: boolean;
  /** Bits per sample as stored (8 or 16 typically; palette PNGs may report 1-8). */
  bitDepth: number;
  /** Colour space as stored, in libvips terms (`srgb`, `b-w`, `cmyk`, `rgb16`...). */
  space: string;
  isPalette: boolean;
  hasIccProfile: boolean;
  /** Pages in the file (multi-page TIFF); only `page` is used. */
  pages: number;
  /** The page that is used: always 0. */
  page: 0;
  /** EXIF orientation tag if present. Reported only: it is deliberately not applied. */
  exifOrientation?: number;
  /** The XMP packet as stored, if any (where observatories embed AVM). */
  xmp?: Buffer;
  /** Human-readable remarks (page choice, ignored orientation, conversions). */
  notes: string[];
}

/**
 * An image opened for the study writers: what the header probe found, plus what was opened and
 * under which pixel limit. The writers take this object instead of a path and options of their
 * own, so every decode of one study reads the same input under the same limit.
 */
export interface SourceImage extends ImageInfo {
  /** The file path or bytes that were probed. */
  readonly input: string | Buffer;
  /** The limit the header was checked against; every decode of this image enforces it too. */
  readonly maxPixels: number;
}

export interface OpenImageOptions {
  /** Refuse images whose header declares more pixels than this (default 1e9). */
  maxPixels?: number;
  /**
   * Also decode every pixel once (streaming, little memory) so truncated or corrupt data is
   * reported here rather than by the writer. Costs one full decode; default false.
   */
  verify?: boolean;
}

/**
 * Which decoder problems abort: 'error' fails on truncated files and hard decode errors but
 * tolerates the harmless warnings real-world files often carry (extra bytes before a marker,
 * PNG ancillary-chunk complaints). 'none' would turn a truncated JPEG into grey rows.
 */
export const FAIL_ON = 'error' as const;

function imageError(message: string, cause?: unknown): ToastyError {
  return new ToastyError('image', message, cause === undefined ? {} : { cause });
}

async function readHead(input: string | Buffer): Promise<Uint8Array> {
  if (Buffer.isBuffer(input)) {
    if (input.length === 0) throw imageError('image is empty (0 bytes)');
    return input.subarray(0, SNIFF_BYTES);
  }
  let fh: fsp.FileHandle;
  try {
    fh = await fsp.open(input, 'r');
  } catch (e) {
    throw imageError(`cannot read image file ${input}: ${(e as Error).message}`, e);
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw imageError(`image path is not a file: ${input}`);
    if (st.size === 0) throw imageError(`image file is empty (0 bytes): ${input}`);
    const head = Buffer.alloc(SNIFF_BYTES);
    const { bytesRead } = await fh.read(head, 0, head.length, 0);
    return head.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

const BIT_DEPTH: Record<string, number> = { uchar: 8, char: 8, ushort: 16, short: 16, uint: 32, int: 32, float: 32, double: 64 };

/** Turn a sharp/libvips failure into a curator-readable 'image' error. */
export function decodeError(e: unknown, what = 'image'): ToastyError {
  if (e instanceof ToastyError) return e;
  const raw = e instanceof Error ? e.message : String(e);
  const msg = raw.split('\n')[0]!.trim();
  if (/premature end|truncat|read error|unexpected end|not enough data|short read|out of data/i.test(raw)) {
    return imageError(`${what} data is truncated or corrupt (${msg})`, e);
  }
  if (/pixel limit/i.test(raw)) return imageError(`${what} is too large to decode (${msg})`, e);
  if (/unsupported image format/i.test(raw)) return imageError(`${what} is not in a supported format (${msg})`, e);
  return imageError(`cannot decode ${what}: ${msg}`, e);
}

/**
 * `decodeError` for a failed decode of `image`. libvips keeps one process-wide error buffer,
 * so when other images are being processed at the same time the message can be lost
 * ("Unknown error"); the decode is then repeated alone (streaming, no pixels kept) to recover
 * the real reason.
 */
export async function explainDecodeFailure(image: SourceImage, e: unknown, opts: NormaliseOptions = {}): Promise<ToastyError> {
  if (e instanceof ToastyError) return e;
  const msg = e instanceof Error ? e.message.trim() : String(e);
  if (msg !== '' && !/^unknown error$/i.test(msg)) return decodeError(e);
  try {
    await normalisedImage(image, opts).stats();
  } catch (again) {
    const m = again instanceof Error ? again.message.trim() : '';
    if (m !== '' && !/^unknown error$/i.test(m)) return decodeError(again);
  }
  return decodeError(e);
}

/**
 * Open an image for the writers, probing its header only: size, format and sample layout.
 * Refuses empty files, formats other than JPEG/PNG/TIFF, unreadable headers, and anything
 * declaring more than `maxPixels` pixels, before a single pixel is decoded (a decompression
 * bomb costs nothing).
 */
export async function openImage(input: string | Buffer, opts: OpenImageOptions = {}): Promise<SourceImage> {
  const maxPixels = opts.maxPixels ?? DEFAULT_MAX_PIXELS;
  const head = await readHead(input);
  // Only three decoders ever run, and a refusal names what the file looks like instead.
  const format = sniffImageFormat(head);
  if (!format) throw imageError(`unsupported image format: ${describeNonImage(head)}; only JPEG, PNG and TIFF are accepted`);

  let meta: Metadata;
  try {
    // Header only; the pixel limit is checked below with a clearer message.
    meta = await sharp(input, { limitInputPixels: false, failOn: FAIL_ON }).metadata();
  } catch (e) {
    throw imageError(`unreadable ${format.toUpperCase()} header: ${(e instanceof Error ? e.message : String(e)).split('\n')[0]}`, e);
  }
  if (meta.format !== format) {
    throw imageError(`file looks like ${format.toUpperCase()} but decodes as ${String(meta.format)}`);
  }
  const { width, height } = meta;
  if (!(width > 0 && height > 0)) throw imageError(`image declares an empty size ${width}x${height}`);
  if (width * height > maxPixels) {
    throw imageError(`image declares ${width}x${height} = ${width * height} pixels, above the limit of ${maxPixels}`, undefined);
  }

  if (meta.depth === 'float' || meta.depth === 'double' || meta.depth === 'complex' || meta.depth === 'dpcomplex') {
    throw imageError(`floating-point ${format.toUpperCase()} samples (${meta.depth}) are not supported; export 8- or 16-bit integers`);
  }

  const notes: string[] = [];
  const pages = meta.pages ?? 1;
  if (pages > 1) notes.push(`${pages}-page ${format.toUpperCase()}: using page 0 only`);
  if (meta.orientation !== undefined && meta.orientation !== 1) {
    notes.push(`EXIF orientation ${meta.orientation} ignored: pixels are used as stored`);
  }
  const bitDepth = meta.bitsPerSample ?? BIT_DEPTH[meta.depth] ?? 8;
  if (meta.space !== 'srgb' || bitDepth !== 8 || meta.isPalette) {
    notes.push(`converted from ${meta.space}${meta.isPalette ? ' palette' : ''} ${bitDepth}-bit to 8-bit sRGB`);
  } else if (meta.hasProfile) {
    notes.push('embedded ICC profile converted to sRGB');
  }

  const image: SourceImage = {
    input,
    maxPixels,
    width,
    height,
    format,
    channels: meta.channels,
    hasAlpha: meta.hasAlpha,
    bitDepth,
    space: meta.space,
    isPalette: meta.isPalette,
    hasIccProfile: meta.hasProfile,
    pages,
    page: 0,
    notes,
  };
  if (meta.orientation !== undefined) image.exifOrientation = meta.orientation;
  if (meta.xmp) image.xmp = meta.xmp;

  if (opts.verify) {
    try {
      // stats() pulls every pixel through the decoder without keeping them.
      await normalisedImage(image).stats();
    } catch (e) {
      throw decodeError(e);
    }
  }
  return image;
}

export interface NormaliseOptions {
  /** Mirror left-right (for studies whose WCS has the mirrored parity). */
  flipX?: boolean;
}

/**
 * The sharp pipeline every writer starts from: page 0, stored orientation, optional
 * horizontal flop, 8-bit sRGB (grey, palette, 16-bit and CMYK converted; an embedded ICC
 * profile is converted to sRGB by sharp's default), alpha kept if present. Decoding fails on
 * truncated or corrupt data and on more pixels than the image was opened with.
 */
export function normalisedImage(image: SourceImage, opts: NormaliseOptions = {}): Sharp {
  const { maxPixels } = image;
  let img = sharp(image.input, {
    failOn: FAIL_ON,
    limitInputPixels: Number.isFinite(maxPixels) ? Math.max(1, Math.floor(maxPixels)) : false,
    page: 0,
    pages: 1,
    sequentialRead: true,
    autoOrient: false,
  });
  if (opts.flipX) img = img.flop();
  return img.toColourspace('srgb');
}
