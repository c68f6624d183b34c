/**
 * The constellation data the preview serves to the WWT engine (src/preview/sky-assets.ts):
 * the boundary corners precessed back to B1875.0 lie on that equator's meridians and parallels
 * (which checks the precession), and the engine-format file holds the table's corners exactly.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { engineBoundaryFile, engineNamePositionsFile, readBoundaryTable, toB1875 } from '../src/preview/sky-assets.js';

const polygons = readBoundaryTable();

test('every boundary edge runs along a B1875 meridian or parallel', () => {
  let edges = 0;
  let worst = 0;
  for (const { vertices } of polygons) {
    vertices.forEach((v, i) => {
      const a = toB1875(v);
      const b = toB1875(vertices[(i + 1) % vertices.length]);
      const alongParallel = Math.abs(b.dec - a.dec);
      const alongMeridian = Math.abs(((b.ra - a.ra + 36) % 24) - 12) * 15 * Math.cos((a.dec * Math.PI) / 180);
      worst = Math.max(worst, Math.min(alongParallel, alongMeridian));
      edges++;
    });
  }
  assert.is(edges, 1564);
  // The table's 7 decimals; a wrong precession (or none) is off by up to about a degree.
  assert.ok(worst < 1e-4, `worst edge is ${worst}° off its B1875 meridian or parallel`);
});

test("the engine's boundary file: the table's corners (O), the edges followed between them (I)", () => {
  const rows = engineBoundaryFile(polygons).split('\r\n');
  // Read the way the engine reads it: columns, and only O rows for its lookup.
  const corners = rows.filter((r) => r.substr(28, 1) === 'O');
  const table = polygons.flatMap((p) => p.vertices.map((v) => ({ ...v, abbreviation: p.abbreviation })));
  assert.is(corners.length, table.length);
  corners.forEach((r, i) => {
    assert.is(Number.parseFloat(r.substr(0, 10)), table[i].ra, r);
    assert.ok(Math.abs(Number.parseFloat(r.substr(11, 10)) - table[i].dec) < 1e-6, r);
    assert.is(r.substr(23, 4).trim(), table[i].abbreviation, r);
  });
  const between = rows.filter((r) => r.substr(28, 1) === 'I');
  assert.ok(between.length > table.length, `${between.length} interpolated points`);
  assert.ok(
    rows.every((r) => r.length === 29),
    'fixed columns, no empty line',
  );
  const names = engineNamePositionsFile(polygons).split('\r\n');
  assert.is(names.length, 89);
  assert.ok(names.some((n) => n.startsWith('Sculptor,SCL,')));
  for (const n of names) assert.is(n.split(',').length, 4, n);
});

test.run();
