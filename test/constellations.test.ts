// WWT's constellation rule: every case of the shared vectors (named objects, random points,
// points nudged next to boundary vertices), and the table found by the compiled module too.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { constellationAt } from '../src/wwt/constellations.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

interface Case {
  name?: string;
  ra_hr: number;
  dec_deg: number;
  constellation: string;
}
const { cases } = JSON.parse(readFileSync(path.join(ROOT, 'test', 'fixtures', 'constellation-vectors.json'), 'utf8')) as { cases: Case[] };

test('every vector gets the constellation WWT gives it', () => {
  assert.ok(cases.length >= 250, `only ${cases.length} cases`);
  const wrong = cases.filter((c) => constellationAt(c.ra_hr, c.dec_deg) !== c.constellation);
  const show = wrong.slice(0, 10).map((c) => `${c.name ?? ''} (${c.ra_hr}, ${c.dec_deg}): ${constellationAt(c.ra_hr, c.dec_deg)} != ${c.constellation}`);
  assert.equal(show, []);
});

test('poles, both parts of Serpens, and the 0h/24h seam', () => {
  assert.is(constellationAt(12, 89.9), 'UMI');
  assert.is(constellationAt(3, -89.9), 'OCT');
  assert.is(constellationAt(15.31, 2.08), 'SER1'); // M5, in Serpens Caput
  assert.is(constellationAt(18.313, -13.78), 'SER2'); // M16, in Serpens Cauda
  // Pisces straddles 0h: both sides of the seam are in it.
  assert.is(constellationAt(0, 10), 'PSC');
  assert.is(constellationAt(23.99999999, 10), 'PSC');
});

test('the compiled module finds the table (dist/ has no copy of it)', () => {
  const compiled = path.join(ROOT, 'dist', 'src', 'wwt', 'constellations.js');
  if (!existsSync(compiled)) throw new Error(`${compiled} is missing: run npm run build first`);
  const script = `import(${JSON.stringify(compiled)}).then((m) => console.log(m.constellationAt(0.7925, -25.288)))`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
  assert.is(r.status, 0, r.stderr);
  assert.is(r.stdout.trim(), 'SCL');
});

test.run();
