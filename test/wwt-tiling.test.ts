// Study tiling geometry and thumbnail geometry against the shared reference vectors (exact).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { deepestLevelTiles, needsTiling, studyTiling, tilesPerLevel, totalTileCount, TILING_THRESHOLD } from '../src/wwt/tiling.js';
import { isPixelFileName, tileFileName, TILE_URL_TEMPLATE } from '../src/wwt/study-files.js';
import { roundHalfEven, thumbnailGeometry } from '../src/wwt/thumbnail.js';
import { loadVectors } from './helpers/vectors.js';

const V = loadVectors();

test('tiling threshold is strictly above 2048 on either side', () => {
  assert.is(TILING_THRESHOLD, 2048);
  assert.not.ok(needsTiling(2048, 2048));
  assert.ok(needsTiling(2049, 1));
  assert.ok(needsTiling(1, 2049));
  assert.not.ok(needsTiling(1, 1));
});

test('tile names and URL template', () => {
  assert.is(tileFileName(4, 3, 12), 'L4X3Y12.png');
  assert.is(TILE_URL_TEMPLATE, 'L{1}X{2}Y{3}.png');
  // Pixel files, as the tiling tells them from the study's other files (the WTML it keeps).
  for (const name of [tileFileName(4, 3, 12), tileFileName(0, 0, 0), 'thumb.jpg', 'image.jpg']) assert.ok(isPixelFileName(name), name);
  for (const name of ['index.wtml', 'index_rel.wtml', 'L4X3Y12.pngx', 'L4X3Y12xpng', 'LaX1Y1.png']) assert.not.ok(isPixelFileName(name), name);
});

for (const c of V.tiling_cases) {
  test(`tiling_cases ${c.width}x${c.height}: padded square, offsets, overlaps, tiles per level`, () => {
    const t = studyTiling(c.width, c.height);
    assert.equal(t, {
      paddedSize: c.padded_size,
      tilesPerSide: c.tiles_per_side,
      tileLevels: c.tile_levels,
      imageX0: c.image_x0,
      imageY0: c.image_y0,
    });
    const expectedOverlaps = c.deepest_level_tiles.map((d: Record<string, number>) => ({
      level: d.level,
      x: d.x,
      y: d.y,
      width: d.width,
      height: d.height,
      imageX: d.image_x,
      imageY: d.image_y,
      tileX: d.tile_x,
      tileY: d.tile_y,
    }));
    assert.equal(deepestLevelTiles(c.width, c.height), expectedOverlaps);
    const perLevel = tilesPerLevel(c.width, c.height);
    assert.equal([...perLevel.keys()].sort(), Object.keys(c.tiles_per_level).map(Number).sort());
    for (const [level, tiles] of Object.entries(c.tiles_per_level)) {
      assert.equal(perLevel.get(Number(level)), tiles, `level ${level}`);
      assert.is(perLevel.get(Number(level))!.length, c.tile_count_per_level[level]);
    }
    assert.is(totalTileCount(c.width, c.height), c.total_tiles);
  });
}

for (const c of V.tile_count_cases) {
  test(`tile_count_cases ${c.width}x${c.height}: ranges and counts per level`, () => {
    const t = studyTiling(c.width, c.height);
    assert.is(t.paddedSize, c.padded_size);
    assert.is(t.tileLevels, c.tile_levels);
    assert.is(t.imageX0, c.image_x0);
    assert.is(t.imageY0, c.image_y0);
    const perLevel = tilesPerLevel(c.width, c.height);
    for (const [level, e] of Object.entries<{ x_range: number[]; y_range: number[]; count: number }>(c.per_level)) {
      const tiles = perLevel.get(Number(level))!;
      const xs = tiles.map(([x]) => x);
      const ys = tiles.map(([, y]) => y);
      assert.equal([Math.min(...xs), Math.max(...xs)], e.x_range, `level ${level} x`);
      assert.equal([Math.min(...ys), Math.max(...ys)], e.y_range, `level ${level} y`);
      assert.is(tiles.length, e.count, `level ${level} count`);
    }
    assert.is(totalTileCount(c.width, c.height), c.total_tiles);
  });
}

test('tiling rejects non-positive or fractional sizes', () => {
  assert.throws(() => studyTiling(0, 10));
  assert.throws(() => studyTiling(10.5, 10));
});

test('roundHalfEven matches Python round()', () => {
  assert.is(roundHalfEven(982.5), 982);
  assert.is(roundHalfEven(983.5), 984);
  assert.is(roundHalfEven(0.5), 0);
  assert.is(roundHalfEven(1.5), 2);
  assert.is(roundHalfEven(2.4999), 2);
  assert.is(roundHalfEven(2.5001), 3);
});

for (const c of V.thumbnail_cases) {
  test(`thumbnail_cases ${c.width}x${c.height}: crop box and size`, () => {
    const g = thumbnailGeometry(c.width, c.height);
    assert.equal(g.crop, c.crop_box_left_top_right_bottom);
    assert.equal(g.size, c.thumb_size);
  });
}

test('thumbnail geometry: 2096 wide uses half-to-even (982, not 983)', () => {
  const g = thumbnailGeometry(2096, 1500);
  assert.is(g.crop[3] - g.crop[1], 982);
});

test('thumbnail geometry: degenerate sizes clamp to at least 1 px and never upscale', () => {
  assert.equal(thumbnailGeometry(1, 1), { crop: [0, 0, 1, 1], size: [1, 1] });
  assert.equal(thumbnailGeometry(1, 5000), { crop: [0, 2499, 1, 2500], size: [1, 1] });
  const wide = thumbnailGeometry(5000, 1);
  assert.equal(wide.crop, [2499, 0, 2501, 1]);
  assert.equal(wide.size, [2, 1]);
  for (const [w, h] of [
    [3, 2],
    [97, 46],
    [20000, 3],
    [7, 9000],
  ]) {
    const g = thumbnailGeometry(w, h);
    assert.ok(g.size[0] >= 1 && g.size[1] >= 1 && g.size[0] <= 96 && g.size[1] <= 45, `${w}x${h}`);
    assert.ok(g.size[0] <= g.crop[2] - g.crop[0] && g.size[1] <= g.crop[3] - g.crop[1], `no upscale ${w}x${h}`);
  }
  assert.throws(() => thumbnailGeometry(0, 10));
});

test.run();
