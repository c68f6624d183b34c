import { fileURLToPath } from 'node:url';
// The AstroPix source: unique ids and their safety, not-actionable records, download URLs and
// cache names (shared vectors), feed parsing, and robust downloading against a loopback server.
import { readFileSync, promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { cachedImageName, downloadUrl, notActionableReason, parseFeed, sizeLadder, type AstroPixRecord } from '../src/sources/astropix.js';
import { downloadImage, fetchFeedText, redactUrl, type HttpOptions } from '../src/sources/http.js';
import { caseFoldKey, checkSafeId, uniqueId } from '../src/sources/ids.js';
import { ToastyError } from '../src/util/errors.js';
import { redactSecrets } from '../src/util/redact.js';
import {
  delayHeaders,
  failTimes,
  html,
  redirectTo,
  resetConnection,
  sendBytes,
  sendFile,
  startTestServer,
  status,
  trickle,
  truncated,
  type Handler,
  type TestServer,
} from './helpers/http-server.js';

// Test inputs live in the repository: the example images and a copy of the reference vectors.
const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const TESTDATA = path.join(REPO_ROOT, 'examples', 'images');
const vectors = JSON.parse(readFileSync(path.join(REPO_ROOT, 'test', 'fixtures', 'wwt-study-vectors.json'), 'utf8'));
const NGC253 = path.join(TESTDATA, 'NGC253ALMA.jpg');
const GEMINI = path.join(TESTDATA, 'geminiann11015a.jpg');
const ngc253Bytes = readFileSync(NGC253);

interface WcsCase {
  name: string;
  input: { record: AstroPixRecord };
  expected: { unique_id: string; download_url?: string; cached_image_name?: string; not_actionable?: string };
}
const wcsCases = vectors.wcs_cases as WcsCase[];

/** The ToastyError a promise (or function) fails with; fails the test if it succeeds. */
async function failure(p: Promise<unknown> | (() => unknown)): Promise<ToastyError> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (e) {
    assert.instance(e, ToastyError, `expected a ToastyError, got ${String(e)}`);
    return e as ToastyError;
  }
  assert.unreachable('expected a failure');
  throw new Error('unreachable');
}

const rec = (over: AstroPixRecord): AstroPixRecord => ({
  publisher_id: 'nrao',
  image_id: 'NRAO_Gallery009',
  wcs_projection: 'TAN',
  resource_url: 'https://example.org/a.jpg',
  image_max_boundry: '2166',
  ...over,
});

// ---------------------------------------------------------------------------------------------
// Shared vectors

test('vectors: unique id, not-actionable reason, download URL and cache name for every wcs case', () => {
  assert.ok(wcsCases.length >= 11);
  for (const c of wcsCases) {
    const r = c.input.record;
    assert.is(uniqueId(r), c.expected.unique_id, c.name);
    if (c.expected.not_actionable !== undefined) {
      assert.is(notActionableReason(r), c.expected.not_actionable, c.name);
    } else {
      assert.is(notActionableReason(r), null, c.name);
      const url = downloadUrl(r);
      assert.is(url, c.expected.download_url, c.name);
      assert.is(cachedImageName(url), c.expected.cached_image_name, c.name);
    }
  }
});

test('vectors: the same cases through parseFeed', () => {
  const feed = parseFeed(JSON.stringify(wcsCases.map((c) => c.input.record)), 'vectors');
  assert.is(feed.rejected.length, 0);
  const actionable = wcsCases.filter((c) => c.expected.not_actionable === undefined);
  assert.equal(
    feed.entries.map((e) => [e.id, e.url, e.cachedImageName]),
    actionable.map((c) => [c.expected.unique_id, c.expected.download_url, c.expected.cached_image_name]),
  );
  assert.equal(
    feed.notActionable.map((n) => [n.id, n.reason]),
    wcsCases.filter((c) => c.expected.not_actionable).map((c) => [c.expected.unique_id, c.expected.not_actionable]),
  );
});

test('vectors: AstroPix size ladder', () => {
  const cases = vectors.astropix_size_ladder_cases as Array<{ image_max_boundry: string; chosen_size: number }>;
  assert.ok(cases.length >= 16);
  for (const c of cases) assert.is(sizeLadder(c.image_max_boundry), c.chosen_size, c.image_max_boundry);
});

// ---------------------------------------------------------------------------------------------
// Size ladder, URLs, cache names

test('size ladder parses "4958.0", numbers and padded strings; bad values name the field', async () => {
  assert.is(sizeLadder('4958.0'), 3000);
  assert.is(sizeLadder(' 24000.5 '), 24000);
  assert.is(sizeLadder(1024.9), 1024);
  assert.is(sizeLadder('1.2e4'), 12000);
  for (const bad of ['', 'abc', '-5', '0x10', '1e999', null, undefined, NaN, -1, ['4958'], {}]) {
    const e = await failure(() => sizeLadder(bad));
    assert.is(e.code, 'record', String(bad));
    assert.is(e.field, 'image_max_boundry');
  }
});

test('download URL: resource_url wins unless empty; archive parts are percent-encoded', async () => {
  assert.is(downloadUrl(rec({ resource_url: ' https://example.org/x.png ' })), 'https://example.org/x.png');
  const archive = 'http://astropix.ipac.caltech.edu/archive/nrao/nrao_gallery009/nrao_nrao_gallery009_1600.jpg';
  for (const empty of [null, '', '   ', undefined]) {
    assert.is(downloadUrl(rec({ resource_url: empty })), archive, String(empty));
  }
  assert.is(
    downloadUrl(rec({ resource_url: null, image_id: 'M(51),a+b', image_max_boundry: '4958.0' })),
    'http://astropix.ipac.caltech.edu/archive/nrao/m%2851%29%2Ca%2Bb/nrao_m%2851%29%2Ca%2Bb_3000.jpg',
  );
  const bad: Array<[unknown, string]> = [
    ['/media/x.jpg', 'not an absolute URL'],
    ['ftp://example.org/x.jpg', 'unsupported scheme ftp:'],
    [42, 'not a string'],
  ];
  for (const [value, msg] of bad) {
    const e = await failure(() => downloadUrl(rec({ resource_url: value })));
    assert.is(e.code, 'record');
    assert.is(e.field, 'resource_url');
    assert.ok(e.message.includes(msg), e.message);
  }
  const e = await failure(() => downloadUrl(rec({ resource_url: '', image_max_boundry: 'big' })));
  assert.is(e.field, 'image_max_boundry');
});

test('cache name: extension of the URL path, lower-cased, jpeg -> jpg', () => {
  const table: Array<[string, string]> = [
    ['https://example.org/media/eso1234a.JPEG', 'image.jpg'],
    ['https://example.org/a.tif', 'image.tif'],
    ['https://example.org/a.TIFF?x=1', 'image.tiff'],
    ['https://example.org/a.png?format=.jpg', 'image.png'],
    ['https://example.org/getimage?name=a.png', 'image.jpg'],
    ['https://example.org/dir.v2/image', 'image.jpg'],
    ['https://example.org/dir/', 'image.jpg'],
    ['https://example.org/a.jpg#frag.png', 'image.jpg'],
    ['https://example.org/a.tar.gz', 'image.gz'],
    ['https://example.org/a.p%20g', 'image.jpg'],
    ['file:///data/images/M51.PNG', 'image.png'],
    [pathToFileURL('/tmp/x y/z.JPG').href, 'image.jpg'],
  ];
  for (const [url, name] of table) assert.is(cachedImageName(url), name, url);
});

test('not actionable: "/" in image_id first, then non-TAN or missing projection', () => {
  assert.is(notActionableReason(rec({ image_id: 'a/b', wcs_projection: 'SIN' })), 'AstroPix images with "/" in their IDs are not retrievable');
  assert.is(notActionableReason(rec({ wcs_projection: 'tan' })), 'cannot ingest images in non-TAN projections');
  assert.match(notActionableReason(rec({ wcs_projection: undefined })) ?? '', /wcs_projection is missing/);
  assert.is(notActionableReason(rec({})), null);
});

// ---------------------------------------------------------------------------------------------
// Id safety

test('unsafe ids are rejected naming the field and the (escaped) raw value', async () => {
  // [publisher_id, image_id, field at fault, text expected in the message]
  const table: Array<[string, string, 'publisher_id' | 'image_id', string]> = [
    ['nrao', '..', 'image_id', 'contains ".."'],
    ['a/../b', 'x', 'publisher_id', '"a/../b"'],
    ['nrao', 'a\\b', 'image_id', 'backslash'],
    ['nrao', 'a\u0000b', 'image_id', '"a\\u0000b"'],
    ['nrao', 'a\nb', 'image_id', 'control character'],
    ['nrao', '.hidden', 'image_id', 'starts with "."'],
    ['nrao', 'trailing.', 'image_id', 'ends with "."'],
    ['/etc', 'passwd', 'publisher_id', 'absolute path'],
    ['nrao', '/etc/passwd', 'image_id', 'absolute path'],
    ['nrao', 'a//b', 'image_id', 'is empty'],
    ['nrao', 'a/', 'image_id', 'is empty'],
    ['nrao', 'x'.repeat(300), 'image_id', 'longer than 200'],
    ['nrao', 'a b', 'image_id', 'character " "'],
    ['nrao', 'C:x', 'image_id', 'character ":"'],
    ['nrao', '%2e%2e', 'image_id', 'character "%"'],
    ['nrao', 'café', 'image_id', 'character "é"'],
    ['nrao', '~root', 'image_id', 'character "~"'],
    ['nul.x', 'y', 'publisher_id', 'reserved device name'],
    ['', 'x', 'publisher_id', 'publisher_id is empty'],
  ];
  for (const [pub, id, field, text] of table) {
    const e = await failure(() => uniqueId({ publisher_id: pub, image_id: id }));
    const label = `${JSON.stringify(pub)} / ${JSON.stringify(id)}: ${e.message}`;
    assert.ok(e.code === 'unsafe-id' || (e.code === 'record' && pub === ''), label);
    assert.is(e.field, field, label);
    assert.ok(e.message.includes(text), label);
    assert.not.ok(e.message.includes('\u0000'), label);
  }
  // The final id is limited too (each part alone fits).
  const e = await failure(() => uniqueId({ publisher_id: 'p'.repeat(150), image_id: 'i'.repeat(100) }));
  assert.is(e.code, 'unsafe-id');
  assert.match(e.message, /longer than 200/);
});

test('safe ids pass; missing or non-string fields are record errors naming the field', async () => {
  assert.is(uniqueId({ publisher_id: 'nrao', image_id: 'NRAO_Gallery009' }), 'nrao_nrao_gallery009');
  assert.is(uniqueId({ publisher_id: 'NOIRLab', image_id: 'VLA/2012/a' }), 'NOIRLab_vla_2012_a');
  assert.is(uniqueId({ publisher_id: 'esa', image_id: 'Heic(01),a+b-c.v2' }), 'esa_heic(01),a+b-c.v2');
  for (const [r, field, text] of [
    [{ publisher_id: 'nrao' }, 'image_id', 'image_id is missing'],
    [{ image_id: 'x' }, 'publisher_id', 'publisher_id is missing'],
    [{ publisher_id: 'nrao', image_id: 42 }, 'image_id', 'not a string'],
    [{ publisher_id: 'nrao', image_id: null }, 'image_id', 'missing'],
  ] as Array<[AstroPixRecord, string, string]>) {
    const e = await failure(() => uniqueId(r));
    assert.is(e.code, 'record');
    assert.is(e.field, field);
    assert.ok(e.message.includes(text), e.message);
  }
  for (const bad of ['', 'a/b', '../x', 'x\\y', 'COM1']) assert.is((await failure(() => checkSafeId(bad))).code, 'unsafe-id', bad);
  assert.is(checkSafeId('nrao_nrao_gallery009'), 'nrao_nrao_gallery009');
  assert.is(caseFoldKey('NRAO_x'), caseFoldKey('nrao_X'));
  assert.is.not(caseFoldKey('nrao_x'), caseFoldKey('nrao_y'));
});

// ---------------------------------------------------------------------------------------------
// Feed parsing

test('feed: not JSON / not an array throw a feed error naming the source', async () => {
  let e = await failure(() => parseFeed('{"a": ', 'http://feeds.example/astropix.json'));
  assert.is(e.code, 'feed');
  assert.match(e.message, /feed http:\/\/feeds\.example\/astropix\.json is not valid JSON/);
  e = await failure(() => parseFeed('<!DOCTYPE html><html>', 'feed.json'));
  assert.match(e.message, /looks like HTML/);
  e = await failure(() => parseFeed('{"records": []}', 'feed.json'));
  assert.is(e.code, 'feed');
  assert.match(e.message, /feed\.json is not a JSON array of records \(got an object\)/);
  e = await failure(() => parseFeed('', 'feed.json'));
  assert.is(e.code, 'feed');
  const empty = parseFeed(' [] ', 'feed.json');
  assert.equal(empty, { entries: [], notActionable: [], rejected: [] });
});

test('feed: non-object items, missing and unsafe ids are rejected per record', () => {
  const good = rec({});
  const feed = parseFeed(
    JSON.stringify([1, null, [good], 'x', { image_id: 'a' }, rec({ image_id: '../../etc' }), good, rec({ image_id: 'b', resource_url: 'gopher://x' })]),
    'f',
  );
  assert.equal(
    feed.entries.map((e) => [e.index, e.id]),
    [[6, 'nrao_nrao_gallery009']],
  );
  const rej = feed.rejected.map((r) => [r.index, r.id, r.error.code, r.error.field ?? null]);
  assert.equal(rej, [
    [0, null, 'record', null],
    [1, null, 'record', null],
    [2, null, 'record', null],
    [3, null, 'record', null],
    [4, null, 'record', 'publisher_id'],
    [5, null, 'unsafe-id', 'image_id'],
    [7, 'nrao_b', 'record', 'resource_url'],
  ]);
  assert.match(feed.rejected[1]!.error.message, /feed item #1 is not a JSON object \(got null\)/);
  assert.match(feed.rejected[2]!.error.message, /got an array/);
  assert.match(feed.rejected[4]!.error.message, /feed item #4: publisher_id is missing/);
  assert.is(feed.rejected[6]!.error.imageId, 'nrao_b');
});

test('feed: duplicate ids keep the first, exact or differing only by case', () => {
  const feed = parseFeed(
    JSON.stringify([
      rec({ image_id: 'M51', title: 'first' }),
      rec({ image_id: 'm51', title: 'same id' }), // lower(image_id) -> identical id
      rec({ publisher_id: 'NRAO', image_id: 'm51', title: 'case only' }), // NRAO_m51 vs nrao_m51
      rec({ image_id: 'X/1', title: 'not actionable' }),
      rec({ image_id: 'x_1', title: 'collides with the not-actionable one' }),
    ]),
    'f',
  );
  assert.equal(
    feed.entries.map((e) => e.record.title),
    ['first'],
  );
  assert.equal(
    feed.notActionable.map((n) => [n.id, n.index]),
    [['nrao_x_1', 3]],
  );
  assert.equal(
    feed.rejected.map((r) => [r.index, r.id, r.error.code]),
    [
      [1, 'nrao_m51', 'record'],
      [2, 'NRAO_m51', 'unsafe-id'],
      [4, 'nrao_x_1', 'record'],
    ],
  );
  assert.match(feed.rejected[0]!.error.message, /duplicate id: feed item #1 repeats item #0/);
  assert.match(feed.rejected[1]!.error.message, /differs only by letter case from "nrao_m51" \(feed item #0\)/);
});

// ---------------------------------------------------------------------------------------------
// Downloads against a loopback server

let srv: TestServer;
/** A second server on 127.0.0.1: the same host, another port. */
let other: TestServer;
let tmp: string;
let n = 0;
const fast: HttpOptions = { retryBaseMs: 5, timeoutMs: 2000 };
const dest = () => path.join(tmp, `case${++n}`, 'cache_todo', 'x', 'image.jpg');

/** Chunked (no Content-Length) body of `size` bytes starting with a JPEG signature. */
const chunkedJpeg =
  (size: number): Handler =>
  (_req, res) => {
    res.writeHead(200, { 'content-type': 'image/jpeg' });
    const block = Buffer.alloc(64 * 1024, 0x20);
    block[0] = 0xff;
    block[1] = 0xd8;
    block[2] = 0xff;
    for (let sent = 0; sent < size; sent += block.length) res.write(block.subarray(0, Math.min(block.length, size - sent)));
    res.end();
  };

test.before(async () => {
  tmp = await fsp.mkdtemp(path.join(os.tmpdir(), 'toasty-sources-'));
  const feedTemplate = readFileSync(path.join(REPO_ROOT, 'examples', 'astropix-feed.template.json'), 'utf8');
  srv = await startTestServer({
    root: TESTDATA,
    routes: {
      '/feed.json': (req, res, ctx) => sendBytes(feedTemplate.replaceAll('{{BASE}}', ctx.server.baseUrl), 'application/json')(req, res, ctx),
      '/missing.jpg': status(404),
      '/flaky.jpg': failTimes(2, 500, sendFile(NGC253)),
      '/busy.jpg': failTimes(1, status(429, 'slow down', { 'retry-after': '0' }), sendFile(NGC253)),
      '/broken.jpg': status(500),
      '/slow-headers.jpg': delayHeaders(5000, sendFile(NGC253)),
      '/stall.jpg': trickle(ngc253Bytes, { firstChunkBytes: 1000, chunkBytes: 1000, intervalMs: 5000, contentType: 'image/jpeg' }),
      '/trickle.jpg': trickle(ngc253Bytes.subarray(0, 20_000), { chunkBytes: 1000, intervalMs: 30, contentType: 'image/jpeg' }),
      '/truncated.jpg': truncated(ngc253Bytes, 1000, 'image/jpeg'),
      '/truncated-once.jpg': failTimes(1, truncated(ngc253Bytes, 5000, 'image/jpeg'), sendFile(NGC253)),
      '/reset.jpg': resetConnection(),
      '/reset-once.jpg': failTimes(1, resetConnection(), sendFile(NGC253)),
      '/page.jpg': html(),
      '/garbage.jpg': sendBytes('GIF89a not what we accept', 'image/jpeg'),
      '/empty.jpg': sendBytes('', 'image/jpeg'),
      '/moved.jpg': redirectTo('/hop.jpg', 301),
      '/hop.jpg': redirectTo((ctx) => `${ctx.server.baseUrl}/NGC253ALMA.jpg`, 307),
      '/loop.jpg': redirectTo('/loop.jpg'),
      '/elsewhere.jpg': redirectTo((ctx) => `${ctx.server.otherHostBaseUrl}/NGC253ALMA.jpg`),
      '/to-file.jpg': redirectTo('file:///etc/passwd'),
      '/big.jpg': chunkedJpeg(300 * 1024),
      '/big-feed.json': (_req, res) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        for (let i = 0; i < 100; i++) res.write(`[${'0,'.repeat(5000)}0]`);
        res.end();
      },
      '/latin1.json': sendBytes(Buffer.from([0x5b, 0x22, 0xe9, 0x22, 0x5d]), 'application/json'),
      // 40 bytes, one every 50 ms (2 s in all): never idle long, but slow.
      '/drip.jpg': trickle(ngc253Bytes.subarray(0, 40), { chunkBytes: 1, intervalMs: 50, contentType: 'image/jpeg' }),
      '/drip-chunked.jpg': (_req, res, ctx) => {
        res.writeHead(200, { 'content-type': 'image/jpeg' });
        let sent = 0;
        const step = () => {
          if (res.destroyed || sent >= 40) return void res.end();
          res.write(ngc253Bytes.subarray(sent, ++sent));
          ctx.later(50, step);
        };
        step();
      },
      '/other-port.jpg': redirectTo(() => `${other.baseUrl}/NGC253ALMA.jpg`),
    },
  });
  other = await startTestServer({ root: TESTDATA });
});

test.after(async () => {
  await srv?.close();
  await other?.close();
  await fsp.rm(tmp, { recursive: true, force: true });
});

/** Assert `file` is absent and its folder holds no leftover temp files. */
async function assertNothingLeft(file: string, allowed: string[] = []): Promise<void> {
  const names = await fsp.readdir(path.dirname(file)).catch(() => [] as string[]);
  assert.equal(
    names.filter((x) => !allowed.includes(x)),
    [],
    `leftovers in ${path.dirname(file)}`,
  );
}

async function failedDownload(route: string, opts: HttpOptions = {}): Promise<ToastyError> {
  const d = dest();
  const e = await failure(downloadImage(`${srv.baseUrl}${route}`, d, { ...fast, ...opts }));
  assert.is(e.code, 'download');
  assert.ok(e.message.includes(`${srv.baseUrl}${route}`), e.message);
  await assertNothingLeft(d);
  return e;
}

test('download: success writes exactly the served bytes, atomically', async () => {
  const d = dest();
  const r = await downloadImage(`${srv.baseUrl}/NGC253ALMA.jpg`, d, fast);
  assert.equal(await fsp.readFile(d), ngc253Bytes);
  assert.equal([r.bytes, r.contentType, r.format, r.attempts], [ngc253Bytes.length, 'image/jpeg', 'jpeg', 1]);
  assert.equal(await fsp.readdir(path.dirname(d)), ['image.jpg']);
  const req = srv.requests.find((q) => q.path === '/NGC253ALMA.jpg');
  assert.is(req?.headers['accept-encoding'], 'identity');
});

test('download: 404 is not retried and names the status', async () => {
  const e = await failedDownload('/missing.jpg');
  assert.match(e.message, /HTTP 404 Not Found$/);
  assert.is(srv.hits.get('/missing.jpg'), 1);
});

test('download: 500 twice then OK is retried; 429 honours Retry-After', async () => {
  const d = dest();
  const r = await downloadImage(`${srv.baseUrl}/flaky.jpg`, d, fast);
  assert.is(srv.hits.get('/flaky.jpg'), 3);
  assert.is(r.attempts, 3);
  assert.equal(await fsp.readFile(d), ngc253Bytes);
  const r2 = await downloadImage(`${srv.baseUrl}/busy.jpg`, dest(), fast);
  assert.is(r2.attempts, 2);
});

test('download: always 500 gives up after the configured retries', async () => {
  const e = await failedDownload('/broken.jpg', { retries: 2 });
  assert.match(e.message, /HTTP 500 Internal Server Error \(gave up after 3 attempts\)/);
  assert.is(srv.hits.get('/broken.jpg'), 3);
});

test('download: idle timeout before headers and mid-body; a live trickle is not a timeout', async () => {
  const t0 = Date.now();
  let e = await failedDownload('/slow-headers.jpg', { timeoutMs: 100, retries: 1 });
  assert.match(e.message, /timed out \(no response for 100 ms\) \(gave up after 2 attempts\)/);
  assert.is(srv.hits.get('/slow-headers.jpg'), 2);
  e = await failedDownload('/stall.jpg', { timeoutMs: 100, retries: 0 });
  assert.match(e.message, /timed out \(no response for 100 ms after 1000 bytes\)/);
  assert.ok(Date.now() - t0 < 2000, 'timeouts must fire promptly');
  // 20 chunks 30 ms apart: ~600 ms in total, longer than the timeout, but never idle that long.
  const d = dest();
  const t1 = Date.now();
  const r = await downloadImage(`${srv.baseUrl}/trickle.jpg`, d, { ...fast, timeoutMs: 250, retries: 0 });
  assert.ok(Date.now() - t1 > 250, 'the transfer outlasted the idle timeout');
  assert.is(r.bytes, 20_000);
  // A total timeout still caps it.
  e = await failedDownload('/trickle.jpg', { timeoutMs: 400, totalTimeoutMs: 60, retries: 0 });
  assert.match(e.message, /transfer took longer than 60 ms/);
});

test('download: a body shorter than Content-Length is a truncated download (retried)', async () => {
  const e = await failedDownload('/truncated.jpg', { retries: 1 });
  assert.match(e.message, /truncated download: connection closed after 1000 of 215366 bytes/);
  assert.is(srv.hits.get('/truncated.jpg'), 2);
  const d = dest();
  const r = await downloadImage(`${srv.baseUrl}/truncated-once.jpg`, d, fast);
  assert.is(r.attempts, 2);
  assert.equal(await fsp.readFile(d), ngc253Bytes);
  await assertNothingLeft(d, ['image.jpg']);
});

test('download: connection resets are retried', async () => {
  const r = await downloadImage(`${srv.baseUrl}/reset-once.jpg`, dest(), fast);
  assert.is(r.attempts, 2);
  const e = await failedDownload('/reset.jpg', { retries: 1 });
  assert.match(e.message, /connection failed .*\(gave up after 2 attempts\)/);
});

test('download: HTML, other formats or an empty body are refused without retry', async () => {
  let e = await failedDownload('/page.jpg');
  assert.match(e.message, /server returned HTML, not an image \(Content-Type text\/html; charset=utf-8\)$/);
  assert.is(srv.hits.get('/page.jpg'), 1);
  e = await failedDownload('/garbage.jpg');
  assert.match(e.message, /not a JPEG, PNG or TIFF image \(Content-Type image\/jpeg\); first bytes 47 49 46 38/);
  e = await failedDownload('/empty.jpg');
  assert.match(e.message, /empty body/);
});

test('download: same-host redirects are followed; other hosts, loops and file: are refused', async () => {
  const d = dest();
  const r = await downloadImage(`${srv.baseUrl}/moved.jpg`, d, fast);
  assert.is(r.url, `${srv.baseUrl}/NGC253ALMA.jpg`);
  assert.equal(await fsp.readFile(d), ngc253Bytes);

  const hitsBefore = srv.hits.get('/NGC253ALMA.jpg') ?? 0;
  let e = await failedDownload('/elsewhere.jpg');
  assert.match(e.message, new RegExp(`refused redirect to another host \\(localhost:${srv.port}\\)`));
  assert.is(srv.hits.get('/NGC253ALMA.jpg') ?? 0, hitsBefore, 'the other host was never contacted');
  assert.is(srv.hits.get('/elsewhere.jpg'), 1);

  e = await failedDownload('/loop.jpg');
  assert.match(e.message, /more than 5 redirects/);
  assert.is(srv.hits.get('/loop.jpg'), 6);
  e = await failedDownload('/to-file.jpg', { allowCrossHostRedirects: true });
  assert.match(e.message, /only http\/https allowed/);
});

test('download: a redirect to the same host on another port is refused, and that port never contacted', async () => {
  const e = await failedDownload('/other-port.jpg');
  assert.match(e.message, new RegExp(`refused redirect to another origin \\(http://127\\.0\\.0\\.1:${other.port}\\)`));
  assert.is(srv.hits.get('/other-port.jpg'), 1, 'not retried');
  assert.is(other.requests.length, 0, 'the other port was never contacted');
  // allowCrossHostRedirects still permits it.
  const r = await downloadImage(`${srv.baseUrl}/other-port.jpg`, dest(), { ...fast, allowCrossHostRedirects: true });
  assert.is(r.url, `${other.baseUrl}/NGC253ALMA.jpg`);
});

test('download: a deadline for the whole download stops a trickle that never goes idle', async () => {
  // Fixed: --download-timeout.
  let t0 = Date.now();
  let e = await failedDownload('/drip.jpg', { deadlineMs: 300 });
  assert.match(e.message, /took longer than the download deadline of 0\.3 s, after \d+ of 40 bytes$/);
  assert.ok(Date.now() - t0 < 1500, `stopped at the deadline (${Date.now() - t0} ms)`);
  assert.is(srv.hits.get('/drip.jpg'), 1, 'a deadline is not retried');
  // Sized to the body by default: a floor plus the time the bytes take at a minimum rate, from
  // Content-Length or, without one, from the bytes received so far.
  t0 = Date.now();
  e = await failedDownload('/drip.jpg', { deadlineFloorMs: 200, minBytesPerSecond: 1000 });
  assert.match(e.message, /took longer than the download deadline of 0\.24 s \(0\.2 s plus 40 bytes at 1000 bytes\/s\)/);
  e = await failedDownload('/drip-chunked.jpg', { deadlineFloorMs: 200, minBytesPerSecond: 1000 });
  assert.match(e.message, /took longer than the download deadline of 0\.2\d* s \(0\.2 s plus \d+ bytes at 1000 bytes\/s\), after \d+ bytes$/);
  assert.ok(Date.now() - t0 < 2500, 'both stopped early');
  // A transfer at a good rate is not cut short by the same small deadline.
  const r = await downloadImage(`${srv.baseUrl}/NGC253ALMA.jpg`, dest(), { ...fast, deadlineFloorMs: 200, minBytesPerSecond: 1000 });
  assert.is(r.bytes, ngc253Bytes.length);
  // Retries stop when the deadline leaves no time for another attempt.
  const before = srv.hits.get('/broken.jpg') ?? 0;
  e = await failedDownload('/broken.jpg', { retries: 5, retryBaseMs: 2000, deadlineMs: 300 });
  assert.match(e.message, /HTTP 500 Internal Server Error; no time left before the download deadline of 0\.3 s$/);
  assert.is((srv.hits.get('/broken.jpg') ?? 0) - before, 1);
});

test('download: a URL with a user name or password is refused at once, never printed', async () => {
  const url = `${srv.baseUrl.replace('http://', 'http://curator:hunter2@')}/NGC253ALMA.jpg?sig=TOPSECRET&v=1`;
  const hits = srv.hits.get('/NGC253ALMA.jpg') ?? 0;
  const d = dest();
  const e = await failure(downloadImage(url, d, fast));
  assert.is(e.code, 'download');
  assert.match(e.message, /\/NGC253ALMA\.jpg\?sig=REDACTED&v=1: the URL carries a user name or password/);
  assert.not.ok(/hunter2|curator|TOPSECRET/.test(e.message), e.message);
  assert.is(e.cause, undefined, 'no raw error attached');
  assert.is(srv.hits.get('/NGC253ALMA.jpg') ?? 0, hits, 'no request made');
  assert.not.ok(
    await fsp.access(path.dirname(d)).then(
      () => true,
      () => false,
    ),
    'no folder made for a download that never started',
  );
});

test('download: the folder of dest is made only for bytes, and removed when the download fails', async () => {
  const d = dest();
  await failure(downloadImage(`${srv.baseUrl}/missing.jpg`, d, fast));
  await failure(downloadImage(`${srv.baseUrl}/page.jpg`, d, fast));
  assert.not.ok(
    await fsp.access(path.dirname(d)).then(
      () => true,
      () => false,
    ),
    'no empty folder left',
  );
  // A folder that existed before is left alone.
  await fsp.mkdir(path.dirname(d), { recursive: true });
  await failure(downloadImage(`${srv.baseUrl}/missing.jpg`, d, fast));
  assert.equal(await fsp.readdir(path.dirname(d)), []);
});

test('secrets are redacted wherever a URL appears in text, library messages included', () => {
  assert.is(
    redactSecrets('TypeError: Request cannot be constructed from a URL that includes credentials: http://u:pw@h.example/x.jpg?sig=S3CRET&v=1 (attempt 1)'),
    'TypeError: Request cannot be constructed from a URL that includes credentials: http://h.example/x.jpg?sig=REDACTED&v=1 (attempt 1)',
  );
  assert.is(redactSecrets('see (https://a.example/b?token=T0K).'), 'see (https://a.example/b?token=REDACTED).');
  assert.is(redactSecrets('AccountKey=abc123==;BlobEndpoint=x'), 'AccountKey=REDACTED;BlobEndpoint=x');
  const plain = 'fetch http://Example.org/a b?format=.jpg failed';
  assert.is(redactSecrets(plain), plain, 'nothing to hide: the text is unchanged');
  const e = new ToastyError('download', 'download http://me:pw@x.example/a.jpg: failed');
  assert.is(e.message, 'download http://x.example/a.jpg: failed');
});

test('download: size cap from Content-Length and while streaming', async () => {
  let e = await failedDownload('/NGC253ALMA.jpg', { maxBytes: 100_000 });
  assert.match(e.message, /body is 215366 bytes, over the 100000 bytes limit/);
  e = await failedDownload('/big.jpg', { maxBytes: 100_000 });
  assert.match(e.message, /body exceeds the 100000 bytes limit/);
  assert.is(srv.hits.get('/big.jpg'), 1);
});

test('download: a failure leaves an existing dest untouched', async () => {
  const d = dest();
  await fsp.mkdir(path.dirname(d), { recursive: true });
  await fsp.writeFile(d, 'previous');
  await failure(downloadImage(`${srv.baseUrl}/truncated.jpg`, d, { ...fast, retries: 0 }));
  assert.is(await fsp.readFile(d, 'utf8'), 'previous');
  await assertNothingLeft(d, ['image.jpg']);
});

test('download: file: URLs (offline), missing files, non-images, and allowFileUrls=false', async () => {
  const d = dest();
  const r = await downloadImage(pathToFileURL(GEMINI).href, d, fast);
  assert.equal(await fsp.readFile(d), readFileSync(GEMINI));
  assert.equal([r.contentType, r.format, r.attempts], [null, 'jpeg', 1]);

  let e = await failure(downloadImage(pathToFileURL(path.join(TESTDATA, 'nope.jpg')).href, dest(), fast));
  assert.match(e.message, /file not found: .*nope\.jpg/);
  e = await failure(downloadImage(pathToFileURL(path.join(TESTDATA, 'CREDITS.md')).href, dest(), fast));
  assert.match(e.message, /not a JPEG, PNG or TIFF image; first bytes 23 20/);
  e = await failure(downloadImage(pathToFileURL(GEMINI).href, dest(), { allowFileUrls: false }));
  assert.match(e.message, /file: URLs are not allowed/);
  e = await failure(downloadImage('ftp://example.org/x.jpg', dest(), fast));
  assert.match(e.message, /unsupported URL scheme ftp:/);
});

test('download: cancelling stops at once, without retries', async () => {
  const ac = new AbortController();
  setTimeout(() => ac.abort(), 50);
  const t0 = Date.now();
  const e = await failedDownload('/slow-headers.jpg', { signal: ac.signal, timeoutMs: 10_000 });
  assert.match(e.message, /cancelled/);
  assert.ok(Date.now() - t0 < 1000);
});

test('messages redact credentials and signature-like query parameters', async () => {
  assert.is(
    redactUrl('https://user:pw@acct.blob.core.windows.net/c/x.jpg?sv=2020&sig=SECRET%2B&se=2030&X-Amz-Signature=abc'),
    'https://acct.blob.core.windows.net/c/x.jpg?sv=2020&sig=REDACTED&se=2030&X-Amz-Signature=REDACTED',
  );
  const e = await failure(downloadImage(`${srv.baseUrl}/missing.jpg?sig=TOPSECRET&v=1`, dest(), fast));
  assert.not.ok(e.message.includes('TOPSECRET'), e.message);
  assert.ok(e.message.includes('/missing.jpg?sig=REDACTED&v=1'), e.message);
});

// ---------------------------------------------------------------------------------------------
// Feed fetching, end to end with the shared test data

test('feed fetch + parse + download of both testdata images', async () => {
  const feedUrl = `${srv.baseUrl}/feed.json`;
  const feed = parseFeed(await fetchFeedText(feedUrl, fast), feedUrl);
  assert.equal(
    feed.entries.map((e) => e.id),
    ['nrao_nrao_gallery009', 'noirlab_geminiann11015a'],
  );
  for (const entry of feed.entries) {
    const d = path.join(tmp, 'e2e', 'cache_todo', entry.id, entry.cachedImageName);
    const r = await downloadImage(entry.url, d, fast);
    const original = path.join(TESTDATA, path.basename(new URL(entry.url).pathname));
    assert.equal(await fsp.readFile(d), readFileSync(original));
    assert.is(r.format, 'jpeg');
  }
  // Offline: the template read from a file: URL, unsubstituted (its `{{BASE}}/x.jpg` URLs are
  // rejected), then with {{BASE}} pointing at the testdata folder as a file: URL.
  const text = await fetchFeedText(pathToFileURL(path.join(REPO_ROOT, 'examples', 'astropix-feed.template.json')).href, fast);
  const raw = parseFeed(text, 'template');
  assert.equal(
    raw.rejected.map((r) => [r.id, r.error.field]),
    [
      ['nrao_nrao_gallery009', 'resource_url'],
      ['noirlab_geminiann11015a', 'resource_url'],
    ],
  );
  const offline = parseFeed(text.replaceAll('{{BASE}}', pathToFileURL(TESTDATA).href), 'template');
  const d = path.join(tmp, 'offline', 'image.jpg');
  await downloadImage(offline.entries[1]!.url, d, fast);
  assert.equal(await fsp.readFile(d), readFileSync(GEMINI));
});

test('feed fetch errors are feed errors: status, size cap, bad UTF-8', async () => {
  let e = await failure(fetchFeedText(`${srv.baseUrl}/no-feed.json`, fast));
  assert.is(e.code, 'feed');
  assert.match(e.message, /^feed http:\/\/127\.0\.0\.1:\d+\/no-feed\.json: HTTP 404 Not Found$/);
  e = await failure(fetchFeedText(`${srv.baseUrl}/big-feed.json`, { ...fast, maxBytes: 50_000 }));
  assert.is(e.code, 'feed');
  assert.match(e.message, /body exceeds the 50000 bytes limit/);
  e = await failure(fetchFeedText(`${srv.baseUrl}/latin1.json`, fast));
  assert.match(e.message, /not valid UTF-8/);
  const big = await fetchFeedText(`${srv.baseUrl}/big-feed.json`, fast);
  assert.is(big.length, 100 * 10_003);
});

test.run();
