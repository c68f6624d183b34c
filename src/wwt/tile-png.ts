/**
 * One study tile as PNG bytes, cut from a strip of RGBA rows. Lossless tricks that make tiles
 * smaller without changing a decoded pixel: a fully opaque tile drops its alpha channel, and
 * the pHYs chunk libvips adds (a print resolution WWT never reads) is left out.
 */
import sharp from 'sharp';
import type { TilePngSettings } from './encoding.js';

const TILE = 256;

/** The PNG of the tile at `column` of `strip` (`stripWidth` pixels wide, 256 rows, RGBA). */
export async function encodeTile(strip: Buffer, stripWidth: number, column: number, png: TilePngSettings): Promise<Buffer> {
  let s = sharp(strip, { raw: { width: stripWidth, height: TILE, channels: 4 } }).extract({ left: column * TILE, top: 0, width: TILE, height: TILE });
  if (opaque(strip, stripWidth, column)) s = s.removeAlpha();
  const bytes = await s.png({ compressionLevel: png.compressionLevel, adaptiveFiltering: png.adaptiveFiltering, palette: false }).toBuffer();
  return withoutChunk(bytes, 'pHYs');
}

/** Whether every pixel of the tile has alpha 255. */
function opaque(strip: Buffer, stripWidth: number, column: number): boolean {
  const rowBytes = stripWidth * 4;
  const x0 = column * TILE * 4;
  for (let r = 0; r < TILE; r++) {
    const start = r * rowBytes + x0;
    for (let i = start + 3; i < start + TILE * 4; i += 4) if (strip[i] !== 255) return false;
  }
  return true;
}

/** The PNG without its `type` chunks (chunk layout: length, type, data, CRC). */
export function withoutChunk(png: Buffer, type: string): Buffer {
  const parts: Buffer[] = [png.subarray(0, 8)];
  for (let i = 8; i + 8 <= png.length; ) {
    const end = i + 12 + png.readUInt32BE(i);
    if (png.toString('latin1', i + 4, i + 8) !== type) parts.push(png.subarray(i, end));
    i = end;
  }
  return Buffer.concat(parts);
}
