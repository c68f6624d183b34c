// Broken and hostile input, as data: each row breaks one thing and expects a clear message
// naming the image (or the feed/config) and the reason, the right exit status, and every
// other image published. Adding a case is one row.
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseWtml } from '../src/wwt/wtml.js';
import { truncated, status, html, redirectTo, sendBytes } from './helpers/http-server.js';
import { Fixture, IDS, TESTDATA, ran } from './helpers/pipeline-fixture.js';

type Rec = Record<string, unknown>;
const GOOD = IDS.ngc7552; // the small untiled image: quick to process

interface Case {
  name: string;
  /** Change the feed: gets the fixture and the good records, returns the records to serve. */
  feed?: (f: Fixture, recs: Rec[]) => Rec[] | Promise<Rec[]>;
  /** Or serve this text as the feed. */
  feedText?: string;
  config?: Record<string, string>;
  /** Or write this text as the config file. */
  configText?: string;
  /** The publish_url_prefix the published WTML must carry. */
  prefix?: string;
  exit: number;
  /** Expected in stderr. */
  message: RegExp;
  /** Images that must still be published. */
  published?: string[];
}

const bad = (_f: Fixture, recs: Rec[], over: Rec) => [recs[1], { ...recs[1], image_id: 'broken1', ...over }];
const jpeg = await fsp.readFile(path.join(TESTDATA, 'geminiann11015a.jpg'));
const bomb = await (async () => {
  // A tiny PNG whose header declares 100000 x 100000 pixels.
  const png = await sharp({ create: { width: 1, height: 1, channels: 3, background: '#fff' } })
    .png()
    .toBuffer();
  const b = Buffer.from(png);
  b.writeUInt32BE(100000, 16);
  b.writeUInt32BE(100000, 20);
  return b;
})();

const CASES: Case[] = [
  { name: 'feed is not JSON', feedText: '<html>oops</html>', exit: 1, message: /feed .* is not valid JSON/ },
  { name: 'feed is not an array', feedText: '{"a": 1}', exit: 1, message: /not a JSON array/ },
  { name: 'feed is empty', feedText: '[]', exit: 0, message: /Repository index|up to date|Ran/ },
  { name: 'feed unreachable', config: { json_query_url: 'http://127.0.0.1:9/feed.json' }, exit: 1, message: /feed/ },
  {
    name: 'record missing a WCS field',
    feed: (f, r) => bad(f, r, { wcs_scale: undefined }),
    exit: 1,
    message: /noirlab_broken1.*wcs_scale/,
    published: [GOOD],
  },
  { name: 'WCS value not a number', feed: (f, r) => bad(f, r, { wcs_rotation: 'abc' }), exit: 1, message: /noirlab_broken1.*wcs_rotation/, published: [GOOD] },
  {
    name: 'WCS value NaN',
    feed: (f, r) => bad(f, r, { wcs_reference_value: ['NaN', '1'] }),
    exit: 1,
    message: /noirlab_broken1.*wcs_reference_value/,
    published: [GOOD],
  },
  {
    name: 'last_updated does not parse',
    feed: (f, r) => bad(f, r, { last_updated: 'yesterday' }),
    exit: 1,
    message: /noirlab_broken1.*last_updated/,
    published: [GOOD],
  },
  {
    name: 'image 404',
    feed: (f, r) => bad(f, r, { resource_url: f.serve('gone.jpg', status(404)) }),
    exit: 1,
    message: /noirlab_broken1.*404/,
    published: [GOOD],
  },
  {
    name: 'image 500 always',
    feed: (f, r) => bad(f, r, { resource_url: f.serve('err.jpg', status(500)) }),
    exit: 1,
    message: /noirlab_broken1.*500/,
    published: [GOOD],
  },
  {
    name: 'HTML instead of JPEG',
    feed: (f, r) => bad(f, r, { resource_url: f.serve('page.jpg', html()) }),
    exit: 1,
    message: /noirlab_broken1.*(HTML|not a JPEG)/,
    published: [GOOD],
  },
  {
    name: 'truncated JPEG download',
    feed: (f, r) => bad(f, r, { resource_url: f.serve('cut.jpg', truncated(jpeg, 20000, 'image/jpeg')) }),
    exit: 1,
    message: /noirlab_broken1.*(truncat|short|ended)/i,
    published: [GOOD],
  },
  {
    name: 'truncated JPEG file',
    feed: (f, r) => bad(f, r, { resource_url: f.serve('cut2.jpg', sendBytes(jpeg.subarray(0, 20000), 'image/jpeg')) }),
    exit: 1,
    message: /noirlab_broken1/,
    published: [GOOD],
  },
  {
    name: 'zero-byte image',
    feed: (f, r) => bad(f, r, { resource_url: f.serve('empty.jpg', sendBytes('', 'image/jpeg')) }),
    exit: 1,
    message: /noirlab_broken1/,
    published: [GOOD],
  },
  {
    name: 'decompression bomb',
    feed: (f, r) => bad(f, r, { resource_url: f.serve('bomb.png', sendBytes(bomb, 'image/png')) }),
    exit: 1,
    message: /noirlab_broken1.*(pixel|large|limit)/i,
    published: [GOOD],
  },
  {
    name: 'redirect to another host',
    feed: (f, r) =>
      bad(f, r, {
        resource_url: f.serve(
          'away.jpg',
          redirectTo((c) => `${c.server.otherHostBaseUrl}/geminiann11015a.jpg`),
        ),
      }),
    exit: 1,
    message: /noirlab_broken1.*(redirect|host)/i,
    published: [GOOD],
  },
  { name: 'id escaping with ..', feed: (f, r) => bad(f, r, { image_id: '../../etc' }), exit: 1, message: /image_id|unsafe/, published: [GOOD] },
  { name: 'publisher_id with a slash', feed: (f, r) => bad(f, r, { publisher_id: 'a/../b' }), exit: 1, message: /publisher_id/, published: [GOOD] },
  { name: 'NUL in id', feed: (f, r) => bad(f, r, { image_id: 'x\u0000y' }), exit: 1, message: /image_id/, published: [GOOD] },
  { name: 'absolute path id', feed: (f, r) => bad(f, r, { publisher_id: '/etc' }), exit: 1, message: /publisher_id/, published: [GOOD] },
  { name: 'very long id', feed: (f, r) => bad(f, r, { image_id: 'x'.repeat(300) }), exit: 1, message: /image_id|long/, published: [GOOD] },
  {
    name: 'duplicate ids (case only)',
    feed: (_f, r) => [r[1], { ...r[1], image_id: 'GEMINIANN11015A', title: 'dup' }],
    exit: 1,
    message: /duplicate|case/i,
    published: [GOOD],
  },
  { name: 'not actionable: non-TAN', feed: (f, r) => bad(f, r, { wcs_projection: 'SIN' }), exit: 0, message: /not actionable/, published: [GOOD] },
  {
    name: 'XML-special and unicode text survive',
    feed: (_f, r) => [{ ...r[1], title: 'Ünïcødé & <stars> "quoted" \'single\'\nline two', image_credit: 'A & B <c>' }],
    exit: 0,
    message: /Ran/,
    published: [GOOD],
  },
  { name: 'config: unknown source_type', config: { source_type: 'flickr' }, exit: 2, message: /source_type/ },
  { name: 'config: missing folder_name', config: { folder_name: '' }, exit: 2, message: /folder_name/ },
  { name: 'config: not a mapping', configText: '- just\n- a list\n', exit: 2, message: /mapping/ },
  { name: 'config: not YAML', configText: 'a: [unclosed\n', exit: 2, message: /YAML/ },
  {
    name: 'config: publish_url_prefix without a trailing slash',
    config: { publish_url_prefix: 'http://data.example.org/noslash' },
    exit: 0,
    message: /Ran/,
    published: [GOOD],
    prefix: 'http://data.example.org/noslash/',
  },
  {
    name: 'CMYK JPEG',
    feed: async (f, r) => [
      r[1],
      { ...r[1], image_id: 'cmyk', resource_url: f.serve('cmyk.jpg', sendBytes(await sharp(jpeg).toColourspace('cmyk').jpeg().toBuffer(), 'image/jpeg')) },
    ],
    exit: 0,
    message: /Ran/,
    published: [GOOD, 'noirlab_cmyk'],
  },
  {
    name: '16-bit PNG',
    feed: async (f, r) => [
      r[1],
      { ...r[1], image_id: 'sixteen', resource_url: f.serve('16.png', sendBytes(await sharp(jpeg).toColourspace('rgb16').png().toBuffer(), 'image/png')) },
    ],
    exit: 0,
    message: /Ran/,
    published: [GOOD, 'noirlab_sixteen'],
  },
  {
    name: 'greyscale JPEG',
    feed: async (f, r) => [
      r[1],
      { ...r[1], image_id: 'grey', resource_url: f.serve('grey.jpg', sendBytes(await sharp(jpeg).greyscale().jpeg().toBuffer(), 'image/jpeg')) },
    ],
    exit: 0,
    message: /Ran/,
    published: [GOOD, 'noirlab_grey'],
  },
  {
    name: 'multi-page TIFF',
    feed: async (f, r) => [r[1], { ...r[1], image_id: 'pages', resource_url: f.serve('pages.tif', sendBytes(await twoPageTiff(), 'image/tiff')) }],
    exit: 0,
    message: /Ran/,
    published: [GOOD, 'noirlab_pages'],
  },
];

/** A TIFF with two pages (the image, then a small second page). */
async function twoPageTiff(): Promise<Buffer> {
  const { width, height } = await sharp(jpeg).metadata();
  const page = await sharp(jpeg).raw().toBuffer();
  const stacked = Buffer.concat([page, Buffer.alloc(page.length, 40)]);
  return sharp(stacked, { raw: { width: width!, height: height! * 2, channels: 3, pageHeight: height! } as never })
    .tiff()
    .toBuffer();
}

for (const c of CASES) {
  test(c.name, async () => {
    const f = await Fixture.create({ kind: 'local' });
    try {
      const recs = await f.baseRecords();
      if (c.feedText !== undefined) f.feedText = c.feedText;
      if (c.feed) f.setRecords((await c.feed(f, recs)).map((x) => JSON.parse(JSON.stringify(x))));
      if (c.config) await f.writeConfig(c.config);
      if (c.configText !== undefined) await f.repo.put('toasty-pipeline-config.yaml', c.configText);
      const r = await f.run('make');
      assert.is(r.code, c.exit, `exit status\n${r.stderr}`);
      assert.match(r.stderr, c.message);
      for (const id of c.published ?? []) {
        const text = await f.text(`${id}/index.wtml`);
        assert.ok(text, `${id} published`);
        if (c.prefix) assert.ok(parseWtml(text!).children[0].imageSet.url.startsWith(`${c.prefix}${id}/`), 'prefix with its slash');
        assert.ok((await f.text('index.wtml'))?.includes(id), `${id} in the root index`);
        if (c.name.startsWith('XML-special')) {
          const place = parseWtml(text!).children[0];
          assert.is(place.name, 'Ünïcødé & <stars> "quoted" \'single\'\nline two');
          assert.is(place.imageSet.credits, 'A & B <c>');
        }
      }
      // Nothing was written outside the work dir and the repository.
      const top = (await fsp.readdir(f.tmp)).filter((d) => d !== 'work');
      assert.equal(top, ['repo']);
    } finally {
      await f.close();
    }
  });
}

test('a missing config file is a configuration error (exit 2)', async () => {
  const f = await Fixture.create({ kind: 'local' });
  try {
    await f.repo.delete('toasty-pipeline-config.yaml');
    const r = await f.run('make');
    assert.is(r.code, 2);
    assert.match(r.stderr, /toasty-pipeline-config\.yaml not found/);
  } finally {
    await f.close();
  }
});

test('a root index that cannot be written is labelled as such; the images still publish', async () => {
  const f = await Fixture.create({ kind: 'local' });
  try {
    // A folder where the root index.wtml should go: writing it fails.
    await fsp.mkdir(path.join(f.repoArgs[0].slice('--local='.length), 'index.wtml'));
    const r = await f.run('make');
    assert.is(r.code, 1, r.stderr);
    assert.match(r.stderr, /^FAILED \(root index\): /m);
    assert.match(r.stderr, /^error: index: /m);
    assert.not.match(r.stderr, /\(feed\)|index :/);
    for (const id of Object.values(IDS)) assert.ok(await f.repo.exists(`${id}/index.wtml`), `${id} published`);
  } finally {
    await f.close();
  }
});

test('a damaged manifest: exit 2 with one line naming it, no stack trace, the lock released', async () => {
  const f = await Fixture.create({ kind: 'local' });
  try {
    assert.is((await f.run('make')).code, 0);
    const file = path.join(f.workdir, 'toasty-manifest.json');
    for (const damage of ['{"format": 1, "nodes": {"tile:x"', 'null', 'garbage']) {
      await fsp.writeFile(file, damage);
      const r = await f.run('make');
      assert.is(r.code, 2, r.stderr);
      assert.match(r.stderr, /toasty-manifest\.json .*damaged/);
      assert.not.match(r.stderr, /\n\s+at /, 'no stack trace');
      assert.match(r.stderr, /Move it aside/, 'advice that works');
      assert.is(
        await fsp.access(path.join(f.workdir, '.toasty.lock')).then(
          () => true,
          () => false,
        ),
        false,
        'lock released',
      );
    }
    // The advice works: without the manifest, the build records in the repository say it all.
    await fsp.rename(file, `${file}.damaged`);
    const r = await f.run('make', '--json');
    assert.is(r.code, 0, r.stderr);
    assert.equal(ran(r), [], 'state rebuilt from the repository: nothing to redo');
  } finally {
    await f.close();
  }
});

test('reindex skips a folder whose index.wtml is unparseable, with a warning', async () => {
  const f = await Fixture.create({ kind: 'local' });
  try {
    assert.is((await f.run('make')).code, 0);
    await f.repo.put('junk_folder/index.wtml', '<Folder><Place');
    const r = await f.run('pipeline-reindex');
    assert.is(r.code, 0, r.stderr);
    assert.match(r.stderr, /junk_folder/);
    const root = parseWtml((await f.text('index.wtml'))!);
    assert.is(root.children.length, 2);
  } finally {
    await f.close();
  }
});

test.run();
