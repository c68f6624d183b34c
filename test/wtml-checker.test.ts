// The WTML toasty writes passes WWT's own checker (`wwtdatatool wtml report`): real pipeline
// output (`toasty make` into a local repository) and `toasty tile-study` output, per-image
// files and the root index, each rule asserted directly as well as through the checker's list.
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseWtml, type WtmlFolder } from '../src/wwt/wtml.js';
import { Fixture, IDS, ROOT, TESTDATA, runToasty } from './helpers/pipeline-fixture.js';
import { loadVectors } from './helpers/vectors.js';
import { wwtReportProblems } from './helpers/wwt-report.js';

/** The four rules, one by one, on a per-image folder. */
function assertCheckerRules(folder: WtmlFolder, label: string): Record<string, string> {
  assert.is(folder.children.length, 1, `${label}: one Place`);
  const place = folder.children[0];
  assert.ok(place.name, `${label}: a title`);
  assert.is(folder.name, place.name, `${label}: Folder and Place names agree`);
  assert.is(place.imageSet.name, place.name, `${label}: ImageSet and Place names agree`);
  assert.ok(place.description, `${label}: the Place has a Description`);
  assert.ok(place.imageSet.credits, `${label}: Credits`);
  assert.ok(place.imageSet.creditsUrl, `${label}: CreditsUrl`);
  const annotation = JSON.parse(place.annotation ?? 'null') as Record<string, string>;
  assert.equal(Object.keys(annotation), ['channel', 'itemid', 'publishedUTCISO8601'], `${label}: annotation keys`);
  assert.match(annotation.publishedUTCISO8601, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?[+-]\d\d:\d\d$/, `${label}: a zoned ISO 8601 date`);
  assert.ok(!Number.isNaN(Date.parse(annotation.publishedUTCISO8601)), `${label}: the date parses`);
  return annotation;
}

test("the checker's rules: the 2020 reference documents fail seven of them, as WWT's tool reports", () => {
  const placed = loadVectors().wcs_cases.filter((c) => c.expected.index_rel_wtml);
  for (const c of placed) {
    const problems = wwtReportProblems(c.expected.index_wtml);
    assert.is(problems.length, 7, `${c.name}: ${problems.join('; ')}`);
  }
});

test('toasty make: every published index.wtml and index_rel.wtml passes; the root index carries each Place whole', async () => {
  const f = await Fixture.create({ kind: 'local' });
  try {
    const r = await f.run('make');
    assert.is(r.code, 0, r.stderr);
    const records = await f.baseRecords();
    const expected = {
      [IDS.ngc253]: { record: records[0], constellation: 'SCL', published: '2018-04-12T19:14:41+00:00' },
      [IDS.ngc7552]: { record: records[1], constellation: 'GRU', published: '2021-06-06T08:22:01.893842+00:00' },
    };
    const root = parseWtml((await f.text('index.wtml'))!);
    for (const [id, want] of Object.entries(expected)) {
      for (const name of ['index.wtml', 'index_rel.wtml']) {
        const doc = (await f.text(`${id}/${name}`))!;
        assert.equal(wwtReportProblems(doc), [], `${id}/${name}`);
        const folder = parseWtml(doc);
        const annotation = assertCheckerRules(folder, `${id}/${name}`);
        const place = folder.children[0];
        assert.is(place.name, want.record.title);
        assert.is(place.description, want.record.description);
        assert.equal(annotation, { channel: want.record.publisher_id, itemid: want.record.image_id, publishedUTCISO8601: want.published });
        assert.is(place.constellation, want.constellation, `${id}: constellation`);
        assert.match(doc, new RegExp(`<Place [^>]*Constellation="${want.constellation}"`));
      }
      // The root index copies the image's Place as published.
      const own = parseWtml((await f.text(`${id}/index.wtml`))!).children[0];
      const inRoot = root.children.find((p) => p.name === own.name);
      assert.equal(inRoot, own, `${id} in the root index`);
    }
  } finally {
    await f.close();
  }
});

test('toasty tile-study: a record gives a passing study; without one the study is untethered, names agreeing, constellation empty', async () => {
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'toasty-checker-'));
  try {
    const template = JSON.parse(await fsp.readFile(path.join(ROOT, 'examples', 'astropix-feed.template.json'), 'utf8'));
    const rec = path.join(dir, 'record.json');
    await fsp.writeFile(rec, JSON.stringify(template[1]));
    const out = path.join(dir, 'placed');
    let r = await runToasty(['tile-study', path.join(TESTDATA, 'geminiann11015a.jpg'), out, '--astropix-json', rec]);
    assert.is(r.code, 0, r.stderr);
    const doc = await fsp.readFile(path.join(out, 'index_rel.wtml'), 'utf8');
    assert.equal(wwtReportProblems(doc), []);
    const folder = parseWtml(doc);
    assertCheckerRules(folder, 'tile-study');
    assert.is(folder.children[0].constellation, 'GRU');

    // --name renames a placed study too, all three names at once.
    const renamed = path.join(dir, 'renamed');
    r = await runToasty(['tile-study', path.join(TESTDATA, 'geminiann11015a.jpg'), renamed, '--astropix-json', rec, '--name', 'NGC 7552']);
    assert.is(r.code, 0, r.stderr);
    const n = parseWtml(await fsp.readFile(path.join(renamed, 'index_rel.wtml'), 'utf8'));
    assert.equal([n.name, n.children[0].name, n.children[0].imageSet.name], ['NGC 7552', 'NGC 7552', 'NGC 7552']);

    const plain = path.join(dir, 'plain.png');
    await sharp({ create: { width: 300, height: 200, channels: 3, background: '#336699' } })
      .png()
      .toFile(plain);
    const out2 = path.join(dir, 'untethered');
    r = await runToasty(['tile-study', plain, out2, '--name', 'A picture']);
    assert.is(r.code, 0, r.stderr);
    const u = parseWtml(await fsp.readFile(path.join(out2, 'index_rel.wtml'), 'utf8'));
    assert.equal([u.name, u.children[0].name, u.children[0].imageSet.name], ['A picture', 'A picture', 'A picture']);
    assert.is(u.children[0].constellation, '');
    assert.is(u.children[0].annotation, undefined);
  } finally {
    await fsp.rm(dir, { recursive: true, force: true });
  }
});

test.run();
