// The Djangoplicity adapter as the pipeline uses it: its configuration, the study it makes from
// a details record (placement identical to AstroPix's for every shared vector, mapped field
// for field), the WTML text the reference pipeline writes for it, and when the pipeline asks
// the source for records (completeRecords).
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseConfig } from '../src/pipeline/config.js';
import { completeRecords } from '../src/pipeline/run.js';
import type { Candidates, SourceAdapter, SourceRecord } from '../src/sources/source.js';
import { ToastyError } from '../src/util/errors.js';
import { silentLog } from '../src/util/log.js';
import { placeAnnotation } from '../src/wwt/metadata.js';
import { studyWtml, type StudyShape } from '../src/wwt/study-wtml.js';
import { parseWtml, type WtmlFolder } from '../src/wwt/wtml.js';
import { spatialFromAstropix } from './helpers/djangoplicity-archive.js';
import { ROOT } from './helpers/pipeline-fixture.js';
import { assertClose, expectToastyError, loadVectors, recordOf, tileLevelsOf, type WcsCase } from './helpers/vectors.js';
import { wwtReportProblems } from './helpers/wwt-report.js';

const common = 'publish_url_prefix: http://data.example.org/hst/\nfolder_name: Hubble\n';
const sourceOf = (yaml: string): SourceAdapter => parseConfig(`${yaml}\n${common}`).source;
const djangoplicity = sourceOf('source_type: djangoplicity\ndjangoplicity:\n  base_url: https://esahubble.org/images\n  channel_name: esahubble');
const astropix = sourceOf('source_type: astropix\nastropix:\n  json_query_url: https://astropix.example/feed.json');

/** An AstroPix record's fields under their Djangoplicity (AVM) names. */
function asDetails(r: Record<string, unknown>): SourceRecord {
  return {
    Title: r.title,
    Description: r.description,
    Credit: r.image_credit,
    ReferenceURL: r.reference_url,
    Date: r.last_updated,
    Resources: [
      { ResourceType: 'Large', URL: 'https://cdn.example/large.jpg' },
      { ResourceType: 'Original', URL: r.resource_url },
    ],
    Spatial: spatialFromAstropix(r),
  };
}

const shapeOf = (c: WcsCase): StudyShape => ({
  width: c.input.cached_image_width,
  height: c.input.cached_image_height,
  tiled: tileLevelsOf(c) > 0,
  tileLevels: tileLevelsOf(c),
  flipX: false,
});

type Outcome = { folder: WtmlFolder } | { error: ToastyError };

function place(source: SourceAdapter, record: SourceRecord, c: WcsCase): Outcome {
  try {
    return { folder: studyWtml({ uniqueId: 'x', study: source.study(record, 'x'), shape: shapeOf(c) }).folder };
  } catch (e) {
    if (e instanceof ToastyError) return { error: e };
    throw e;
  }
}

/** The placement of a folder's one Place: everything but the words. */
function placement(f: WtmlFolder) {
  const { name, description, annotation, imageSet, ...p } = f.children[0];
  const { name: _n, description: _d, credits, creditsUrl, ...i } = imageSet;
  return { place: p, imageSet: i };
}

test('config: source_type picks the adapter; unknown types and bad settings name the field', () => {
  assert.is(djangoplicity.type, 'djangoplicity');
  assert.is(djangoplicity.recordFile, 'djangoplicity.json');
  assert.is(astropix.recordFile, 'astropix.json', 'existing work dirs keep their record file');
  assert.equal(djangoplicity.studySettings, { channel_name: 'esahubble' });
  const bad = (yaml: string) => expectToastyError(() => sourceOf(yaml), yaml);
  let e = bad('source_type: flickr');
  assert.is(e.code, 'config');
  assert.match(e.message, /unknown source_type "flickr" \(supported: astropix, djangoplicity\)/);
  e = bad('source_type: djangoplicity');
  assert.is(e.field, 'djangoplicity');
  assert.match(e.message, /missing the djangoplicity: section \(with base_url, channel_name\)/);
  e = bad('source_type: djangoplicity\ndjangoplicity:\n  base_url: https://x.org/images/');
  assert.is(e.field, 'djangoplicity.channel_name');
  e = bad('source_type: djangoplicity\ndjangoplicity:\n  base_url: file:///srv/images/\n  channel_name: x');
  assert.is(e.field, 'djangoplicity.base_url');
  e = bad('source_type: djangoplicity\ndjangoplicity:\n  base_url: https://x.org/images/\n  channel_name: x\n  requests_per_host: 0');
  assert.is(e.field, 'djangoplicity.requests_per_host');
});

test('examples/djangoplicity-config.yaml is a valid configuration', async () => {
  const text = await fsp.readFile(path.join(ROOT, 'examples', 'djangoplicity-config.yaml'), 'utf8');
  const config = parseConfig(text);
  assert.is(config.source.type, 'djangoplicity');
  assert.equal(config.source.studySettings, { channel_name: 'esahubble' });
  assert.is(config.publishUrlPrefix, 'http://data1.wwtassets.org/feeds/hst/');
});

test('every shared vector, mapped field for field, is placed exactly as the AstroPix record is', () => {
  const cases = loadVectors().wcs_cases;
  let placed = 0;
  for (const c of cases) {
    const a = place(astropix, recordOf(c), c);
    const d = place(djangoplicity, asDetails(recordOf(c)), c);
    if ('error' in a) {
      assert.ok('error' in d, `${c.name}: refused as AstroPix refuses it (${a.error.message})`);
      if (!('error' in d)) continue;
      assert.is(d.error.code, a.error.code, c.name);
      // The projection is named by each source's own field; placement errors are the same.
      if (a.error.field === 'wcs_projection') assert.is(d.error.field, 'Spatial.CoordsystemProjection', c.name);
      else assert.is(d.error.message, a.error.message, c.name);
      continue;
    }
    assert.ok('folder' in d, `${c.name}: ${'error' in d ? d.error.message : ''}`);
    if (!('folder' in d)) continue;
    assert.equal(placement(d.folder), placement(a.folder), c.name);
    const ep = c.expected.place;
    if (ep) {
      const p = d.folder.children[0];
      assertClose(p.ra, ep.ra_hr, `${c.name} ra`);
      assertClose(p.dec, ep.dec_deg, `${c.name} dec`);
      assertClose(p.imageSet.baseDegreesPerTile, c.expected.imageset.base_degrees_per_tile, `${c.name} baseDegreesPerTile`);
      placed++;
    }
  }
  assert.ok(placed >= 7, `${placed} placed cases`);
});

test('wcs(): the WCS study() reads, value for value and error for error, for both sources over every vector and its variants', () => {
  type Got = { wcs: unknown } | { error: string };
  const attempt = (fn: () => unknown): Got => {
    try {
      return { wcs: fn() };
    } catch (e) {
      if (e instanceof ToastyError) return { error: `${e.code} ${e.field} ${e.message}` };
      throw e;
    }
  };
  // Variants beyond the vectors: both parities, each WCS field missing or bad, and a bad date
  // (a text error: study() fails on it, wcs() does not look at it).
  const variants = (r: Record<string, unknown>): Record<string, unknown>[] => {
    const scale = r.wcs_scale as unknown[];
    const out = [r, { ...r, wcs_scale: [String(-Number(scale[0])), scale[1]] }, { ...r, wcs_projection: 'SIN' }, { ...r, last_updated: 'not a date' }];
    for (const f of ['wcs_reference_value', 'wcs_reference_pixel', 'wcs_reference_dimension', 'wcs_scale', 'wcs_rotation', 'wcs_projection']) {
      out.push({ ...r, [f]: undefined }, { ...r, [f]: ['x', 'y'] });
    }
    return out;
  };
  let compared = 0;
  let positive = 0;
  for (const c of loadVectors().wcs_cases) {
    for (const r of variants(recordOf(c))) {
      for (const [source, record] of [
        [astropix, r],
        [djangoplicity, asDetails(r)],
      ] as const) {
        const study = attempt(() => source.study(record, 'x').wcs);
        const wcs = attempt(() => source.wcs!(record, 'x'));
        if ('wcs' in study) {
          assert.equal(wcs, study, c.name);
          compared++;
          if ((study.wcs as { scale: number[] }).scale[0]! > 0) positive++;
        } else if ('error' in wcs) {
          assert.is(wcs.error, study.error, c.name);
        } else {
          // study() failed on its text, after the WCS it shares with wcs().
          assert.ok(!/wcs|Spatial/.test(study.error), `${c.name}: ${study.error}`);
        }
      }
    }
  }
  assert.ok(compared >= 2 * loadVectors().wcs_cases.length && positive > 0, `${compared} compared, ${positive} positive`);
});

test('an empty or null second scale means square pixels: abs(first)', () => {
  const c = loadVectors().wcs_cases[1];
  const full = place(djangoplicity, asDetails(recordOf(c)), c);
  assert.ok('folder' in full);
  for (const second of ['', null]) {
    const details = asDetails(recordOf(c)) as { Spatial: { Scale: unknown[] } };
    details.Spatial.Scale = [details.Spatial.Scale[0], second];
    const d = place(djangoplicity, details as SourceRecord, c);
    assert.ok('folder' in d && 'folder' in full, String(second));
    if ('folder' in d && 'folder' in full) assert.equal(placement(d.folder), placement(full.folder), String(second));
  }
});

test('WTML text: Title names all three, Credits and Description HTML-escaped, the annotation from channel, id and Date', () => {
  const c = loadVectors().wcs_cases[0];
  const details = {
    ...asDetails(recordOf(c)),
    Title: 'Brown dwarf (artist’s concept)',
    Credit: '<a href="https://esahubble.org/">ESA/Hubble</a> & NASA',
    Description: 'A "cool" object <b>near</b> the Sun',
    ReferenceURL: 'https://esahubble.org/images/heic2405a/',
    Date: '2024-03-01T12:00:00',
  };
  const { indexRel } = studyWtml({ uniqueId: 'heic2405a', study: djangoplicity.study(details, 'heic2405a'), shape: shapeOf(c) });
  assert.equal(wwtReportProblems(indexRel), []);
  const folder = parseWtml(indexRel);
  const p = folder.children[0];
  assert.equal([folder.name, p.name, p.imageSet.name], Array(3).fill('Brown dwarf (artist’s concept)'));
  assert.is(p.imageSet.credits, '&lt;a href=&quot;https://esahubble.org/&quot;&gt;ESA/Hubble&lt;/a&gt; &amp; NASA');
  assert.is(p.description, 'A &quot;cool&quot; object &lt;b&gt;near&lt;/b&gt; the Sun');
  assert.is(p.imageSet.creditsUrl, 'https://esahubble.org/images/heic2405a/');
  assert.equal(JSON.parse(p.annotation!), { channel: 'esahubble', itemid: 'heic2405a', publishedUTCISO8601: '2024-03-01T12:00:00+00:00' });
  assert.is(p.constellation, 'SCL');
  // A zone in Date is kept; a bad Date is a record error naming the field.
  const zoned = djangoplicity.study({ ...details, Date: '2023-05-10T08:30:00+02:00' }, 'heic2405a').text.provenance!;
  assert.is(JSON.parse(placeAnnotation(zoned)).publishedUTCISO8601, '2023-05-10T08:30:00+02:00');
  const bad = expectToastyError(() => djangoplicity.study({ ...details, Date: 'soon' }, 'heic2405a'), 'Date');
  assert.equal([bad.code, bad.field], ['record', 'Date']);
});

test('download: the first Original resource; its absence is a record error naming Resources', () => {
  const d = asDetails({ resource_url: 'https://cdn.example/archives/images/original/heic2405a.TIF', last_updated: '2024-03-01' });
  assert.equal(djangoplicity.download(d), {
    url: 'https://cdn.example/archives/images/original/heic2405a.TIF',
    cacheName: 'image.tif',
    date: '2024-03-01',
  });
  const e = expectToastyError(() => djangoplicity.download({ ...d, Resources: [{ ResourceType: 'Large', URL: 'x' }] }), 'no Original');
  assert.is(e.code, 'record');
  assert.is(e.field, 'Resources');
});

test('completeRecords: known records spare the source; --recheck asks again, keeping a known record the source fails to give', async () => {
  const asked: string[][] = [];
  const source: SourceAdapter = {
    ...djangoplicity,
    async describe(ids) {
      asked.push([...ids]);
      const out: Candidates<SourceRecord> = { records: new Map(), rejected: [], notActionable: [] };
      for (const id of ids) {
        if (id === 'down') out.rejected.push({ id, error: new ToastyError('feed', 'details: HTTP 503', { imageId: id }) });
        else if (id === 'nowcs') out.notActionable.push({ id, reason: 'no full WCS' });
        else out.records.set(id, { Title: `new ${id}` });
      }
      return out;
    },
  };
  const listed = new Map<string, SourceRecord | null>([
    ['whole', { Title: 'from the listing' }],
    ['cached', null],
    ['down', null],
    ['nowcs', null],
    ['fresh', null],
  ]);
  const known = async (id: string) => (['cached', 'down', 'nowcs'].includes(id) ? { Title: `old ${id}` } : null);
  const io = { log: silentLog };
  let r = await completeRecords(listed, source, { known, recheck: false, io });
  assert.equal(asked, [['fresh']], 'only the image nothing knows');
  assert.equal(
    [...r.records],
    [
      ['whole', { Title: 'from the listing' }],
      ['cached', { Title: 'old cached' }],
      ['down', { Title: 'old down' }],
      ['nowcs', { Title: 'old nowcs' }],
      ['fresh', { Title: 'new fresh' }],
    ],
  );
  asked.length = 0;
  r = await completeRecords(listed, source, { known, recheck: true, io });
  assert.equal(asked, [['cached', 'down', 'nowcs', 'fresh']], 'every record the listing did not carry');
  assert.equal(
    [...r.records],
    [
      ['whole', { Title: 'from the listing' }],
      ['cached', { Title: 'new cached' }],
      ['down', { Title: 'old down' }],
      ['fresh', { Title: 'new fresh' }],
    ],
  );
  assert.equal(
    r.problems.map((p) => [p.image, p.error.message]),
    [['down', 'details: HTTP 503']],
  );
  assert.equal(r.skipped, [{ image: 'nowcs', reason: 'not actionable: no full WCS' }]);
});

test.run();
