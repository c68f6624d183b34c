/**
 * Study tile pyramid writer and the untiled `image.jpg` for images too small to tile.
 *
 * Memory stays flat whatever the image size: libvips decodes the image once, already padded
 * to the populated tile rows/columns, into an uncompressed scratch file (libvips' own `.v`
 * format: a 64-byte header, then RGBA rows). The pyramid is then built one 256-row strip at a
 * time: each deepest strip's tiles are PNG-encoded (several at once on sharp's threads) and
 * the strip is shrunk 2x2 into the next coarser level's strip, recursively, so every level
 * streams. Decoding overlaps tiling (the scratch file is read as libvips writes it). Memory is
 * a few strips per level (recycled), e.g. ~230 MB peak RSS for 16000x12000, ~330 MB for
 * 24000x24000; images wider than `MAX_TILED_WIDTH` are refused. The scratch file needs
 * width x height x 4 bytes of disk next to the tiles.
 */
import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ToastyError } from '../util/errors.js';
import { writeFileAtomic } from '../util/fs.js';
import { trackTemporary, untrackTemporary } from '../util/temporaries.js';
import { STUDY_ENCODING, TILE_PNG, type TilePngSettings } from './encoding.js';
import { encodeTile } from './tile-png.js';
import { silentLog, type Log } from '../util/log.js';
import { forEachLimit } from '../util/pool.js';
import { explainDecodeFailure, normalisedImage, type SourceImage } from './image.js';
import { tileFileName } from './study-files.js';
import { studyTiling, tileRanges, totalTileCount, TILE_SIZE, type TileRange } from './tiling.js';

export interface PyramidOptions {
  /** Mirror the image left-right before tiling (mirrored-parity WCS). */
  flipX?: boolean;
  log?: Log;
  /** PNG encodes queued at once (default: twice the libuv pool size, at least 8). */
  concurrency?: number;
  /** zlib settings of the tile PNGs (default: the small, reference-like ones). */
  png?: TilePngSettings;
  /** Folder for the decoded scratch file (default: `outDir`; it is removed afterwards). */
  scratchDir?: string;
  /** Refuse images wider than this many pixels (default `MAX_TILED_WIDTH`). */
  maxWidth?: number;
}

/**
 * Widest image the pyramid accepts. Its memory grows with the width, not the area (each level
 * keeps a few 256-row strips the width of the image): about 4 MB per 1000 px, 370 MB peak at
 * 65536 px here. A 1,000,000 x 1,000 image is within the pixel limit but would need ~5 GB.
 */
export const MAX_TILED_WIDTH = 65_536;

export interface PyramidResult {
  width: number;
  height: number;
  tileLevels: number;
  /** Tiles written (tiles whose alpha is all zero are not written). */
  tileCount: number;
  /** Tile file names in `outDir`, by level, then row, then column. */
  files: string[];
}

const BYTES_PER_PIXEL = 4;
const TILE_ROW_BYTES = TILE_SIZE * BYTES_PER_PIXEL;
/** libvips `.v` files: fixed header, then the pixels, then an XML trailer. */
const VIPS_HEADER_BYTES = 64;
const LITTLE_ENDIAN = os.endianness() === 'LE';

/**
 * Write the 2x2 truncating mean of `src` (RGBA, `srcWidth` px wide, `srcRows` rows, both even)
 * into `dst` (`dstWidth` px wide) from row `dstRow`, column `dstCol`. Per channel including
 * alpha: floor(sum / 4), not premultiplied. With `zeroTransparent`, pixels whose alpha is 0
 * count as (0,0,0,0) whatever their colour, so colour hidden under transparency never shows
 * in coarser levels.
 *
 * Works on whole pixels as 32-bit words: the even and odd bytes are summed in separate 16-bit
 * lanes (4 x 255 fits), shifted right by 2 and masked back into bytes.
 */
export function meanDownsample(
  src: Uint32Array,
  srcWidth: number,
  srcRows: number,
  dst: Uint32Array,
  dstWidth: number,
  dstRow: number,
  dstCol: number,
  zeroTransparent: boolean,
): void {
  const M = 0x00ff00ff;
  for (let y = 0; y < srcRows; y += 2) {
    const top = y * srcWidth;
    const bottom = top + srcWidth;
    let o = (dstRow + (y >> 1)) * dstWidth + dstCol;
    if (!zeroTransparent) {
      for (let x = 0; x < srcWidth; x += 2, o++) {
        const a = src[top + x]!;
        const b = src[top + x + 1]!;
        const c = src[bottom + x]!;
        const d = src[bottom + x + 1]!;
        const lo = (a & M) + (b & M) + (c & M) + (d & M);
        const hi = ((a >>> 8) & M) + ((b >>> 8) & M) + ((c >>> 8) & M) + ((d >>> 8) & M);
        dst[o] = ((lo >>> 2) & M) | (((hi >>> 2) & M) << 8);
      }
    } else {
      for (let x = 0; x < srcWidth; x += 2, o++) {
        let a = src[top + x]!;
        let b = src[top + x + 1]!;
        let c = src[bottom + x]!;
        let d = src[bottom + x + 1]!;
        if (LITTLE_ENDIAN) {
          if (a < 0x1000000) a = 0;
          if (b < 0x1000000) b = 0;
          if (c < 0x1000000) c = 0;
          if (d < 0x1000000) d = 0;
        } else {
          if ((a & 0xff) === 0) a = 0;
          if ((b & 0xff) === 0) b = 0;
          if ((c & 0xff) === 0) c = 0;
          if ((d & 0xff) === 0) d = 0;
        }
        const lo = (a & M) + (b & M) + (c & M) + (d & M);
        const hi = ((a >>> 8) & M) + ((b >>> 8) & M) + ((c >>> 8) & M) + ((d >>> 8) & M);
        dst[o] = ((lo >>> 2) & M) | (((hi >>> 2) & M) << 8);
      }
    }
  }
}

/** True when every alpha byte of the 256x256 tile at byte `offset` of a strip is 0. */
function tileAlphaAllZero(strip: Buffer, stripRowBytes: number, offset: number): boolean {
  for (let y = 0, row = offset + 3; y < TILE_SIZE; y++, row += stripRowBytes) {
    for (let i = row, end = row + TILE_ROW_BYTES; i < end; i += 4) if (strip[i] !== 0) return false;
  }
  return true;
}

interface TilePosition {
  level: number;
  x: number;
  y: number;
}

/** One tile to encode: a 256-pixel-wide column of a strip, and its place in the pyramid. */
interface TileJob extends TilePosition {
  strip: Buffer;
  stripWidth: number;
  column: number;
  /** Call once the tile is encoded (or has failed), so the strip can be recycled. */
  release: () => void;
}

/**
 * Recycles strip buffers. Fresh memory is costly here (page faults, GC of external memory),
 * and at most a few strips per level are alive at once: the one being filled and the ones
 * whose tiles are still being encoded.
 */
class StripPool {
  private readonly free = new Map<number, Buffer[]>();

  take(bytes: number, zeroed: boolean): Buffer {
    const b = this.free.get(bytes)?.pop();
    if (b) return zeroed ? b.fill(0) : b;
    return zeroed ? Buffer.alloc(bytes) : Buffer.allocUnsafe(bytes);
  }

  /**
   * Keep `strip` out of the pool until every user has let go. The caller is the first user
   * (`release` when done); `hold` adds one and returns that user's release. Tiles are cut from
   * their strip by libvips without a copy, so a strip must not change while its tiles encode.
   */
  lease(strip: Buffer): { hold: () => () => void; release: () => void } {
    let users = 1;
    const release = () => {
      if (--users > 0) return;
      const list = this.free.get(strip.length);
      if (list) list.push(strip);
      else this.free.set(strip.length, [strip]);
    };
    return {
      hold: () => {
        users++;
        return release;
      },
      release,
    };
  }
}

/**
 * The strip-by-strip cascade. `push(level, row, strip)` takes one complete 256-row strip of a
 * level (that level's populated columns only, RGBA), yields its tiles for encoding and folds it
 * 2x2 into the parent level's pending strip, which is pushed in turn once both halves are in.
 * A generator, so strips are read and folded only as fast as their tiles are encoded.
 */
class Cascade {
  /** Parent strips being filled, index = level; a zeroed one is taken after each push. */
  private readonly pending: Array<Buffer | null>;

  constructor(
    private readonly ranges: TileRange[],
    /** The source has alpha: skip all-transparent tiles and zero alpha-0 pixels. */
    private readonly withAlpha: boolean,
    readonly pool: StripPool,
  ) {
    this.pending = ranges.map(() => null);
  }

  private stripWidth(level: number): number {
    const r = this.ranges[level]!;
    return (r.x1 - r.x0 + 1) * TILE_SIZE;
  }

  /** Bytes of one strip of the deepest level. */
  deepestStripBytes(): number {
    return this.stripWidth(this.ranges.length - 1) * TILE_SIZE * BYTES_PER_PIXEL;
  }

  *push(level: number, row: number, strip: Buffer): Generator<TileJob> {
    const r = this.ranges[level]!;
    const width = this.stripWidth(level);
    const cols = r.x1 - r.x0 + 1;
    const lease = this.pool.lease(strip);
    for (let i = 0; i < cols; i++) {
      // Opaque sources always have alpha >= 63 somewhere in a populated tile.
      if (this.withAlpha && tileAlphaAllZero(strip, width * BYTES_PER_PIXEL, i * TILE_ROW_BYTES)) continue;
      yield { strip, stripWidth: width, column: i, level, x: r.x0 + i, y: row, release: lease.hold() };
    }
    if (level > 0) yield* this.fold(level, row, strip);
    lease.release();
  }

  /** Shrink `strip` into its half of the parent strip; push the parent when it is complete. */
  private *fold(level: number, row: number, strip: Buffer): Generator<TileJob> {
    const r = this.ranges[level]!;
    const width = this.stripWidth(level);
    const parentLevel = level - 1;
    const parentWidth = this.stripWidth(parentLevel);
    const parent = this.pending[parentLevel] ?? this.pool.take(parentWidth * TILE_SIZE * BYTES_PER_PIXEL, true);
    this.pending[parentLevel] = parent;
    meanDownsample(u32(strip), width, TILE_SIZE, u32(parent), parentWidth, (row & 1) * (TILE_SIZE / 2), (r.x0 & 1) * (TILE_SIZE / 2), this.withAlpha);
    if ((row & 1) === 1 || row === r.y1) {
      this.pending[parentLevel] = null;
      yield* this.push(parentLevel, row >> 1, parent);
    }
  }
}

/** The decoder (libvips writing the scratch file) failed; `cause` is its raw error. */
class DecoderFailed extends Error {
  constructor(readonly reason: unknown) {
    super('decoder failed');
  }
}

function u32(b: Buffer): Uint32Array {
  return new Uint32Array(b.buffer, b.byteOffset, b.byteLength >> 2);
}

/**
 * Reads a file that libvips is still writing, front to back: a read waits until the bytes
 * exist. libvips writes `.v` files sequentially (header, then rows top to bottom), so tiling
 * can start while the decoder is still running.
 */
class GrowingFile {
  private fh: fsp.FileHandle | null = null;
  private finished = false;
  private failure: unknown = null;

  constructor(
    private readonly file: string,
    writer: Promise<unknown>,
  ) {
    writer.then(
      () => (this.finished = true),
      (e: unknown) => {
        this.failure = e;
        this.finished = true;
      },
    );
  }

  async read(buf: Buffer, position: number): Promise<void> {
    const end = position + buf.length;
    for (let wait = 2; ; wait = Math.min(wait * 2, 50)) {
      if (this.failure !== null) throw new DecoderFailed(this.failure);
      const finished = this.finished;
      this.fh ??= await fsp.open(this.file, 'r').catch((e: NodeJS.ErrnoException) => {
        if (e.code === 'ENOENT') return null;
        throw e;
      });
      const size = this.fh ? (await this.fh.stat()).size : 0;
      if (size >= end) break;
      if (finished) {
        if (this.failure !== null) throw new DecoderFailed(this.failure);
        throw new ToastyError('internal', `decoded scratch file is ${size} bytes, expected at least ${end}`);
      }
      await new Promise((r) => setTimeout(r, wait));
    }
    let done = 0;
    while (done < buf.length) {
      const { bytesRead } = await this.fh!.read(buf, done, buf.length - done, position + done);
      if (bytesRead === 0) throw new ToastyError('internal', `decoded scratch file ended early at byte ${position + done}`);
      done += bytesRead;
    }
  }

  async close(): Promise<void> {
    await this.fh?.close();
    this.fh = null;
  }
}

/**
 * Tiles in flight: enough to keep every libuv worker (sharp's threads) busy while the main
 * thread shrinks a strip, i.e. about twice the pool size.
 */
function defaultConcurrency(): number {
  const pool = Number(process.env.UV_THREADPOOL_SIZE) || 4;
  return Math.max(8, 2 * pool);
}

/**
 * Write the study tile pyramid of `image` into `outDir` as flat RGBA PNG tiles (names from
 * `tileFileName`): the image floor-centred in its padded power-of-two square, only populated
 * tiles, transparent outside, coarser levels by the truncating 2x2 mean, tiles whose alpha is
 * all zero left out.
 */
export async function writeStudyPyramid(image: SourceImage, outDir: string, opts: PyramidOptions = {}): Promise<PyramidResult> {
  const log = opts.log ?? silentLog;
  const png = opts.png ?? TILE_PNG.small;
  const concurrency = opts.concurrency ?? defaultConcurrency();
  const { width, height } = image;
  const maxWidth = opts.maxWidth ?? MAX_TILED_WIDTH;
  if (width > maxWidth) {
    throw new ToastyError(
      'image',
      `image is ${width} px wide (${width}x${height}), above the width limit of ${maxWidth} px for tiling: memory grows with the width`,
      {
        field: 'width',
      },
    );
  }
  const tiling = studyTiling(width, height);
  const ranges = tileRanges(width, height);
  const deep = ranges[tiling.tileLevels]!;
  const cols = deep.x1 - deep.x0 + 1;
  const rows = deep.y1 - deep.y0 + 1;
  const padLeft = tiling.imageX0 - deep.x0 * TILE_SIZE;
  const padTop = tiling.imageY0 - deep.y0 * TILE_SIZE;
  const stripWidth = cols * TILE_SIZE;

  await fsp.mkdir(outDir, { recursive: true });
  // The pid in the name lets a later run remove the file if this process is killed.
  const scratch = path.join(opts.scratchDir ?? outDir, `.decoded-${process.pid}-${randomBytes(4).toString('hex')}.v`);
  trackTemporary(scratch);
  log.debug(`pyramid ${width}x${height}: ${tiling.tileLevels + 1} levels, deepest ${cols}x${rows} tiles`);
  const progress = log.progress('tiles', totalTileCount(width, height));
  const written: TilePosition[] = [];
  const encode = async (t: TileJob) => {
    try {
      await fsp.writeFile(path.join(outDir, tileFileName(t.level, t.x, t.y)), await encodeTile(t.strip, t.stripWidth, t.column, png));
    } catch (e) {
      throw new ToastyError('storage', `cannot write tile in ${outDir}: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
    } finally {
      t.release();
    }
    written.push({ level: t.level, x: t.x, y: t.y });
    progress.tick();
  };
  // Decode once, padded to whole populated tiles with transparent black, into the scratch file.
  const decoding = normalisedImage(image, { flipX: opts.flipX })
    .ensureAlpha()
    .extend({
      left: padLeft,
      top: padTop,
      right: stripWidth - padLeft - width,
      bottom: rows * TILE_SIZE - padTop - height,
      background: { r: 0, g: 0, b: 0, alpha: 0 },
    })
    .toFile(scratch);
  const source = new GrowingFile(scratch, decoding);
  const cascade = new Cascade(ranges, image.hasAlpha, new StripPool());
  async function* tiles(): AsyncGenerator<TileJob> {
    await checkScratchHeader(source, stripWidth, rows * TILE_SIZE);
    const stripBytes = cascade.deepestStripBytes();
    for (let i = 0; i < rows; i++) {
      const strip = cascade.pool.take(stripBytes, false);
      await source.read(strip, VIPS_HEADER_BYTES + i * stripBytes);
      yield* cascade.push(tiling.tileLevels, deep.y0 + i, strip);
    }
  }
  try {
    // Returns only once no tile is being written any more, also when one failed.
    await forEachLimit(tiles(), concurrency, encode);
    await decoding.catch((e: unknown) => {
      throw new DecoderFailed(e);
    });
    const files = sortTiles(written).map((t) => tileFileName(t.level, t.x, t.y));
    return { width, height, tileLevels: tiling.tileLevels, tileCount: files.length, files };
  } catch (e) {
    if (!(e instanceof DecoderFailed)) throw e;
    throw await explainDecodeFailure(image, e.reason, { flipX: opts.flipX });
  } finally {
    // Nothing may still be writing when we return: the decoder neither.
    await decoding.catch(() => {});
    await source.close();
    progress.done();
    await fsp.rm(scratch, { force: true });
    untrackTemporary(scratch);
  }
}

/** Guard against a libvips that writes `.v` files differently: RGBA uchar of the expected size. */
async function checkScratchHeader(source: GrowingFile, width: number, height: number): Promise<void> {
  const head = Buffer.alloc(VIPS_HEADER_BYTES);
  await source.read(head, 0);
  const le = head.readUInt32LE(0) === 0x08f2a6b6;
  const be = head.readUInt32BE(0) === 0x08f2a6b6;
  const int = (o: number) => (le ? head.readInt32LE(o) : head.readInt32BE(o));
  const ok = (le || be) && int(4) === width && int(8) === height && int(12) === 4 && int(20) === 0 && int(24) === 0;
  if (!ok) {
    throw new ToastyError('internal', `unexpected decoded scratch layout (want ${width}x${height} RGBA uchar, header ${head.subarray(0, 28).toString('hex')})`);
  }
}

/** By level, then row, then column. */
function sortTiles(tiles: TilePosition[]): TilePosition[] {
  return [...tiles].sort((a, b) => a.level - b.level || a.y - b.y || a.x - b.x);
}

export interface UntiledOptions {
  flipX?: boolean;
  /** JPEG quality (default: the study encoding's). */
  quality?: number;
}

/**
 * Write a small (untiled) image as one JPEG: decoded pixels re-encoded, normalised
 * like the tiles, alpha dropped (not composited), written atomically.
 */
export async function writeUntiledImage(image: SourceImage, outPath: string, opts: UntiledOptions = {}): Promise<{ width: number; height: number }> {
  let jpeg: Buffer;
  try {
    jpeg = await normalisedImage(image, { flipX: opts.flipX })
      .removeAlpha()
      .jpeg({ quality: opts.quality ?? STUDY_ENCODING.untiledJpeg.quality })
      .toBuffer();
  } catch (e) {
    throw await explainDecodeFailure(image, e, { flipX: opts.flipX });
  }
  await writeFileAtomic(outPath, jpeg);
  return { width: image.width, height: image.height };
}
