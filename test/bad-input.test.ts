// Broken and hostile input, as data: each row breaks one thing and expects a clear message
// naming the image (or the feed/config) and the reason, the right exit status, and every
// other image published. Adding a case is one row.
import { type Dirent, promises as fsp } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { createDeflate, crc32 } from 'node:zlib';
import sharp from 'sharp';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { temporaryOwner } from '../src/util/temporaries.js';
import { parseWtml } from '../src/wwt/wtml.js';
import { truncated, status, html, redirectTo, sendBytes, trickle } from './helpers/http-server.js';
import { Fixture, IDS, ROOT, TESTDATA, ran } from './helpers/pipeline-fixture.js';

type Rec = Record<string, unknown>;
const GOOD = IDS.ngc7552; // the small untiled image: quick to process

interface Case {
  name: string;
  /** Change the feed: gets the fixture and the good records, returns the records to serve. */
  feed?: (f: Fixture, recs: Rec[]) => Rec[] | Promise<Rec[]>;
  /** Or serve this text as the feed. */
  feedText?: string;
  config?: Record<string, string> | ((f: Fixture) => Record<string, string>);
  /** Prepare the repository or the fixture before the run. */
  setup?: (f: Fixture) => Promise<void>;
  /** Extra command-line arguments, and environment for the toasty process. */
  args?: string[];
  env?: Record<string, string>;
  /** Text that must appear nowhere in stdout or stderr (credentials in URLs). */
  secrets?: string[];
  /** Peak RSS of the toasty process must stay below this. */
  maxRssMb?: number;
  /** Further checks on what the run left. */
  check?: (f: Fixture) => Promise<void>;
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
/** A broken WCS: refused before its image (served at /wcs.jpg) is downloaded. */
const badWcs = (f: Fixture, recs: Rec[], over: Rec) => bad(f, recs, { resource_url: f.serve('wcs.jpg', sendBytes(jpeg, 'image/jpeg')), ...over });
const notDownloaded = async (f: Fixture) => assert.is(f.server.hits.get('/wcs.jpg') ?? 0, 0, 'the image was not downloaded');
/** The fixture's base URL with credentials in it. */
const withCredentials = (f: Fixture) => f.baseUrl.replace('http://', 'http://curator:hunter2pass@');
const MAXRSS_HOOK = pathToFileURL(path.join(ROOT, 'test', 'helpers', 'report-maxrss.mjs')).href;

/**
 * A greyscale PNG of `width` x `height` mid-grey pixels, built by hand (streamed through deflate)
 * so a huge declared size costs little to make: 400000 x 1000 is about 0.4 MB.
 */
async function widePng(width: number, height: number): Promise<Buffer> {
  const chunk = (type: string, data: Buffer) => {
    const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
    const out = Buffer.alloc(body.length + 8);
    out.writeUInt32BE(data.length, 0);
    body.copy(out, 4);
    out.writeUInt32BE(crc32(body), body.length + 4);
    return out;
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header[8] = 8; // bit depth; colour type 0 (grey), no interlace
  const z = createDeflate({ level: 9 });
  const parts: Buffer[] = [];
  z.on('data', (d: Buffer) => parts.push(d));
  const ended = new Promise((r) => z.on('end', r));
  const row = Buffer.alloc(width + 1, 128);
  row[0] = 0; // filter: none
  for (let y = 0; y < height; y++) if (!z.write(row)) await new Promise((r) => z.once('drain', r));
  z.end();
  await ended;
  const signature = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  return Buffer.concat([signature, chunk('IHDR', header), chunk('IDAT', Buffer.concat(parts)), chunk('IEND', Buffer.alloc(0))]);
}
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
  {
    name: 'feed unreachable',
    config: { json_query_url: 'http://127.0.0.1:9/feed.json' },
    exit: 2,
    message: /^error: feed http:\/\/127\.0\.0\.1:9\/feed\.json: connection failed/m,
  },
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
    name: 'slow image server: a byte at a time stops at the download deadline',
    feed: (f, r) =>
      bad(f, r, { resource_url: f.serve('drip.jpg', trickle(jpeg.subarray(0, 40), { chunkBytes: 1, intervalMs: 100, contentType: 'image/jpeg' })) }),
    args: ['--download-timeout', '1'],
    exit: 1,
    message: /noirlab_broken1.*took longer than the download deadline of 1 s, after \d+ of 40 bytes/,
    published: [GOOD],
  },
  {
    name: 'credentials in the image URL are neither sent nor printed',
    feed: (f, r) => bad(f, r, { resource_url: `${withCredentials(f)}/geminiann11015a.jpg?sig=TOPSECRETSIG&v=1` }),
    args: ['--json'],
    exit: 1,
    message: /noirlab_broken1.*\/geminiann11015a\.jpg\?sig=REDACTED&v=1: the URL carries a user name or password/,
    secrets: ['hunter2pass', 'curator', 'TOPSECRETSIG'],
    published: [GOOD],
  },
  {
    name: 'credentials in the feed URL are neither sent nor printed',
    config: (f) => ({ json_query_url: `${withCredentials(f)}/feed.json?token=FEEDSECRET` }),
    args: ['--json'],
    exit: 1,
    message: /feed .*\/feed\.json\?token=REDACTED: the URL carries a user name or password/,
    secrets: ['hunter2pass', 'curator', 'FEEDSECRET'],
  },
  {
    name: 'redirect to the same host on another port',
    feed: (f, r) => bad(f, r, { resource_url: f.serve('port.jpg', redirectTo('http://127.0.0.1:9/geminiann11015a.jpg')) }),
    exit: 1,
    message: /noirlab_broken1.*refused redirect to another origin \(http:\/\/127\.0\.0\.1:9\)/,
    published: [GOOD],
  },
  {
    name: 'WCS: Dec beyond the pole',
    feed: (f, r) => badWcs(f, r, { wcs_reference_value: ['10', '95'] }),
    exit: 1,
    message: /noirlab_broken1.*wcs_reference_value: Dec 95 is outside -90\.\.90/,
    published: [GOOD],
    check: notDownloaded,
  },
  {
    name: 'WCS: RA 1e308',
    feed: (f, r) => badWcs(f, r, { wcs_reference_value: ['1e308', '10'] }),
    exit: 1,
    message: /noirlab_broken1.*wcs_reference_value: RA 1e\+308 is outside/,
    published: [GOOD],
    check: notDownloaded,
  },
  {
    name: 'WCS: reference pixel 1e308',
    feed: (f, r) => badWcs(f, r, { wcs_reference_pixel: ['1e308', '1696'] }),
    exit: 1,
    message: /noirlab_broken1.*wcs_reference_pixel: .* not a usable TAN WCS/,
    published: [GOOD],
    check: notDownloaded,
  },
  {
    name: 'WCS: a scale that makes the image span the sky',
    feed: (f, r) => badWcs(f, r, { wcs_scale: ['-1', '1'] }),
    exit: 1,
    message: /noirlab_broken1.*wcs_scale: .* 4958 degrees across/,
    published: [GOOD],
    check: notDownloaded,
  },
  {
    name: 'WCS: absurd reference dimensions',
    feed: (f, r) => badWcs(f, r, { wcs_reference_dimension: ['1e300', '1e300'] }),
    exit: 1,
    message: /noirlab_broken1.*wcs_reference_dimension: .* beyond any image/,
    published: [GOOD],
    check: notDownloaded,
  },
  {
    name: 'WCS: RA below 0 is normalised',
    feed: (_f, r) => [{ ...r[1], wcs_reference_value: ['-10.950219386', '-42.5874939584'] }],
    exit: 0,
    message: /Ran/,
    published: [GOOD],
    check: async (f) => {
      const set = parseWtml((await f.text(`${GOOD}/index.wtml`))!).children[0]!.imageSet;
      assert.ok(Math.abs(set.centerX - 349.049780614) < 1e-9, String(set.centerX));
    },
  },
  {
    name: 'many images that 404 leave no empty folders',
    feed: (f, r) => [r[1], ...Array.from({ length: 30 }, (_, i) => ({ ...r[1], image_id: `gone${i}`, resource_url: f.serve(`gone${i}.jpg`, status(404)) }))],
    exit: 1,
    message: /noirlab_gone29.*404/,
    published: [GOOD],
  },
  {
    name: 'very wide PNG within the pixel limit: refused by width, memory stays low',
    feed: async (f, r) =>
      bad(f, r, {
        resource_url: f.serve('wide.png', sendBytes(await widePng(400_000, 1000), 'image/png')),
        wcs_reference_dimension: ['400000', '1000'],
        wcs_reference_pixel: ['200000', '500'],
      }),
    env: { NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --import=${MAXRSS_HOOK}`.trim() },
    exit: 1,
    message: /noirlab_broken1.*image is 400000 px wide .*above the width limit of 65536 px/,
    maxRssMb: 400,
    published: [GOOD],
  },
  {
    name: 'image folder symlinked out of the repository is not written through',
    setup: async (f) => {
      await fsp.mkdir(path.join(f.tmp, 'outside'));
      await fsp.symlink(path.join(f.tmp, 'outside'), path.join(f.tmp, 'repo', 'noirlab_linked'));
    },
    feed: (_f, r) => [r[1], { ...r[1], image_id: 'linked', title: 'Linked' }],
    exit: 1,
    message: /noirlab_linked.*refused to write noirlab_linked\/.*noirlab_linked is a symbolic link to .*outside, outside the repository/,
    published: [GOOD],
    check: async (f) => {
      assert.equal(await fsp.readdir(path.join(f.tmp, 'outside')), [], 'nothing written through the link');
      assert.not.ok((await f.text('index.wtml'))!.includes('noirlab_linked'));
    },
  },
  {
    name: 'multi-page TIFF',
    feed: async (f, r) => [r[1], { ...r[1], image_id: 'pages', resource_url: f.serve('pages.tif', sendBytes(await twoPageTiff(), 'image/tiff')) }],
    exit: 0,
    message: /Ran/,
    published: [GOOD, 'noirlab_pages'],
  },
];

/** Folders below `dir` with nothing in them. */
async function emptyFolders(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await fsp.readdir(dir, { withFileTypes: true }).catch(() => [] as Dirent[])) {
    if (!e.isDirectory()) continue;
    const p = path.join(dir, e.name);
    if ((await fsp.readdir(p)).length === 0) out.push(e.name);
    else out.push(...(await emptyFolders(p)).map((n) => `${e.name}/${n}`));
  }
  return out;
}

/** Toasty temporaries (by name) anywhere below `dir`. */
async function temporariesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await fsp.readdir(dir, { withFileTypes: true }).catch(() => [] as Dirent[])) {
    if (temporaryOwner(e.name) !== null) out.push(e.name);
    if (e.isDirectory()) out.push(...(await temporariesUnder(path.join(dir, e.name))).map((n) => `${e.name}/${n}`));
  }
  return out;
}

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
      if (c.config) await f.writeConfig(typeof c.config === 'function' ? c.config(f) : c.config);
      if (c.configText !== undefined) await f.repo.put('toasty-pipeline-config.yaml', c.configText);
      await c.setup?.(f);
      Object.assign(f.env, c.env);
      const r = await f.run('make', ...(c.args ?? []));
      if (c.maxRssMb !== undefined) {
        const kb = Number(/toasty-test-maxrss-kb=(\d+)/.exec(r.stderr)?.[1]);
        assert.ok(kb > 0 && kb < c.maxRssMb * 1024, `peak RSS ${Math.round(kb / 1024)} MB, limit ${c.maxRssMb} MB`);
      }
      assert.is(r.code, c.exit, `exit status\n${r.stderr}`);
      assert.match(r.stderr, c.message);
      for (const secret of c.secrets ?? []) assert.not.ok(`${r.stdout}${r.stderr}`.includes(secret), `output shows ${secret}`);
      await c.check?.(f);
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
      // Nothing was written outside the work dir and the repository (`outside` is a test's own).
      const top = (await fsp.readdir(f.tmp)).filter((d) => d !== 'work' && d !== 'outside');
      assert.equal(top, ['repo']);
      // Nor left behind in the work dir: empty image folders, temporaries.
      assert.equal(await emptyFolders(path.join(f.workdir, 'cache_todo')), [], 'no empty folders in cache_todo');
      assert.equal(await temporariesUnder(f.workdir), [], 'no temporaries left');
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

test('--force and --only patterns that match no image: exit 2 naming the pattern and the closest ids', async () => {
  const f = await Fixture.create({ kind: 'local' });
  try {
    // The feed's own image id, not toasty's unique id: the mistake a curator makes first.
    let r = await f.run('make', '--force', 'NRAO_Gallery009');
    assert.is(r.code, 2, r.stderr);
    assert.match(r.stderr, /--force NRAO_Gallery009 matches no image of the feed; closest: nrao_nrao_gallery009/);
    r = await f.run('make', '--only', 'zzz*');
    assert.is(r.code, 2, r.stderr);
    assert.match(r.stderr, /--only zzz\* matches no image/);
    assert.is(await f.repo.exists(`${IDS.ngc253}/index.wtml`), false, 'nothing was done');
    r = await f.run('make', '--force', 'nrao_*');
    assert.is(r.code, 0, r.stderr);
  } finally {
    await f.close();
  }
});

test('the summary agrees with the failures: never "up to date" beside FAILED lines', async () => {
  const f = await Fixture.create({ kind: 'local' });
  try {
    f.setRecords((await f.baseRecords()).map((r) => ({ ...r, resource_url: `${f.baseUrl}/missing-${String(r.image_id)}.jpg` })));
    const r = await f.run('make');
    assert.is(r.code, 1, r.stderr);
    assert.is((r.stderr.match(/^FAILED /gm) ?? []).length, 2);
    assert.not.match(r.stderr, /up to date/);
    assert.match(r.stderr, /2 problem\(s\), below\./);
  } finally {
    await f.close();
  }
});

test('config: unknown keys warn naming the closest known one; YAML errors give the line and column', async () => {
  const f = await Fixture.create({ kind: 'local' });
  try {
    const good = (await f.text('toasty-pipeline-config.yaml'))!;
    await f.repo.put(
      'toasty-pipeline-config.yaml',
      `${good.replace('folder_thumbnail_url:', 'folder_thumbnail_ur:')}astropix_extra: 1\n`.replace('astropix:\n', 'astropix:\n  json_query_ur1: x\n'),
    );
    let r = await f.run('make');
    assert.is(r.code, 0, r.stderr);
    assert.match(r.stderr, /warning: toasty-pipeline-config\.yaml: unknown setting folder_thumbnail_ur is ignored \(did you mean folder_thumbnail_url\?\)/);
    assert.match(r.stderr, /unknown setting astropix\.json_query_ur1 is ignored \(did you mean astropix\.json_query_url\?\)/);
    assert.match(r.stderr, /unknown setting astropix_extra is ignored \(did you mean astropix\?\)/);
    await f.repo.put('toasty-pipeline-config.yaml', 'source_type: astropix\nastropix:\n  json_query_url: [unclosed\npublish_url_prefix: x\n');
    r = await f.run('make');
    assert.is(r.code, 2, r.stderr);
    assert.match(r.stderr, /toasty-pipeline-config\.yaml: not valid YAML at line \d+, column \d+/);
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

test('hostile index.wtml in the repository: deep nesting and repeated attributes are skipped quickly, unknown attributes stay out of the root index', async () => {
  const f = await Fixture.create({ kind: 'local' });
  try {
    assert.is((await f.run('make')).code, 0);
    const good = (await f.text(`${GOOD}/index.wtml`))!;
    const depth = 20_000;
    await f.repo.put('deep/index.wtml', `<Folder Name="x">${'<Folder>'.repeat(depth)}${'</Folder>'.repeat(depth)}</Folder>`);
    await f.repo.put('twice/index.wtml', good.replace('<Place ', '<Place Name="impostor" '));
    // A valid Place carrying attributes WWT does not define (and one it does: DemUrl).
    await f.repo.put(
      'extra/index.wtml',
      good.replace('<Place ', '<Place onload="alert(1)" ').replace('<ImageSet ', '<ImageSet DemUrl="dem/{1}.png" data-x="1" '),
    );
    const t0 = performance.now();
    const r = await f.run('pipeline-reindex');
    const ms = performance.now() - t0;
    assert.is(r.code, 0, r.stderr);
    assert.ok(ms < 5000, `reindex took ${Math.round(ms)} ms`);
    assert.match(r.stderr, /skipping deep: .*nests elements more than 32 deep/);
    assert.match(r.stderr, /skipping twice: .*<Place> has the attribute Name twice/);
    const text = (await f.text('index.wtml'))!;
    const root = parseWtml(text);
    assert.equal(root.children.map((p) => p.imageSet.url.split('/').at(-2)).sort(), [GOOD, GOOD, IDS.ngc253].sort(), 'the two images and the extra copy');
    assert.not.ok(/onload|data-x|alert/.test(text), 'no attribute WWT does not define');
    assert.ok(text.includes('DemUrl="dem/{1}.png"'), 'attributes WWT defines are kept');
  } finally {
    await f.close();
  }
});

test.run();
