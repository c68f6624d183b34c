// Pixel fixtures for the study pyramid tests: the vectors' synthetic formulas, temp folders,
// decoded-tile hashes, and a deliberately plain (whole-canvas, per-channel) re-implementation
// of spec sections 1-2 to compare the streaming writer against.
import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';

export type Formula = 'A' | 'B';

/** RGB pixels of the vectors' `about.pixel_formulas`. */
export function formulaPixels(formula: Formula, width: number, height: number): Buffer {
  const out = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const o = (y * width + x) * 3;
      if (formula === 'A') {
        out[o] = x % 256;
        out[o + 1] = y % 256;
        out[o + 2] = (x + 2 * y) % 256;
      } else {
        out[o] = (3 * x + 5 * y) % 256;
        out[o + 1] = (x * y) % 256;
        out[o + 2] = 255 - (x % 256);
      }
    }
  }
  return out;
}

/** Lossless PNG of raw pixels. */
export function rawToPng(raw: Buffer, width: number, height: number, channels: 1 | 2 | 3 | 4): Promise<Buffer> {
  return sharp(raw, { raw: { width, height, channels } }).png().toBuffer();
}

export async function tempDir(prefix: string): Promise<string> {
  return fsp.mkdtemp(path.join(os.tmpdir(), `toasty-${prefix}-`));
}

export const rmDir = (dir: string) => fsp.rm(dir, { recursive: true, force: true });

/** A decoded PNG tile as raw 256x256x4 RGBA, asserting its stored format on the way. */
export async function decodeTile(file: string): Promise<{ rgba: Buffer; channels: number; width: number; height: number; format: string }> {
  const meta = await sharp(file).metadata();
  const rgba = await sharp(file).ensureAlpha().raw().toBuffer();
  return { rgba, channels: meta.channels, width: meta.width, height: meta.height, format: meta.format };
}

export const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/** Hash of every decoded tile in a folder (only `L*.png`), by file name. */
export async function tileHashes(dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const name of (await fsp.readdir(dir)).filter((n) => /^L\d+X\d+Y\d+\.png$/.test(n)).sort()) {
    out.set(name, sha256((await decodeTile(path.join(dir, name))).rgba));
  }
  return out;
}

/**
 * Spec 1-2 the slow, obvious way: paste the RGBA image into a transparent P x P canvas at
 * floor-centred offsets, cut 256 px tiles, halve the canvas by the truncating mean (alpha-0
 * pixels count as 0), repeat to one tile. A tile is kept when any alpha is non-zero.
 * Returns tile name -> raw RGBA. Small images only (the canvas is P*P*4 bytes).
 */
export function referencePyramid(rgba: Buffer, width: number, height: number): Map<string, Buffer> {
  let side = 256;
  while (side < width || side < height) side *= 2;
  const x0 = Math.floor((side - width) / 2);
  const y0 = Math.floor((side - height) / 2);
  let level = Math.log2(side / 256);
  let canvas = Buffer.alloc(side * side * 4);
  for (let y = 0; y < height; y++) {
    rgba.copy(canvas, ((y + y0) * side + x0) * 4, y * width * 4, (y + 1) * width * 4);
  }
  const tiles = new Map<string, Buffer>();
  for (;;) {
    const n = side / 256;
    for (let ty = 0; ty < n; ty++) {
      for (let tx = 0; tx < n; tx++) {
        const tile = Buffer.alloc(256 * 256 * 4);
        for (let r = 0; r < 256; r++) {
          const src = ((ty * 256 + r) * side + tx * 256) * 4;
          canvas.copy(tile, r * 1024, src, src + 1024);
        }
        let any = false;
        for (let i = 3; i < tile.length && !any; i += 4) any = tile[i] !== 0;
        if (any) tiles.set(`L${level}X${tx}Y${ty}.png`, tile);
      }
    }
    if (level === 0) return tiles;
    const half = side / 2;
    const next = Buffer.alloc(half * half * 4);
    const at = (x: number, y: number, ch: number) => {
      const o = (y * side + x) * 4;
      return canvas[o + 3] === 0 ? 0 : canvas[o + ch]!;
    };
    for (let y = 0; y < half; y++) {
      for (let x = 0; x < half; x++) {
        for (let ch = 0; ch < 4; ch++) {
          const s = at(2 * x, 2 * y, ch) + at(2 * x + 1, 2 * y, ch) + at(2 * x, 2 * y + 1, ch) + at(2 * x + 1, 2 * y + 1, ch);
          next[(y * half + x) * 4 + ch] = Math.floor(s / 4);
        }
      }
    }
    canvas = next;
    side = half;
    level--;
  }
}

/** RGB -> RGBA with alpha 255. */
export function withOpaqueAlpha(rgb: Buffer): Buffer {
  const out = Buffer.alloc((rgb.length / 3) * 4);
  for (let i = 0, j = 0; i < rgb.length; i += 3, j += 4) {
    out[j] = rgb[i]!;
    out[j + 1] = rgb[i + 1]!;
    out[j + 2] = rgb[i + 2]!;
    out[j + 3] = 255;
  }
  return out;
}

/** Mirror raw pixels left-right. */
export function flopRaw(raw: Buffer, width: number, height: number, channels: number): Buffer {
  const out = Buffer.alloc(raw.length);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      raw.copy(out, (y * width + (width - 1 - x)) * channels, (y * width + x) * channels, (y * width + x + 1) * channels);
    }
  }
  return out;
}

/** Patch the size in a baseline/progressive JPEG's SOF header (a header that lies). */
export function patchJpegSize(jpeg: Buffer, width: number, height: number): Buffer {
  const out = Buffer.from(jpeg);
  for (let i = 2; i < out.length - 9; ) {
    if (out[i] !== 0xff) throw new Error('not at a JPEG marker');
    const marker = out[i + 1]!;
    const len = out.readUInt16BE(i + 2);
    if (marker >= 0xc0 && marker <= 0xc3) {
      out.writeUInt16BE(height, i + 5);
      out.writeUInt16BE(width, i + 7);
      return out;
    }
    i += 2 + len;
  }
  throw new Error('no SOF marker');
}

/** Patch the size in a PNG's IHDR (and its CRC), leaving the tiny IDAT as it is. */
export function patchPngSize(png: Buffer, width: number, height: number): Buffer {
  const out = Buffer.from(png);
  // Signature (8) + IHDR length (4) + "IHDR" (4): width and height follow.
  if (out.toString('latin1', 12, 16) !== 'IHDR') throw new Error('no IHDR');
  out.writeUInt32BE(width, 16);
  out.writeUInt32BE(height, 20);
  out.writeUInt32BE(crc32(out.subarray(12, 29)), 29);
  return out;
}

function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  }
  return (c ^ 0xffffffff) >>> 0;
}

/** A minimal uncompressed greyscale TIFF with 32-bit float samples (sharp cannot write one). */
export function floatGreyTiff(width: number, height: number, value = 0.5): Buffer {
  const tags: Array<[tag: number, type: number, value: number]> = [
    [256, 3, width], // ImageWidth, SHORT
    [257, 3, height], // ImageLength
    [258, 3, 32], // BitsPerSample
    [259, 3, 1], // Compression: none
    [262, 3, 1], // Photometric: min-is-black
    [273, 4, 0], // StripOffsets, LONG (patched below)
    [277, 3, 1], // SamplesPerPixel
    [278, 3, height], // RowsPerStrip
    [279, 4, width * height * 4], // StripByteCounts
    [339, 3, 3], // SampleFormat: IEEE float
  ];
  const ifdOffset = 8;
  const ifdBytes = 2 + tags.length * 12 + 4;
  const dataOffset = ifdOffset + ifdBytes;
  const out = Buffer.alloc(dataOffset + width * height * 4);
  out.write('II', 0, 'latin1');
  out.writeUInt16LE(42, 2);
  out.writeUInt32LE(ifdOffset, 4);
  out.writeUInt16LE(tags.length, ifdOffset);
  tags.forEach(([tag, type, value], i) => {
    const o = ifdOffset + 2 + i * 12;
    out.writeUInt16LE(tag, o);
    out.writeUInt16LE(type, o + 2);
    out.writeUInt32LE(1, o + 4);
    const v = tag === 273 ? dataOffset : value;
    if (type === 3) out.writeUInt16LE(v, o + 8);
    else out.writeUInt32LE(v, o + 8);
  });
  for (let i = 0; i < width * height; i++) out.writeFloatLE(value, dataOffset + i * 4);
  return out;
}
