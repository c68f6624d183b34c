// One image -> a study, through the library and through `toasty tile-study`: the
// positive-parity mirror twin, untethered studies, no half-written output folder,
// --max-pixels reaching every writer, and OUTDIR never deleting what toasty did not write.
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import sharp from 'sharp';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { writeStudyPixels } from '../src/wwt/study-pixels.js';
import { astropixStudy } from '../src/sources/astropix-record.js';
import { studyWtml } from '../src/wwt/study-wtml.js';
import { parseWtml } from '../src/wwt/wtml.js';
import { mirrorWcs } from '../src/wwt/wcs.js';
import { ROOT, TESTDATA, hashTree, runToasty } from './helpers/pipeline-fixture.js';

const NGC253 = path.join(TESTDATA, 'NGC253ALMA.jpg');
const template = JSON.parse(await fsp.readFile(path.join(ROOT, 'examples', 'astropix-feed.template.json'), 'utf8'));
const record: Record<string, unknown> = template[0];
const tmp = () => fsp.mkdtemp(path.join(os.tmpdir(), 'toasty-study-'));

async function decodedTiles(dir: string, files: Record<string, string>) {
  const out: Record<string, string> = {};
  for (const name of Object.keys(files).filter((n) => n.endsWith('.png'))) {
    const { data } = await sharp(path.join(dir, name)).raw().toBuffer({ resolveWithObject: true });
    out[name] = (await import('node:crypto')).createHash('sha1').update(data).digest('hex');
  }
  return out;
}

test('a positive-parity tiled WCS and its mirror twin give identical tiles and placement', async () => {
  const [a, b] = [await tmp(), await tmp()];
  try {
    // The twin: the image flopped, scale[0] negated, CRPIX1 reflected (positive parity).
    const flopped = path.join(b, '..', `${path.basename(b)}-flopped.png`);
    await sharp(NGC253).flop().png().toFile(flopped);
    const study = astropixStudy(record);
    const twin = { ...study, wcs: mirrorWcs(study.wcs) };
    assert.ok(twin.wcs.scale[0] > 0, 'the twin has positive parity');
    const outA = path.join(a, 'out');
    const outB = path.join(b, 'out');
    await fsp.mkdir(outA);
    await fsp.mkdir(outB);
    const pa = await writeStudyPixels(NGC253, outA, { wcs: astropixStudy(record).wcs });
    const pb = await writeStudyPixels(flopped, outB, { wcs: twin.wcs });
    assert.is(pa.flipX, false);
    assert.is(pb.flipX, true, 'the twin is flopped back before tiling');
    assert.equal(Object.keys(pb.files).sort(), Object.keys(pa.files).sort());
    assert.equal(await decodedTiles(outB, pb.files), await decodedTiles(outA, pa.files));
    const wa = parseWtml(studyWtml({ uniqueId: 'x', study: astropixStudy(record), shape: pa }).indexRel).children[0];
    const wb = parseWtml(studyWtml({ uniqueId: 'x', study: twin, shape: pb }).indexRel).children[0];
    for (const k of ['ra', 'dec', 'zoomLevel'] as const) assert.ok(Math.abs(wa[k] - wb[k]) <= 1e-9 * Math.max(1, Math.abs(wa[k])), k);
    for (const k of ['rotation', 'baseDegreesPerTile', 'offsetX', 'offsetY', 'centerX', 'centerY'] as const) {
      const x = wa.imageSet[k] as number;
      const y = wb.imageSet[k] as number;
      assert.ok(Math.abs(x - y) <= 1e-9 * Math.max(1, Math.abs(x)), `${k}: ${x} vs ${y}`);
    }
    assert.is(wb.imageSet.bottomsUp, false);
    await fsp.rm(flopped, { force: true });
  } finally {
    await fsp.rm(a, { recursive: true, force: true });
    await fsp.rm(b, { recursive: true, force: true });
  }
});

test('toasty tile-study: placed with a record, untethered without, nothing left on failure', async () => {
  const dir = await tmp();
  try {
    const rec = path.join(dir, 'record.json');
    await fsp.writeFile(rec, JSON.stringify(record));
    const out = path.join(dir, 'placed');
    let r = await runToasty(['tile-study', NGC253, out, '--astropix-json', rec]);
    assert.is(r.code, 0, r.stderr);
    const files = (await fsp.readdir(out)).sort();
    assert.is(files.filter((f) => f.endsWith('.png')).length, 157);
    assert.ok(files.includes('thumb.jpg') && files.includes('index_rel.wtml'));
    const place = parseWtml(await fsp.readFile(path.join(out, 'index_rel.wtml'), 'utf8')).children[0];
    assert.ok(Math.abs(place.ra - 0.792545003336667) < 1e-9);
    assert.is(place.imageSet.url, 'L{1}X{2}Y{3}.png');
    // The report agrees with the WTML: TileLevels, not the count of levels.
    assert.is(place.imageSet.tileLevels, 4);
    assert.match(r.stderr, /2166x2129, TileLevels 4 \(levels 0-4\), 157 tiles ->/);
    const thumb = await sharp(path.join(out, 'thumb.jpg')).metadata();
    assert.equal([thumb.width, thumb.height], [96, 45]);

    const small = path.join(dir, 'small.png');
    await sharp({ create: { width: 300, height: 200, channels: 3, background: '#336699' } })
      .png()
      .toFile(small);
    const out2 = path.join(dir, 'untethered');
    r = await runToasty(['tile-study', small, out2, '--name', 'My <test> & co']);
    assert.is(r.code, 0, r.stderr);
    assert.equal((await fsp.readdir(out2)).sort(), ['.toasty-study.json', 'image.jpg', 'index_rel.wtml', 'thumb.jpg']);
    assert.match(r.stderr, /untethered: no sky position/, 'says the study is not placed');
    const p2 = parseWtml(await fsp.readFile(path.join(out2, 'index_rel.wtml'), 'utf8')).children[0];
    assert.is(p2.name, 'My <test> & co');

    // A truncated image: an error naming the reason, and no output folder at all.
    const cut = path.join(dir, 'cut.jpg');
    await fsp.writeFile(cut, (await fsp.readFile(NGC253)).subarray(0, 50000));
    const out3 = path.join(dir, 'broken');
    r = await runToasty(['tile-study', cut, out3]);
    assert.is(r.code, 1);
    assert.match(r.stderr, /error:/);
    assert.not.ok(
      await fsp.access(out3).then(
        () => true,
        () => false,
      ),
      'no half-written study',
    );
    assert.equal(
      (await fsp.readdir(dir)).filter((n) => n.startsWith('.')),
      [],
      'no temp folders left',
    );
  } finally {
    await fsp.rm(dir, { recursive: true, force: true });
  }
});

test('--max-pixels reaches every writer: an image above the default limit is tiled or re-encoded, and thumbnailed', async () => {
  const dir = await tmp();
  try {
    // The child's default limit is lowered to 10000 pixels, so these small images stand for
    // images above the real default of 1e9; --max-pixels 100000 then admits them.
    const hook = pathToFileURL(path.join(ROOT, 'test', 'helpers', 'lower-default-limit.mjs')).href;
    const env = {
      NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --import=${hook}`.trim(),
      TOASTY_TEST_DEFAULT_MAX_PIXELS: '10000',
    };
    const colour = { r: 51, g: 102, b: 153 };
    const wide = path.join(dir, 'wide.png'); // 2100x20 = 42000 pixels: tiled (wider than 2048)
    await sharp({ create: { width: 2100, height: 20, channels: 3, background: colour } })
      .png()
      .toFile(wide);
    const small = path.join(dir, 'small.png'); // 300x200 = 60000 pixels: one image.jpg
    await sharp({ create: { width: 300, height: 200, channels: 3, background: colour } })
      .png()
      .toFile(small);

    // Without --max-pixels the lowered default refuses the image: the hook is in force.
    let r = await runToasty(['tile-study', small, path.join(dir, 'refused')], env);
    assert.is(r.code, 1, r.stderr);
    assert.match(r.stderr, /above the limit of 10000/);

    const near = (px: Buffer, at: number, what: string) => {
      const got = [px[at]!, px[at + 1]!, px[at + 2]!];
      assert.ok(Math.abs(got[0]! - colour.r) <= 3 && Math.abs(got[1]! - colour.g) <= 3 && Math.abs(got[2]! - colour.b) <= 3, `${what}: ${got}`);
    };
    const thumbOf = async (out: string, size: [number, number]) => {
      const { data, info } = await sharp(path.join(out, 'thumb.jpg')).raw().toBuffer({ resolveWithObject: true });
      assert.equal([info.width, info.height, info.channels], [...size, 3]);
      near(data, ((info.height >> 1) * info.width + (info.width >> 1)) * 3, 'thumbnail centre');
    };

    const tiled = path.join(dir, 'tiled');
    r = await runToasty(['tile-study', wide, tiled, '--max-pixels', '100000'], env);
    assert.is(r.code, 0, r.stderr);
    // 2100x20 at x0 = 998, y0 = 2038 of a 4096 square: level 4 columns 3..12 of rows 7..8,
    // then 6x2, 4x2, 2x2 and 1 parents.
    assert.is((await fsp.readdir(tiled)).filter((n) => n.endsWith('.png')).length, 45);
    const root = await sharp(path.join(tiled, 'L0X0Y0.png')).raw().toBuffer({ resolveWithObject: true });
    assert.equal([root.info.width, root.info.height, root.info.channels], [256, 256, 4]);
    await thumbOf(tiled, [43, 20]);

    const untiled = path.join(dir, 'untiled');
    r = await runToasty(['tile-study', small, untiled, '--max-pixels', '100000'], env);
    assert.is(r.code, 0, r.stderr);
    assert.equal((await fsp.readdir(untiled)).sort(), ['.toasty-study.json', 'image.jpg', 'index_rel.wtml', 'thumb.jpg']);
    const image = await sharp(path.join(untiled, 'image.jpg')).raw().toBuffer({ resolveWithObject: true });
    assert.equal([image.info.width, image.info.height], [300, 200]);
    near(image.data, (100 * 300 + 150) * 3, 'image.jpg centre');
    await thumbOf(untiled, [96, 45]);
  } finally {
    await fsp.rm(dir, { recursive: true, force: true });
  }
});

const isDir = (p: string) =>
  fsp.stat(p).then(
    (s) => s.isDirectory(),
    () => false,
  );

test('tile-study never deletes what it did not write: non-empty OUTDIR refused, --force replaces a previous study only, folders made with the umask', async () => {
  const dir = await tmp();
  try {
    // `cd d && toasty tile-study img.png .` in a folder holding other files and the input.
    const d = path.join(dir, 'd');
    await fsp.mkdir(path.join(d, 'notes'), { recursive: true });
    await fsp.writeFile(path.join(d, 'notes', 'n.txt'), 'mine');
    await fsp.writeFile(path.join(d, 'other.txt'), 'mine too');
    await fsp.chmod(d, 0o751);
    await sharp({ create: { width: 300, height: 200, channels: 3, background: '#336699' } })
      .png()
      .toFile(path.join(d, 'img.png'));
    const before = await hashTree(d);
    const dirStat = await fsp.stat(d);
    let r = await runToasty(['tile-study', 'img.png', '.'], {}, { cwd: d, umask: 0o022 });
    assert.is(r.code, 2, r.stderr);
    assert.match(r.stderr, /the input img\.png is inside OUTDIR .*\/d: toasty never writes where its input lives/);
    r = await runToasty(['tile-study', path.join(NGC253), '.'], {}, { cwd: d, umask: 0o022 });
    assert.is(r.code, 2, r.stderr);
    assert.match(r.stderr, /OUTDIR .*\/d is not empty and is not a toasty study \(it holds img\.png, notes\/, other\.txt\)/);
    assert.not.match(r.stderr, /\n\s+at /, 'no stack trace');
    assert.equal(await hashTree(d), before, 'every file of d kept, byte for byte');
    const after = await fsp.stat(d);
    assert.equal([after.mode & 0o777, after.ino], [dirStat.mode & 0o777, dirStat.ino], 'd itself untouched');

    // A new OUTDIR (and its new parent) get the umask's mode: 0755 under 022, 0750 under 027.
    const input = path.join(d, 'img.png');
    const study = path.join(dir, 'new', 'study');
    r = await runToasty(['tile-study', input, study], {}, { umask: 0o022 });
    assert.is(r.code, 0, r.stderr);
    assert.is((await fsp.stat(study)).mode & 0o777, 0o755);
    assert.is((await fsp.stat(path.dirname(study))).mode & 0o777, 0o755);
    r = await runToasty(['tile-study', input, path.join(dir, 'private')], {}, { umask: 0o027 });
    assert.is(r.code, 0, r.stderr);
    assert.is((await fsp.stat(path.join(dir, 'private'))).mode & 0o777, 0o750);
    const marker = JSON.parse(await fsp.readFile(path.join(study, '.toasty-study.json'), 'utf8'));
    assert.equal(marker, { toasty: 'study', files: ['image.jpg', 'index_rel.wtml', 'thumb.jpg'] });

    // A previous study: refused without --force, replaced with it (the untiled study by a tiled one).
    const studyBefore = await hashTree(study);
    r = await runToasty(['tile-study', NGC253, study]);
    assert.is(r.code, 2, r.stderr);
    assert.match(r.stderr, /holds a previous toasty study: add --force/);
    assert.equal(await hashTree(study), studyBefore);
    r = await runToasty(['tile-study', NGC253, study, '--force']);
    assert.is(r.code, 0, r.stderr);
    const files = (await fsp.readdir(study)).sort();
    assert.not.ok(files.includes('image.jpg'), 'the previous study is gone');
    assert.is(files.filter((f) => f.endsWith('.png')).length, 157);
    assert.equal(
      JSON.parse(await fsp.readFile(path.join(study, '.toasty-study.json'), 'utf8')).files,
      files.filter((f) => !f.startsWith('.')),
    );

    // --force never reaches past the study: a file toasty did not write, or the input inside OUTDIR.
    await fsp.writeFile(path.join(study, 'README'), 'notes about this study');
    const withReadme = await hashTree(study);
    r = await runToasty(['tile-study', input, study, '--force']);
    assert.is(r.code, 2, r.stderr);
    assert.match(r.stderr, /holds a toasty study but also README, which toasty did not write/);
    assert.equal(await hashTree(study), withReadme);
    await fsp.rm(path.join(study, 'README'));
    r = await runToasty(['tile-study', path.join(study, 'L0X0Y0.png'), study, '--force']);
    assert.is(r.code, 2, r.stderr);
    assert.match(r.stderr, /input .*L0X0Y0\.png is inside OUTDIR/);
    assert.equal(Object.keys(await hashTree(study)).length, files.length);

    // An empty folder, here the current directory, is used in place: same folder, same mode.
    const e = path.join(dir, 'empty');
    await fsp.mkdir(e, { mode: 0o700 });
    const eBefore = await fsp.stat(e);
    r = await runToasty(['tile-study', input, '.'], {}, { cwd: e, umask: 0o022 });
    assert.is(r.code, 0, r.stderr);
    const eAfter = await fsp.stat(e);
    assert.equal([eAfter.ino, eAfter.mode & 0o777], [eBefore.ino, 0o700]);
    assert.equal((await fsp.readdir(e)).sort(), ['.toasty-study.json', 'image.jpg', 'index_rel.wtml', 'thumb.jpg']);
    const jpg = await sharp(path.join(e, 'image.jpg')).metadata();
    assert.equal([jpg.width, jpg.height], [300, 200]);

    // A file as OUTDIR is refused too.
    r = await runToasty(['tile-study', NGC253, path.join(d, 'other.txt')]);
    assert.is(r.code, 2, r.stderr);
    assert.match(r.stderr, /other\.txt exists and is not a folder/);

    assert.equal(await hashTree(d), before, 'd still untouched');
    const leftovers = async (p: string): Promise<string[]> =>
      (await fsp.readdir(p, { withFileTypes: true })).flatMap((x) => (x.name.includes('.tmp-') ? [path.join(p, x.name)] : []));
    for (const p of [dir, d, study, e, path.dirname(study)]) assert.equal(await leftovers(p), [], `no temporary folder left in ${p}`);
    assert.ok(await isDir(study));
  } finally {
    await fsp.rm(dir, { recursive: true, force: true });
  }
});

test.run();
