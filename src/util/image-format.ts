/**
 * The image formats toasty accepts, told apart by their first bytes. Pure (no decoder), so the
 * downloader can check a body as it arrives and the image probe can refuse a file before
 * libvips sees it.
 */

export type ImageFormat = 'jpeg' | 'png' | 'tiff';

/** Bytes `sniffImageFormat` and `describeNonImage` need at most. */
export const SNIFF_BYTES = 64;

/** The accepted format whose magic number `head` starts with, or null. */
export function sniffImageFormat(head: Uint8Array): ImageFormat | null {
  const b = head;
  if (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return 'jpeg';
  const png = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
  if (b.length >= 8 && png.every((v, i) => b[i] === v)) return 'png';
  if (b.length >= 4) {
    // Classic TIFF (42) and BigTIFF (43), little- and big-endian.
    if (b[0] === 0x49 && b[1] === 0x49 && (b[2] === 0x2a || b[2] === 0x2b) && b[3] === 0x00) return 'tiff';
    if (b[0] === 0x4d && b[1] === 0x4d && b[2] === 0x00 && (b[3] === 0x2a || b[3] === 0x2b)) return 'tiff';
  }
  return null;
}

/**
 * What bytes that are not an accepted image look like (`GIF`, `HTML (an error page instead of
 * an image?)`, `text`...), so a refusal can say more than "unsupported".
 */
export function describeNonImage(head: Uint8Array): string {
  const b = (i: number) => head[i] ?? -1;
  const ascii = (from: number, to: number) => String.fromCharCode(...head.subarray(from, to));
  if (ascii(0, 4) === 'GIF8') return 'GIF';
  if (ascii(0, 4) === 'RIFF' && ascii(8, 12) === 'WEBP') return 'WebP';
  if (ascii(4, 8) === 'ftyp') return 'HEIF/AVIF';
  if (ascii(0, 2) === 'BM') return 'BMP';
  if (ascii(0, 9) === 'SIMPLE  =') return 'FITS';
  if (b(0) === 0 && b(1) === 0 && b(2) === 0 && b(3) === 0x0c && ascii(4, 8) === 'jP  ') return 'JPEG 2000';
  if (b(0) === 0xff && b(1) === 0x4f && b(2) === 0xff && b(3) === 0x51) return 'JPEG 2000 codestream';
  if (b(0) === 0x25 && ascii(1, 4) === 'PDF') return 'PDF';
  // Bytes read one per character, so a UTF-8 byte-order mark shows as the three chars EF BB BF.
  const text = ascii(0, Math.min(head.length, SNIFF_BYTES))
    .replace(/^\u00ef\u00bb\u00bf/, '')
    .trimStart()
    .toLowerCase();
  if (text.startsWith('<!doctype html') || text.startsWith('<html') || text.startsWith('<head') || text.startsWith('<body')) {
    return 'HTML (an error page instead of an image?)';
  }
  if (text.startsWith('<?xml') || text.startsWith('<svg')) return 'XML/SVG';
  if (head.length > 0 && head.every((c) => c === 9 || c === 10 || c === 13 || (c >= 32 && c < 127))) return 'text';
  return 'unrecognised data';
}
