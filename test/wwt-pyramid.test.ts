// Study pixels: tile pyramid (exact against the reference hashes and an independent plain
// implementation), image.jpg, thumb.jpg, and every kind of awkward or hostile input.
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ToastyError } from '../src/util/errors.js';
import { DEFAULT_MAX_PIXELS, openImage } from '../src/wwt/image.js';
import { TILE_PNG } from '../src/wwt/encoding.js';
import { meanDownsample, writeStudyPyramid, writeUntiledImage } from '../src/wwt/pyramid.js';
import { writeThumbnail } from '../src/wwt/thumbnail.js';
import { deepestLevelTiles, tilesPerLevel } from '../src/wwt/tiling.js';
import { TESTDATA } from './helpers/pipeline-fixture.js';
import { loadVectors } from './helpers/vectors.js';
import {
  decodeTile,
  floatGreyTiff,
  flopRaw,
  formulaPixels,
  patchJpegSize,
  patchPngSize,
  rawToPng,
  referencePyramid,
  rmDir,
  sha256,
  tempDir,
  tileHashes,
  withOpaqueAlpha,
  type Formula,
} from './helpers/wwt-pixels.js';

const V = loadVectors();
// The bundled copy of the shared test image (byte-identical), so the test needs nothing outside the repository.
const NGC253 = path.join(TESTDATA, 'NGC253ALMA.jpg');

let work = '';
let seq = 0;
const outDir = () => path.join(work, `out-${++seq}`);

test.before(async () => {
  work = await tempDir('pyramid');
});
test.after(async () => {
  await rmDir(work);
});

async function expectImageError(p: Promise<unknown>, re: RegExp): Promise<ToastyError> {
  try {
    await p;
  } catch (e) {
    assert.instance(e, ToastyError);
    const te = e as ToastyError;
    assert.is(te.code, 'image', te.message);
    assert.ok(re.test(te.message), `${te.message} !~ ${re}`);
    return te;
  }
  assert.unreachable(`expected an image error matching ${re}`);
  throw new Error('unreachable');
}

async function listDir(dir: string): Promise<string[]> {
  try {
    return (await fsp.readdir(dir)).sort();
  } catch {
    return [];
  }
}

/** Writer output vs the plain reference implementation: same files, same decoded pixels. */
async function assertMatchesReference(input: Buffer, rgba: Buffer, width: number, height: number, opts: { flipX?: boolean } = {}) {
  const dir = outDir();
  const res = await writeStudyPyramid(await openImage(input), dir, opts);
  const ref = referencePyramid(rgba, width, height);
  assert.equal([...res.files].sort(), [...ref.keys()].sort(), `${width}x${height} tile set`);
  assert.equal(await listDir(dir), [...ref.keys()].sort(), 'nothing else in the folder');
  for (const [name, tile] of ref) {
    const got = await decodeTile(path.join(dir, name));
    assert.ok(got.rgba.equals(tile), `${width}x${height} ${name} differs from the reference`);
  }
  return res;
}

// ---- exact reference vectors ----

for (const c of V.pyramid_pixel_cases) {
  test(`pyramid_pixel_cases ${c.width}x${c.height} formula ${c.pixel_formula}: files, hashes, samples`, async () => {
    const png = await rawToPng(formulaPixels(c.pixel_formula as Formula, c.width, c.height), c.width, c.height, 3);
    const dir = outDir();
    const res = await writeStudyPyramid(await openImage(png), dir);
    assert.equal(res.files, c.files);
    assert.is(res.tileCount, c.files.length);
    assert.is(res.tileLevels, c.tile_levels);
    assert.equal([res.width, res.height], [c.width, c.height]);
    assert.equal(await listDir(dir), [...c.files].sort());
    const decoded = new Map<string, Buffer>();
    for (const [name, t] of Object.entries<{ sha256_rgba: string; opaque_pixels: number; transparent_pixels: number; partial_alpha_pixels: number }>(c.tiles)) {
      const tile = await decodeTile(path.join(dir, name));
      assert.equal([tile.format, tile.width, tile.height, tile.channels], ['png', 256, 256, 4], `${name} is a 256x256 RGBA PNG`);
      assert.is(sha256(tile.rgba), t.sha256_rgba, `${name} hash`);
      let opaque = 0;
      let transparent = 0;
      for (let i = 3; i < tile.rgba.length; i += 4) {
        if (tile.rgba[i] === 255) opaque++;
        else if (tile.rgba[i] === 0) transparent++;
      }
      assert.equal([opaque, transparent, 65536 - opaque - transparent], [t.opaque_pixels, t.transparent_pixels, t.partial_alpha_pixels], name);
      decoded.set(name, tile.rgba);
    }
    for (const s of c.samples) {
      const o = (s.y * 256 + s.x) * 4;
      assert.equal([...decoded.get(s.file)!.subarray(o, o + 4)], s.rgba, `${s.file} (${s.x},${s.y})`);
    }
  });
}

test('meanDownsample: truncating per-channel mean, alpha-0 pixels count as zero', () => {
  const px = (r: number, g: number, b: number, a: number) => new Uint32Array(new Uint8Array([r, g, b, a]).buffer)[0]!;
  const src = new Uint32Array([px(1, 2, 3, 255), px(2, 2, 255, 255), px(1, 0, 4, 255), px(2, 0, 255, 0)]);
  // 2x2 block laid out as one 2-wide, 2-row source.
  const dst = new Uint32Array(1);
  meanDownsample(src, 2, 2, dst, 1, 0, 0, true);
  assert.equal([...new Uint8Array(dst.buffer)], [1, 1, 65, 191]);
  meanDownsample(src, 2, 2, dst, 1, 0, 0, false);
  assert.equal([...new Uint8Array(dst.buffer)], [1, 1, 129, 191]);
  const white = new Uint32Array(4).fill(0xffffffff);
  meanDownsample(white, 2, 2, dst, 1, 0, 0, true);
  assert.is(dst[0], 0xffffffff);
});

test('independent re-implementation agrees: odd sizes, thin strips, formula B', async () => {
  for (const [w, h, f] of [
    [700, 300, 'B'],
    [257, 1, 'A'],
    [1, 1, 'B'],
    [513, 1030, 'B'],
  ] as const) {
    const rgb = formulaPixels(f, w, h);
    await assertMatchesReference(await rawToPng(rgb, w, h, 3), withOpaqueAlpha(rgb), w, h);
  }
});

test('RGBA source: alpha kept, RGB under alpha 0 kept in deepest tiles, all-transparent tiles skipped', async () => {
  const w = 600;
  const h = 300;
  const rgba = Buffer.alloc(w * h * 4);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const o = (y * w + x) * 4;
      if (x < 300) rgba.set([200, 100, 50, 0], o);
      else rgba.set([x % 256, y % 256, 77, (x * 7 + y * 3) % 256], o);
    }
  }
  const png = await rawToPng(rgba, w, h, 4);
  assert.ok((await openImage(png)).hasAlpha);
  const res = await assertMatchesReference(png, rgba, w, h);
  // P=1024, x0=212: deepest columns 0 and 1 only hold transparent pixels.
  assert.not.ok(res.files.includes('L2X0Y1.png'));
  assert.not.ok(res.files.includes('L2X1Y2.png'));
  assert.ok(res.files.includes('L2X2Y1.png'));
  assert.not.ok(res.files.includes('L1X0Y0.png'), 'a parent of transparent tiles is not written');
  assert.is(res.tileCount, tilesPerLevel(w, h).get(2)!.length - 4 + 2 + 1);
});

test('flipX: tiles of a flopped input with flipX equal the tiles of the original', async () => {
  const w = 301;
  const h = 259;
  const rgb = formulaPixels('B', w, h);
  const original = await rawToPng(rgb, w, h, 3);
  const flopped = await rawToPng(flopRaw(rgb, w, h, 3), w, h, 3);
  const a = outDir();
  const b = outDir();
  const c = outDir();
  await writeStudyPyramid(await openImage(original), a);
  await writeStudyPyramid(await openImage(flopped), b, { flipX: true });
  await writeStudyPyramid(await openImage(flopped), c);
  const ha = await tileHashes(a);
  assert.equal(await tileHashes(b), ha);
  assert.not.equal(await tileHashes(c), ha, 'without flipX the mirrored input gives different tiles');
  // And the flipped pyramid is exactly the reference pyramid of the original pixels.
  await assertMatchesReference(flopped, withOpaqueAlpha(rgb), w, h, { flipX: true });
});

test('real JPEG NGC253ALMA (2166x2129): 157 tiles, level-4 tiles 3..12, pixels placed as decoded', async () => {
  const dir = outDir();
  const res = await writeStudyPyramid(await openImage(NGC253), dir);
  assert.equal([res.width, res.height, res.tileLevels, res.tileCount], [2166, 2129, 4, 157]);
  const names = await listDir(dir);
  assert.is(names.length, 157, 'no scratch or stray files left');
  const expected = [...tilesPerLevel(2166, 2129)].flatMap(([level, tiles]) => tiles.map(([x, y]) => `L${level}X${x}Y${y}.png`));
  assert.equal(names, expected.sort());
  const l4 = res.files
    .filter((n) => n.startsWith('L4X'))
    .map((n) =>
      n
        .match(/X(\d+)Y(\d+)/)!
        .slice(1)
        .map(Number),
    );
  assert.equal([Math.min(...l4.map((t) => t[0]!)), Math.max(...l4.map((t) => t[0]!))], [3, 12]);
  assert.equal([Math.min(...l4.map((t) => t[1]!)), Math.max(...l4.map((t) => t[1]!))], [3, 12]);
  // Every deepest tile holds exactly the decoder's pixels in its overlap, transparent elsewhere.
  const src = await sharp(NGC253).raw().toBuffer();
  for (const t of deepestLevelTiles(2166, 2129).filter((_, i) => i % 7 === 0)) {
    const tile = (await decodeTile(path.join(dir, `L4X${t.x}Y${t.y}.png`))).rgba;
    for (let r = 0; r < 256; r++) {
      for (let c = 0; c < 256; c += 5) {
        const o = (r * 256 + c) * 4;
        const inside = c >= t.tileX && c < t.tileX + t.width && r >= t.tileY && r < t.tileY + t.height;
        if (!inside) {
          assert.equal([...tile.subarray(o, o + 4)], [0, 0, 0, 0], `L4X${t.x}Y${t.y} (${c},${r}) outside`);
          continue;
        }
        const s = ((t.imageY + r - t.tileY) * 2166 + (t.imageX + c - t.tileX)) * 3;
        assert.equal([...tile.subarray(o, o + 4)], [src[s], src[s + 1], src[s + 2], 255], `L4X${t.x}Y${t.y} (${c},${r})`);
      }
    }
  }
  const root = await decodeTile(path.join(dir, 'L0X0Y0.png'));
  assert.equal([root.width, root.height, root.channels], [256, 256, 4]);
});

test('tile PNGs: opaque tiles without alpha, no pHYs chunk, same pixels; smaller than the reference zlib settings; --fast-tiles bigger', async () => {
  const chunks = (png: Buffer) => {
    const types: string[] = [];
    for (let i = 8; i + 8 <= png.length; i += 12 + png.readUInt32BE(i)) types.push(png.toString('latin1', i + 4, i + 8));
    return types;
  };
  const colourType = (png: Buffer) => png[25]; // IHDR: 2 = RGB, 6 = RGBA
  const small = outDir();
  const fast = outDir();
  await writeStudyPyramid(await openImage(NGC253), small);
  await writeStudyPyramid(await openImage(NGC253), fast, { png: TILE_PNG.fast });
  let opaque = 0;
  let partial = 0;
  let sizes = { small: 0, fast: 0, reference: 0 };
  for (const name of await listDir(small)) {
    const a = await fsp.readFile(path.join(small, name));
    const b = await fsp.readFile(path.join(fast, name));
    assert.ok(!chunks(a).includes('pHYs') && !chunks(b).includes('pHYs'), `${name}: no pHYs`);
    const pixels = await decodeTile(path.join(small, name));
    assert.equal((await decodeTile(path.join(fast, name))).rgba, pixels.rgba, `${name}: same pixels either way`);
    let allOpaque = true;
    for (let i = 3; i < pixels.rgba.length; i += 4) if (pixels.rgba[i] !== 255) allOpaque = false;
    assert.is(colourType(a), allOpaque ? 2 : 6, `${name}: RGB exactly when opaque`);
    if (allOpaque) opaque++;
    else partial++;
    // The reference pipeline's encoding of the same pixels: RGBA, zlib 6, adaptive filters.
    const reference = await sharp(pixels.rgba, { raw: { width: 256, height: 256, channels: 4 } })
      .png({ compressionLevel: 6, adaptiveFiltering: true })
      .toBuffer();
    sizes = { small: sizes.small + a.length, fast: sizes.fast + b.length, reference: sizes.reference + reference.length };
  }
  assert.ok(opaque > 0 && partial > 0, `both kinds present (${opaque} opaque, ${partial} partial)`);
  assert.ok(sizes.small < sizes.reference, `smaller than the reference settings: ${JSON.stringify(sizes)}`);
  assert.ok(sizes.fast > sizes.small * 1.3, `the fast mode trades size: ${JSON.stringify(sizes)}`);
});

// ---- colour and format normalisation ----

test('greyscale PNG becomes grey RGB with alpha 255', async () => {
  const w = 40;
  const h = 30;
  const grey = Buffer.alloc(w * h);
  for (let i = 0; i < grey.length; i++) grey[i] = (i * 13) % 256;
  const png = await sharp(grey, { raw: { width: w, height: h, channels: 1 } })
    .toColourspace('b-w')
    .png()
    .toBuffer();
  const info = await openImage(png);
  assert.equal([info.channels, info.space, info.hasAlpha], [1, 'b-w', false]);
  const rgba = Buffer.alloc(w * h * 4);
  for (let i = 0; i < grey.length; i++) rgba.set([grey[i]!, grey[i]!, grey[i]!, 255], i * 4);
  await assertMatchesReference(png, rgba, w, h);
});

test('16-bit PNG is reduced to 8 bits', async () => {
  const w = 20;
  const h = 10;
  const px = new Uint16Array(w * h * 3);
  for (let i = 0; i < px.length; i++) px[i] = (i * 997) % 65536;
  const png = await sharp(px, { raw: { width: w, height: h, channels: 3 } })
    .toColourspace('rgb16')
    .png()
    .toBuffer();
  const info = await openImage(png);
  assert.is(info.bitDepth, 16);
  const dir = outDir();
  const res = await writeStudyPyramid(await openImage(png), dir);
  assert.equal(res.files, ['L0X0Y0.png']);
  const tile = (await decodeTile(path.join(dir, 'L0X0Y0.png'))).rgba;
  // x0 = floor((256-20)/2) = 118, y0 = 123.
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const o = ((y + 123) * 256 + x + 118) * 4;
      for (let ch = 0; ch < 3; ch++) {
        const want = px[(y * w + x) * 3 + ch]! / 257;
        assert.ok(Math.abs(tile[o + ch]! - want) <= 1, `(${x},${y}) ch ${ch}: ${tile[o + ch]} vs ${want}`);
      }
      assert.is(tile[o + 3], 255);
    }
  }
});

test('CMYK JPEG is converted to sRGB', async () => {
  const jpeg = await sharp({ create: { width: 64, height: 32, channels: 3, background: { r: 200, g: 100, b: 50 } } })
    .toColourspace('cmyk')
    .jpeg({ quality: 95 })
    .toBuffer();
  const info = await openImage(jpeg);
  assert.equal([info.space, info.channels, info.hasAlpha], ['cmyk', 4, false]);
  const dir = outDir();
  await writeStudyPyramid(await openImage(jpeg), dir);
  const tile = (await decodeTile(path.join(dir, 'L0X0Y0.png'))).rgba;
  const o = (128 * 256 + 128) * 4;
  const [r, g, b, a] = tile.subarray(o, o + 4);
  assert.is(a, 255);
  // Through the CMYK profile and back, not the CMYK bytes read as RGBA (~0,128,190 / K 55).
  assert.ok(Math.abs(r! - 200) < 35 && Math.abs(g! - 100) < 35 && Math.abs(b! - 50) < 35, `got ${r},${g},${b}`);
  const thumb = path.join(outDir(), 'thumb.jpg');
  await writeThumbnail(await openImage(jpeg), thumb);
  assert.equal((await sharp(thumb).metadata()).channels, 3);
});

test('palette PNG gives the palette colours exactly', async () => {
  const w = 50;
  const h = 20;
  const rgb = Buffer.alloc(w * h * 3);
  const colours = [
    [255, 0, 0],
    [0, 128, 255],
    [10, 20, 30],
  ];
  for (let i = 0; i < w * h; i++) rgb.set(colours[Math.floor(i / 7) % 3]!, i * 3);
  const png = await sharp(rgb, { raw: { width: w, height: h, channels: 3 } })
    .png({ palette: true, colours: 4, dither: 0 })
    .toBuffer();
  assert.ok((await openImage(png)).isPalette);
  await assertMatchesReference(png, withOpaqueAlpha(rgb), w, h);
});

test('EXIF orientation is reported but not applied', async () => {
  const w = 300;
  const h = 200;
  const jpeg = await sharp(formulaPixels('B', w, h), { raw: { width: w, height: h, channels: 3 } })
    .jpeg({ quality: 95 })
    .withMetadata({ orientation: 6 })
    .toBuffer();
  const info = await openImage(jpeg);
  assert.equal([info.width, info.height, info.exifOrientation], [300, 200, 6]);
  assert.ok(info.notes.some((n) => /orientation 6 ignored/.test(n)));
  const stored = await sharp(jpeg).raw().toBuffer(); // sharp does not rotate unless asked
  const dir = outDir();
  const res = await writeStudyPyramid(await openImage(jpeg), dir);
  assert.equal([res.width, res.height], [300, 200]);
  for (const t of deepestLevelTiles(w, h)) {
    const tile = (await decodeTile(path.join(dir, `L${t.level}X${t.x}Y${t.y}.png`))).rgba;
    for (let r = 0; r < t.height; r++) {
      for (let c = 0; c < t.width; c++) {
        const o = ((t.tileY + r) * 256 + t.tileX + c) * 4;
        const s = ((t.imageY + r) * w + t.imageX + c) * 3;
        if (tile[o] !== stored[s] || tile[o + 1] !== stored[s + 1] || tile[o + 2] !== stored[s + 2] || tile[o + 3] !== 255) {
          assert.unreachable(`pixel (${t.imageX + c},${t.imageY + r}) not as stored`);
        }
      }
    }
  }
  const jpgPath = path.join(outDir(), 'image.jpg');
  await writeUntiledImage(await openImage(jpeg), jpgPath);
  const meta = await sharp(jpgPath).metadata();
  assert.equal([meta.width, meta.height, meta.orientation], [300, 200, undefined]);
});

test('multi-page TIFF: page 0 is used and the choice is reported', async () => {
  const page = (r: number, g: number, b: number) =>
    sharp({ create: { width: 40, height: 30, channels: 3, background: { r, g, b } } })
      .raw()
      .toBuffer();
  const raw = Buffer.concat([await page(250, 10, 10), await page(10, 10, 250), await page(10, 250, 10)]);
  const tiff = await sharp(raw, { raw: { width: 40, height: 90, channels: 3, pageHeight: 30 } })
    .tiff({ compression: 'lzw' })
    .toBuffer();
  const info = await openImage(tiff);
  assert.equal([info.format, info.pages, info.page, info.width, info.height], ['tiff', 3, 0, 40, 30]);
  assert.ok(info.notes.some((n) => /3-page TIFF: using page 0/.test(n)));
  const dir = outDir();
  const res = await writeStudyPyramid(await openImage(tiff), dir);
  assert.equal([res.width, res.height], [40, 30]);
  const tile = (await decodeTile(path.join(dir, 'L0X0Y0.png'))).rgba;
  // Tile pixel (128,128) is image pixel (20,15) of page 0: x0 = 108, y0 = 113.
  const o = (128 * 256 + 128) * 4;
  const s = (15 * 40 + 20) * 3;
  assert.equal([...tile.subarray(o, o + 4)], [raw[s], raw[s + 1], raw[s + 2], 255]);
  assert.ok(raw[s]! > 200 && raw[s + 2]! < 50, 'page 0 is the red one');
});

// ---- bad input ----

test('empty, missing, text, HTML and GIF inputs are refused with a clear reason', async () => {
  const empty = path.join(work, 'empty.jpg');
  await fsp.writeFile(empty, '');
  await expectImageError(openImage(empty), /empty \(0 bytes\)/);
  await expectImageError(openImage(Buffer.alloc(0)), /empty \(0 bytes\)/);
  await expectImageError(
    openImage(empty).then((img) => writeStudyPyramid(img, outDir())),
    /empty/,
  );
  await expectImageError(
    openImage(empty).then((img) => writeThumbnail(img, path.join(work, 't.jpg'))),
    /empty/,
  );
  await expectImageError(openImage(path.join(work, 'missing.jpg')), /cannot read image file/);
  const html = path.join(work, 'page.jpg');
  await fsp.writeFile(html, '<!DOCTYPE html>\n<html><body>404 Not Found</body></html>\n');
  await expectImageError(openImage(html), /unsupported image format: HTML/);
  await expectImageError(
    openImage(html).then((img) => writeUntiledImage(img, path.join(work, 'i.jpg'))),
    /unsupported image format/,
  );
  await expectImageError(openImage(Buffer.from('just some text\n')), /unsupported image format: text/);
  const gif = await sharp({ create: { width: 8, height: 8, channels: 3, background: '#f00' } })
    .gif()
    .toBuffer();
  await expectImageError(openImage(gif), /unsupported image format: GIF; only JPEG, PNG and TIFF/);
  await expectImageError(openImage(Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0, 16, 1, 2, 3])), /unreadable JPEG header/);
  await expectImageError(openImage(floatGreyTiff(4, 4)), /floating-point TIFF samples \(float\) are not supported/);
});

test('truncated JPEG and PNG fail to decode instead of turning grey', async () => {
  const full = await fsp.readFile(NGC253);
  const cut = full.subarray(0, Math.floor(full.length * 0.6));
  const info = await openImage(cut); // the header alone is intact
  assert.equal([info.width, info.height], [2166, 2129]);
  await expectImageError(openImage(cut, { verify: true }), /truncated or corrupt/);
  const dir = outDir();
  await expectImageError(
    openImage(cut).then((img) => writeStudyPyramid(img, dir)),
    /truncated or corrupt/,
  );
  assert.equal(
    (await listDir(dir)).filter((n) => n.startsWith('.')),
    [],
    'scratch file removed',
  );
  await expectImageError(
    openImage(cut).then((img) => writeUntiledImage(img, path.join(work, 'cut.jpg'))),
    /truncated or corrupt/,
  );
  await expectImageError(
    openImage(cut).then((img) => writeThumbnail(img, path.join(work, 'cut-thumb.jpg'))),
    /truncated or corrupt/,
  );
  const png = await rawToPng(formulaPixels('B', 400, 300), 400, 300, 3);
  const cutPng = png.subarray(0, Math.floor(png.length / 2));
  await expectImageError(
    openImage(cutPng).then((img) => writeStudyPyramid(img, outDir())),
    /truncated or corrupt|cannot decode/,
  );
  await expectImageError(openImage(cutPng, { verify: true }), /truncated or corrupt|cannot decode/);
  // The intact file passes verification.
  await openImage(full, { verify: true });
});

test('decompression bombs (tiny files declaring 100000x100000) are refused from the header', async () => {
  const small = await rawToPng(formulaPixels('A', 16, 16), 16, 16, 3);
  const bombPng = patchPngSize(small, 100000, 100000);
  assert.ok(bombPng.length < 2000);
  const started = performance.now();
  await expectImageError(openImage(bombPng), /100000x100000 = 10000000000 pixels, above the limit of 1000000000/);
  const dir = outDir();
  await expectImageError(
    openImage(bombPng).then((img) => writeStudyPyramid(img, dir)),
    /above the limit/,
  );
  assert.equal(await listDir(dir), [], 'nothing written');
  await expectImageError(
    openImage(bombPng).then((img) => writeThumbnail(img, path.join(work, 'b.jpg'))),
    /above the limit/,
  );
  const jpeg = await sharp(formulaPixels('A', 16, 16), { raw: { width: 16, height: 16, channels: 3 } })
    .jpeg()
    .toBuffer();
  const bombJpeg = patchJpegSize(jpeg, 65000, 65000);
  await expectImageError(openImage(bombJpeg), /65000x65000 .* above the limit/);
  await expectImageError(
    openImage(bombJpeg).then((img) => writeUntiledImage(img, path.join(work, 'b2.jpg'))),
    /above the limit/,
  );
  assert.ok(performance.now() - started < 3000, 'refused without decoding');
  assert.is(DEFAULT_MAX_PIXELS, 1e9);
  await expectImageError(openImage(small, { maxPixels: 255 }), /16x16 = 256 pixels, above the limit of 255/);
  await expectImageError(
    openImage(small, { maxPixels: 255 }).then((img) => writeStudyPyramid(img, outDir())),
    /above the limit/,
  );
});

test('every writer decodes under the limit its image was opened with', async () => {
  const png = await rawToPng(formulaPixels('A', 40, 30), 40, 30, 3);
  const image = await openImage(png, { maxPixels: 1200 });
  assert.is(image.maxPixels, 1200);
  const dir = outDir();
  await fsp.mkdir(dir);
  // At exactly its size the limit admits the image: real files from all three writers.
  const res = await writeStudyPyramid(image, dir);
  assert.equal(res.files, ['L0X0Y0.png']);
  await writeUntiledImage(image, path.join(dir, 'image.jpg'));
  await writeThumbnail(image, path.join(dir, 'thumb.jpg'));
  const jpg = await sharp(path.join(dir, 'image.jpg')).metadata();
  const thumb = await sharp(path.join(dir, 'thumb.jpg')).metadata();
  assert.equal([jpg.width, jpg.height, thumb.width, thumb.height], [40, 30, 40, 19]);
  // The same image carrying a lower limit: each decoder enforces the image's limit, not a
  // default of its own.
  const lower = { ...image, maxPixels: 1199 };
  await expectImageError(writeStudyPyramid(lower, outDir()), /too large to decode/);
  await expectImageError(writeUntiledImage(lower, path.join(work, 'low.jpg')), /too large to decode/);
  await expectImageError(writeThumbnail(lower, path.join(work, 'low-thumb.jpg')), /too large to decode/);
});

// ---- image.jpg and thumb.jpg ----

test('untiled image.jpg: same size, RGB, alpha dropped, flipX mirrors', async () => {
  const w = 120;
  const h = 80;
  const rgba = Buffer.alloc(w * h * 4);
  for (let i = 0; i < w * h; i++) {
    const x = i % w;
    rgba.set([x * 2, 255 - x * 2, 40, x < 60 ? 0 : 255], i * 4);
  }
  const png = await rawToPng(rgba, w, h, 4);
  const out = path.join(outDir(), 'image.jpg');
  await writeUntiledImage(await openImage(png), out);
  const meta = await sharp(out).metadata();
  assert.equal([meta.format, meta.width, meta.height, meta.channels, meta.hasAlpha], ['jpeg', w, h, 3, false]);
  const plain = await sharp(out).raw().toBuffer();
  // Alpha dropped, not composited: the transparent half keeps its colour.
  assert.ok(Math.abs(plain[(40 * w + 10) * 3]! - 20) <= 6, `got ${plain[(40 * w + 10) * 3]}`);
  const flipped = path.join(outDir(), 'image.jpg');
  await writeUntiledImage(await openImage(png), flipped, { flipX: true });
  const fl = await sharp(flipped).raw().toBuffer();
  assert.ok(Math.abs(fl[(40 * w + (w - 1 - 10)) * 3]! - 20) <= 6, 'mirrored');
});

for (const c of V.thumbnail_cases) {
  test(`thumbnail_cases ${c.width}x${c.height}: thumb.jpg decodes at ${c.thumb_size.join('x')}`, async () => {
    const jpeg = await sharp({ create: { width: c.width, height: c.height, channels: 3, background: { r: 30, g: 60, b: 90 } } })
      .jpeg()
      .toBuffer();
    const out = path.join(outDir(), 'thumb.jpg');
    const g = await writeThumbnail(await openImage(jpeg), out);
    assert.equal(g.crop, c.crop_box_left_top_right_bottom);
    const meta = await sharp(out).metadata();
    assert.equal([meta.format, meta.width, meta.height, meta.channels], ['jpeg', ...c.thumb_size, 3]);
  });
}

test('thumbnail of the real image is 96x45; flipX crops the mirrored box', async () => {
  const out = path.join(outDir(), 'thumb.jpg');
  await writeThumbnail(await openImage(NGC253), out);
  const meta = await sharp(out).metadata();
  assert.equal([meta.width, meta.height, meta.channels], [96, 45, 3]);

  // 60x20: crop [8, 51) with an odd margin, kept at 43x20 (no resampling), so pixels compare.
  const w = 60;
  const h = 20;
  const rgb = Buffer.alloc(w * h * 3);
  for (let i = 0; i < w * h; i++) rgb.set([(i % w) * 4, 100, 255 - (i % w) * 4], i * 3);
  const a = path.join(outDir(), 'thumb.jpg');
  const b = path.join(outDir(), 'thumb.jpg');
  await writeThumbnail(await openImage(await rawToPng(rgb, w, h, 3)), a);
  await writeThumbnail(await openImage(await rawToPng(flopRaw(rgb, w, h, 3), w, h, 3)), b, { flipX: true });
  const pa = await sharp(a).raw().toBuffer({ resolveWithObject: true });
  const pb = await sharp(b).raw().toBuffer({ resolveWithObject: true });
  assert.equal([pa.info.width, pa.info.height], [43, 20]);
  let worst = 0;
  for (let i = 0; i < pa.data.length; i++) worst = Math.max(worst, Math.abs(pa.data[i]! - pb.data[i]!));
  assert.ok(worst <= 3, `flipX thumbnail differs by up to ${worst}`);
  // Sanity: the left column really is x=8 of the source (red = 32), not x=9.
  assert.ok(Math.abs(pa.data[10 * 43 * 3]! - 32) <= 3, `left column red ${pa.data[(10 * 43) * 3]}`);
});

test.run();
