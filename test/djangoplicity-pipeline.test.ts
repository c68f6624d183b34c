// A Djangoplicity archive end to end through the real CLI, into a local repository and into
// Azurite: listing pages (gzipped, 404 after the last), details once per work dir, placement,
// annotation, constellation and credits read back from the published WTML; skips and
// failures of single images; a second make, an empty work dir and --recheck doing only what
// they must (not-actionable images remembered, asked for again with --recheck).
import { existsSync, promises as fsp, readFileSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { NOT_ACTIONABLE_FILE } from '../src/pipeline/workdir.js';
import { parseWtml, type WtmlPlace } from '../src/wwt/wtml.js';
import { type ArchiveImage, FakeArchive, spatialFromAstropix } from './helpers/djangoplicity-archive.js';
import { Fixture, ROOT, TESTDATA, ran, stopSharedAzurite, type RepoKind, type ToastyRun } from './helpers/pipeline-fixture.js';
import { assertClose, loadVectors } from './helpers/vectors.js';
import { wwtReportProblems } from './helpers/wwt-report.js';

const PREFIX = 'http://data.example.org/feeds/test-archive/';
const CHANNEL = 'testarchive';

/** Small synthetic images at well-known places, with the constellation WWT puts them in. */
const SKY: Array<[string, number, number, string]> = [
  ['heic0009a', 83.82, -5.39, 'ORI'], // Orion Nebula
  ['heic0010a', 202.47, 47.2, 'CVN'], // M51
  ['heic0011a', 56.75, 24.12, 'TAU'], // Pleiades
  ['heic0012a', 201.37, -43.02, 'CEN'], // Centaurus A
  ['heic0013a', 148.97, 69.68, 'UMA'], // M81
  ['heic0014a', 279.23, 38.78, 'LYR'], // Vega
  ['heic0015a', 187.7, 12.39, 'VIR'], // M87
  ['heic0016a', 350.85, 58.8, 'CAS'], // Cassiopeia A
  ['heic0017a', 250.42, 36.46, 'HER'], // M13
  ['heic0018a', 80.89, -69.76, 'DOR'], // LMC
  ['heic0019a', 13.19, -72.83, 'TUC'], // SMC
  ['heic0020a', 299.9, 22.72, 'VUL'], // M27
  ['heic0021a', 24.17, 15.78, 'PSC'], // M74
  ['heic0022a', 40.67, -0.01, 'CET'], // M77
  ['heic0023a', 161.26, -59.68, 'CAR'], // Carina Nebula
  ['heic0024a', 339.27, 34.42, 'PEG'], // Stephan's Quintet
  ['heic0025a', 266.42, -29.01, 'SGR'], // Galactic centre
];
const ANDROMEDA: [number, number, string] = [10.68, 41.27, 'AND'];
const ORIGINAL_404 = 'heic0006a';
const NO_ORIGINAL = 'heic0008a';
const NO_WCS = 'heic0004a';
const BYTES_TITLE = 'potw0003a';
const EMPTY_SCALE = 'heic0005a';
const UNSAFE = '../../etc/passwd';
const FAILING = [ORIGINAL_404, NO_ORIGINAL];

const template = JSON.parse(await fsp.readFile(path.join(ROOT, 'examples', 'astropix-feed.template.json'), 'utf8')) as Array<Record<string, unknown>>;
const vectors = loadVectors().wcs_cases;

async function synthetic(hue: number): Promise<Buffer> {
  const c = (n: number) => Math.round(127 + 100 * Math.cos(hue + n));
  return sharp({ create: { width: 240, height: 160, channels: 3, background: { r: c(0), g: c(2), b: c(4) } } })
    .jpeg()
    .toBuffer();
}

/** Details as a Djangoplicity archive serves them. */
function details(id: string, base: string, o: { title: string; spatial: Record<string, unknown> | null; date?: string; credit?: string; original?: boolean }) {
  const resources: Array<Record<string, unknown>> = [{ ResourceType: 'Large', URL: `${base}/media/large/${id}.jpg`, MediaType: 'Image' }];
  if (o.original !== false) resources.push({ ResourceType: 'Original', URL: `${base}/media/original/${id}.jpg`, MediaType: 'Image' });
  return {
    Title: o.title,
    Headline: `About ${o.title}`,
    Description: `${o.title}, as seen by a test telescope.`,
    Credit: o.credit ?? 'ESA/Hubble & NASA',
    ReferenceURL: `https://archive.example/images/${id}/`,
    Date: o.date ?? '2024-03-01T12:00:00',
    Type: 'Observation',
    Resources: resources,
    Spatial: o.spatial ?? { CoordinateFrame: 'ICRS', Equinox: 'J2000', Notes: '' },
  };
}

const square = (ra: number, dec: number, second: number | string = 1e-4) => ({
  CoordinateFrame: 'ICRS',
  Equinox: 'J2000',
  ReferenceValue: [ra, dec],
  ReferenceDimension: [240, 160],
  ReferencePixel: [120.5, 80.5],
  Scale: [-1e-4, second],
  Rotation: 0,
  CoordsystemProjection: 'TAN',
});

/** An AstroPix template record's WCS, under the AVM names (numbers as strings, as sent). */
const spatialOf = spatialFromAstropix;

/** 25 listed images over three pages (10, 10, 5). */
async function archiveFor(f: Fixture): Promise<FakeArchive> {
  const base = f.baseUrl;
  const img = (id: string, d: Record<string, unknown> | null, original: Buffer | null): ArchiveImage => ({
    id,
    details: d ?? {},
    original,
    originalPath: `/media/original/${id}.jpg`,
  });
  const read = (name: string) => fsp.readFile(path.join(TESTDATA, name));
  const [ngc253, ngc7552] = template;
  const all: ArchiveImage[] = [
    img(
      'heic0001a',
      details('heic0001a', base, { title: String(ngc253.title), spatial: spatialOf(ngc253), date: String(ngc253.last_updated) }),
      await read('NGC253ALMA.jpg'),
    ),
    img(
      'noirlab0002a',
      details('noirlab0002a', base, { title: String(ngc7552.title), spatial: spatialOf(ngc7552), date: '2021-06-06T08:22:01.893842+02:00' }),
      await read('geminiann11015a.jpg'),
    ),
    img(
      BYTES_TITLE,
      details(BYTES_TITLE, base, { title: "b'Brown dwarf (artist\\xe2\\x80\\x99s concept)'", spatial: square(83.6, 22.0) }),
      await synthetic(0.3),
    ),
    img(NO_WCS, details(NO_WCS, base, { title: 'An artist impression', spatial: null }), await synthetic(0.6)),
    img(
      EMPTY_SCALE,
      details(EMPTY_SCALE, base, {
        title: 'Andromeda',
        spatial: square(ANDROMEDA[0], ANDROMEDA[1], ''),
        credit: '<a href="https://esahubble.org/">ESA/Hubble</a> & NASA',
      }),
      await synthetic(0.9),
    ),
    img(ORIGINAL_404, details(ORIGINAL_404, base, { title: 'Gone', spatial: square(30, 30) }), null),
    img(UNSAFE, null, null),
    img(NO_ORIGINAL, details(NO_ORIGINAL, base, { title: 'No original', spatial: square(60, 10), original: false }), null),
  ];
  for (const [i, [id, ra, dec]] of SKY.entries()) {
    const date = i === 3 ? '2023-05-10T08:30:00-04:00' : `2024-0${1 + (i % 9)}-15T10:00:00`;
    all.push(img(id, details(id, base, { title: `Field ${id}`, spatial: square(ra, dec), date }), await synthetic(1 + i)));
  }
  assert.is(all.length, 25);
  const archive = new FakeArchive('/images/', [all.slice(0, 10), all.slice(10, 20), all.slice(20)]);
  archive.install(f.routes);
  return archive;
}

async function writeConfig(f: Fixture, basePath = '/images'): Promise<void> {
  await f.repo.put(
    'toasty-pipeline-config.yaml',
    [
      'source_type: djangoplicity',
      `publish_url_prefix: ${PREFIX}`,
      'folder_name: Test archive',
      'folder_thumbnail_url: http://data.example.org/feeds/test-archive/thumb.jpg',
      'djangoplicity:',
      `  base_url: ${f.baseUrl}${basePath}`,
      `  channel_name: ${CHANNEL}`,
      '',
    ].join('\n'),
  );
}

const PUBLISHED = ['heic0001a', 'noirlab0002a', BYTES_TITLE, EMPTY_SCALE, ...SKY.map(([id]) => id)].sort();
const LISTED_SAFE = [...PUBLISHED, NO_WCS, ORIGINAL_404, NO_ORIGINAL].sort();

const sum = (m: Map<string, number>, ids: readonly string[]) => ids.reduce((n, id) => n + (m.get(id) ?? 0), 0);
const snapshot = (m: Map<string, number>) => new Map(m);
const grew = (before: Map<string, number>, after: Map<string, number>) => [...after.keys()].filter((id) => (after.get(id) ?? 0) > (before.get(id) ?? 0)).sort();

async function publishedPlace(f: Fixture, id: string): Promise<WtmlPlace> {
  const doc = await f.text(`${id}/index.wtml`);
  assert.ok(doc, `${id} published`);
  assert.equal(wwtReportProblems(doc!), [], `${id}: WWT's checker`);
  const folder = parseWtml(doc!);
  assert.equal([folder.name, folder.children[0].imageSet.name], [folder.children[0].name, folder.children[0].name], `${id}: one name`);
  return folder.children[0];
}

const NO_WCS_REASON = 'no full WCS (Spatial.CoordsystemProjection is not set)';

/** The work dir's remembered not-actionable verdicts. */
const remembered = (f: Fixture): Record<string, { reason: string; at: string }> => {
  const file = path.join(f.workdir, NOT_ACTIONABLE_FILE);
  return existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) : {};
};

/** The records the run left out, with why. */
const notProcessed = (r: ToastyRun) =>
  ((r.json?.skipped ?? []) as Array<{ rule: string | null; image: string; reason: string }>)
    .filter((x) => x.rule === null)
    .map(({ image, reason }) => ({ image, reason }));

/** `rule:image` of each node that failed. */
const failedNodes = (r: ToastyRun) => ((r.json?.failed ?? []) as Array<{ rule: string; image: string }>).map((n) => `${n.rule}:${n.image}`).sort();
const FAILED_FETCHES = FAILING.map((id) => `fetch:${id}`).sort();

function problemsOf(r: ToastyRun): Array<{ image: string | null; rule?: string; message: string }> {
  return (r.json?.problems ?? []) as Array<{ image: string | null; rule?: string; message: string }>;
}

const KINDS: Array<[string, RepoKind]> = [
  ['local', { kind: 'local' }],
  ['azure', { kind: 'azure', prefix: 'feeds/archive' }],
];

for (const [label, kind] of KINDS) {
  const s = suite(`djangoplicity [${label}]`);

  s('make publishes every placeable image; a second make, an empty work dir and --recheck do only what they must', async () => {
    const f = await Fixture.create(kind);
    try {
      const archive = await archiveFor(f);
      await writeConfig(f);
      // Two 503s, then the details: retried as image downloads are.
      archive.unavailable.set(SKY[2][0], 2);

      // ---- First make: everything new.
      let r = await f.run('make', '--json');
      assert.is(r.code, 1, `some images fail, the others publish\n${r.stderr}`);
      assert.equal([...archive.hits.listing.entries()].sort(), [
        [1, 1],
        [2, 1],
        [3, 1],
        [4, 1],
      ]);
      assert.ok(archive.gzipped >= 3 + LISTED_SAFE.length, 'listing pages and details came gzipped');
      assert.equal([...archive.hits.details.keys()].sort(), LISTED_SAFE, 'details of every safely listed image');
      assert.is(archive.hits.details.get(SKY[2][0]), 3, 'two retries');
      assert.is(sum(archive.hits.details, LISTED_SAFE), LISTED_SAFE.length + 2, 'the others once');
      assert.ok(archive.maxDetailsInFlight >= 2 && archive.maxDetailsInFlight <= 4, `details requests at once: ${archive.maxDetailsInFlight}`);

      const problems = problemsOf(r);
      assert.is(problems.length, 3, JSON.stringify(problems));
      const about = (id: string | null) => problems.find((p) => p.image === id);
      assert.match(about(ORIGINAL_404)!.message, /download .*\/media\/original\/heic0006a\.jpg: HTTP 404/);
      assert.is(about(ORIGINAL_404)!.rule, 'fetch');
      assert.match(about(NO_ORIGINAL)!.message, /Resources has no "Original" entry/);
      assert.match(about(null)!.message, /unsafe image id "..\/..\/etc\/passwd"/);
      assert.match(r.stderr, /FAILED \(feed entry\) \[fetch\]: unsafe image id/);
      const skipped = ((r.json?.skipped ?? []) as Array<{ rule: string | null; image: string; reason: string }>).filter((x) => x.rule === null);
      assert.equal(skipped, [{ rule: null, image: NO_WCS, reason: `not actionable: ${NO_WCS_REASON}` }]);
      assert.equal(Object.keys(remembered(f)), [NO_WCS], 'the work dir remembers it');
      assert.is(remembered(f)[NO_WCS]!.reason, NO_WCS_REASON);
      assert.equal(archive.hits.original.get(NO_WCS), undefined, 'no download for an image without WCS');

      for (const id of PUBLISHED) {
        const p = await publishedPlace(f, id);
        const d = archive.image(id).details;
        assert.is(p.imageSet.creditsUrl, d.ReferenceURL);
        assert.ok(p.imageSet.url.startsWith(`${PREFIX}${id}/`), p.imageSet.url);
        const annotation = JSON.parse(p.annotation!);
        assert.equal(Object.keys(annotation), ['channel', 'itemid', 'publishedUTCISO8601']);
        assert.equal([annotation.channel, annotation.itemid], [CHANNEL, id]);
      }
      // Placement: the real images exactly as the AstroPix vectors place them.
      for (const [id, vector] of [
        ['heic0001a', 'ngc253-alma-tiled-fullres-normal-parity'],
        ['noirlab0002a', 'ngc7552-gemini-downsampled-untiled-rot139'],
      ]) {
        const p = await publishedPlace(f, id);
        const e = vectors.find((c) => c.name === vector)!.expected;
        assertClose(p.ra, e.place.ra_hr, `${id} ra`);
        assertClose(p.dec, e.place.dec_deg, `${id} dec`);
        assertClose(p.zoomLevel, e.place.zoom_level, `${id} zoom`);
        for (const [k, ek] of [
          ['rotation', 'rotation_deg'],
          ['baseDegreesPerTile', 'base_degrees_per_tile'],
          ['offsetX', 'offset_x'],
          ['offsetY', 'offset_y'],
          ['centerX', 'center_x'],
          ['centerY', 'center_y'],
        ] as const) {
          assertClose(p.imageSet[k] as number, e.imageset[ek], `${id} ${k}`);
        }
        assert.is(p.imageSet.tileLevels, e.imageset.tile_levels, `${id} tile levels`);
      }
      const p1 = await publishedPlace(f, 'heic0001a');
      assert.is(p1.constellation, 'SCL');
      assert.is(JSON.parse(p1.annotation!).publishedUTCISO8601, '2018-04-12T19:14:41+00:00', 'a Date without a zone is UTC');
      const p2 = await publishedPlace(f, 'noirlab0002a');
      assert.is(p2.constellation, 'GRU');
      assert.is(JSON.parse(p2.annotation!).publishedUTCISO8601, '2021-06-06T08:22:01.893842+02:00', 'a zoned Date keeps its zone');
      // The synthetic images sit where their WCS says, in the constellation of that place.
      for (const [id, ra, dec, constellation] of [...SKY, [EMPTY_SCALE, ...ANDROMEDA] as const]) {
        const p = await publishedPlace(f, id);
        assertClose(p.ra * 15, ra, `${id} ra`, 1e-9, 1e-9);
        assertClose(p.dec, dec, `${id} dec`, 1e-9, 1e-9);
        assert.is(p.constellation, constellation, id);
      }
      const bytes = await publishedPlace(f, BYTES_TITLE);
      assert.is(bytes.name, 'Brown dwarf (artist\u2019s concept)', 'a byte-string title, decoded');
      const andromeda = await publishedPlace(f, EMPTY_SCALE);
      assert.is(andromeda.imageSet.credits, '&lt;a href=&quot;https://esahubble.org/&quot;&gt;ESA/Hubble&lt;/a&gt; &amp; NASA');
      assert.is(andromeda.description, 'Andromeda, as seen by a test telescope.');
      const root = parseWtml((await f.text('index.wtml'))!);
      assert.equal(root.children.map((p) => p.name).sort(), (await Promise.all(PUBLISHED.map(async (id) => (await publishedPlace(f, id)).name))).sort());
      if (kind.kind === 'local') {
        const cached = JSON.parse(await fsp.readFile(path.join(f.workdir, 'cache_done', EMPTY_SCALE, 'djangoplicity.json'), 'utf8'));
        assert.is(cached.Title, 'Andromeda', 'the details are cached beside the image');
      }

      // ---- Second make: nothing but the failed images again.
      let details = snapshot(archive.hits.details);
      let originals = snapshot(archive.hits.original);
      r = await f.run('make', '--json');
      assert.is(r.code, 1, r.stderr);
      assert.equal(ran(r), [], 'nothing is rebuilt');
      assert.equal(failedNodes(r), FAILED_FETCHES, 'the failed images are tried again');
      assert.equal(
        grew(details, archive.hits.details),
        [ORIGINAL_404, NO_ORIGINAL].sort(),
        'details only of images this work dir does not have, nor knows to be not actionable',
      );
      assert.equal(grew(originals, archive.hits.original), [ORIGINAL_404]);
      assert.equal(notProcessed(r), [
        { image: NO_WCS, reason: `not actionable: ${NO_WCS_REASON} (remembered from ${remembered(f)[NO_WCS]!.at}; --recheck asks again)` },
      ]);
      assert.match(r.stderr, /not processed: heic0004a: not actionable: no full WCS .*remembered from .*--recheck asks again/);

      // ---- A corrected credit, with --recheck: wtml, upload and the index; no download, no tiling.
      archive.image(EMPTY_SCALE).details.Credit = 'ESA/Hubble, NASA and the Test Team';
      details = snapshot(archive.hits.details);
      originals = snapshot(archive.hits.original);
      r = await f.run('make', '--recheck', '--json');
      assert.is(r.code, 1, r.stderr);
      assert.equal(grew(details, archive.hits.details), LISTED_SAFE, '--recheck asks for every listed image again');
      assert.equal(ran(r), [`fetch:${EMPTY_SCALE}`, `wtml:${EMPTY_SCALE}`, `upload:${EMPTY_SCALE}`, 'index:-']);
      assert.equal(failedNodes(r), FAILED_FETCHES);
      assert.match(r.json!.nodes.find((n) => n.rule === 'fetch' && n.image === EMPTY_SCALE)!.reason, /feed record changed \(Credit\)/);
      assert.equal(grew(originals, archive.hits.original), [ORIGINAL_404], 'the unchanged image is not downloaded again');
      assert.is((await publishedPlace(f, EMPTY_SCALE)).imageSet.credits, 'ESA/Hubble, NASA and the Test Team');
      const inRoot = parseWtml((await f.text('index.wtml'))!).children.find((p) => p.name === 'Andromeda')!;
      assert.is(inRoot.imageSet.credits, 'ESA/Hubble, NASA and the Test Team', 'the root index has the new credit');

      // ---- An empty work dir on the up-to-date repository: the build records say it all.
      await fsp.rm(f.workdir, { recursive: true, force: true });
      details = snapshot(archive.hits.details);
      originals = snapshot(archive.hits.original);
      r = await f.run('make', '--json');
      assert.is(r.code, 1, r.stderr);
      assert.equal(ran(r), [], 'nothing is rebuilt');
      assert.equal(failedNodes(r), FAILED_FETCHES);
      assert.equal(grew(details, archive.hits.details), [NO_WCS, ORIGINAL_404, NO_ORIGINAL].sort(), 'no details of published images');
      assert.equal(grew(originals, archive.hits.original), [ORIGINAL_404], 'no image downloaded');
      assert.equal(Object.keys(remembered(f)), [NO_WCS], 'the verdict is remembered again');

      // ---- The archive gives the image a WCS: still remembered, until --recheck asks again.
      archive.image(NO_WCS).details.Spatial = square(120, 20);
      details = snapshot(archive.hits.details);
      r = await f.run('make', '--json');
      assert.is(r.code, 1, r.stderr);
      assert.equal(ran(r), []);
      assert.equal(grew(details, archive.hits.details), [ORIGINAL_404, NO_ORIGINAL].sort());
      assert.equal(
        notProcessed(r).map((x) => x.image),
        [NO_WCS],
      );
      details = snapshot(archive.hits.details);
      r = await f.run('make', '--recheck', '--json');
      assert.is(r.code, 1, r.stderr);
      assert.equal(grew(details, archive.hits.details), LISTED_SAFE);
      assert.equal(ran(r), [`fetch:${NO_WCS}`, `tile:${NO_WCS}`, `wtml:${NO_WCS}`, `upload:${NO_WCS}`, 'index:-'], 'picked up');
      assert.equal(notProcessed(r), []);
      assert.equal(remembered(f), {}, 'and forgotten');
      assertClose((await publishedPlace(f, NO_WCS)).ra * 15, 120, `${NO_WCS} ra`, 1e-9, 1e-9);
    } finally {
      await f.close();
    }
  });

  s.after(async () => {
    if (kind.kind === 'azure') await stopSharedAzurite();
  });
  s.run();
}

const broken = suite('djangoplicity: listing failures');
broken('a page without its images block fails the listing (exit 1, the page named) and publishes nothing', async () => {
  const f = await Fixture.create({ kind: 'local' });
  try {
    const archive = await archiveFor(f);
    archive.brokenPage = 2;
    await writeConfig(f);
    const r = await f.run('make');
    assert.is(r.code, 1, r.stderr);
    assert.match(
      r.stderr,
      /FAILED \(feed\): listing page http:\/\/127\.0\.0\.1:\d+\/images\/archive\/search\/page\/2\/\?type=Observation: no "var images = \[" block/,
    );
    assert.equal(archive.hits.details.size, 0, 'no details asked for');
    assert.equal(
      (await f.repo.list('')).filter((e) => e.isFolder),
      [],
      'nothing published',
    );
  } finally {
    await f.close();
  }
});
broken('no first page is a wrong base_url, not an empty archive', async () => {
  const f = await Fixture.create({ kind: 'local' });
  try {
    await archiveFor(f);
    await writeConfig(f, '/gallery/');
    const r = await f.run('make');
    assert.is(r.code, 1, r.stderr);
    assert.match(
      r.stderr,
      /FAILED \(feed\): listing page .*\/gallery\/archive\/search\/page\/1\/\?type=Observation: HTTP 404 \(check base_url and search_page_name\)/,
    );
  } finally {
    await f.close();
  }
});
broken.run();
