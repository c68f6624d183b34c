// Shared helpers under src/util: the xxh64 digests, image format sniffing, the bounded
// worker pool and temporaries.
import { randomBytes } from 'node:crypto';
import { existsSync, promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { digestBytes, digestFile, hex64 } from '../src/util/digest.js';
import { describeNonImage, sniffImageFormat } from '../src/util/image-format.js';
import { makeSiblingTempDir, replaceDir } from '../src/util/fs.js';
import { forEachLimit } from '../src/util/pool.js';
import { isTrackedTemporary, removeOwnedTemporariesSync, sweepStaleTemporaries, temporaryOwner, tempDirName, trackTemporary } from '../src/util/temporaries.js';

test('digests are xxh64 (seed 0) as 16 hex digits', async () => {
  // Published XXH64 values of "" and "abc".
  assert.is(await digestBytes(''), 'ef46db3751d8e999');
  assert.is(await digestBytes('abc'), '44bc2cf5ad770999');
  assert.is(await digestBytes(new TextEncoder().encode('abc')), '44bc2cf5ad770999', 'a string hashes as its UTF-8 bytes');
  // A digest with leading zeros keeps all 16 digits, from a string or from bytes.
  assert.is(await digestBytes('pad516'), '004c4c7fd8d4a965');
  assert.is(await digestBytes(new TextEncoder().encode('pad516')), '004c4c7fd8d4a965');
  assert.is(hex64(1n), '0000000000000001');
  assert.is(hex64(0xffffffffffffffffn), 'ffffffffffffffff');
});

test('a file streamed in chunks digests like its bytes in one piece', async () => {
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'toasty-digest-'));
  try {
    const bytes = randomBytes((3 << 20) + 12345); // several 1 MiB chunks and a ragged end
    const file = path.join(dir, 'blob.bin');
    await fsp.writeFile(file, bytes);
    assert.is(await digestFile(file), await digestBytes(bytes));
    await fsp.writeFile(file, '');
    assert.is(await digestFile(file), 'ef46db3751d8e999');
  } finally {
    await fsp.rm(dir, { recursive: true, force: true });
  }
});

test('image magic numbers', () => {
  const b = (...x: number[]) => new Uint8Array(x);
  assert.is(sniffImageFormat(b(0xff, 0xd8, 0xff, 0xe0)), 'jpeg');
  assert.is(sniffImageFormat(b(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a)), 'png');
  assert.is(sniffImageFormat(b(0x49, 0x49, 0x2a, 0x00)), 'tiff');
  assert.is(sniffImageFormat(b(0x4d, 0x4d, 0x00, 0x2a)), 'tiff');
  assert.is(sniffImageFormat(b(0x49, 0x49, 0x2b, 0x00)), 'tiff');
  assert.is(sniffImageFormat(b(0x89, 0x50, 0x4e, 0x47)), null);
  assert.is(sniffImageFormat(Buffer.from('GIF89a')), null);
  assert.is(sniffImageFormat(b()), null);
});

test('what a refused file looks like', () => {
  const text = (s: string) => new TextEncoder().encode(s);
  assert.is(describeNonImage(text('GIF89a')), 'GIF');
  assert.is(describeNonImage(text('\uFEFF  <!DOCTYPE html><html>')), 'HTML (an error page instead of an image?)');
  assert.is(describeNonImage(text('<?xml version="1.0"?><svg/>')), 'XML/SVG');
  assert.is(describeNonImage(text('SIMPLE  =                    T')), 'FITS');
  assert.is(describeNonImage(text('just some text\n')), 'text');
  assert.is(describeNonImage(new Uint8Array([0x89, 0x50, 0x4e, 0x47])), 'unrecognised data');
});

const tick = () => new Promise<void>((r) => setTimeout(r, 1));

test('forEachLimit: every item once, never more than the limit in flight, items pulled lazily', async () => {
  let inFlight = 0;
  let peak = 0;
  let pulled = 0;
  const done: number[] = [];
  function* items() {
    for (let i = 0; i < 20; i++) {
      pulled++;
      // A slot frees before the next item is pulled: at most `limit` items are out at once.
      assert.ok(pulled - done.length <= 3, `pulled ${pulled} with ${done.length} done`);
      yield i;
    }
  }
  await forEachLimit(items(), 3, async (i) => {
    inFlight++;
    peak = Math.max(peak, inFlight);
    await tick();
    inFlight--;
    done.push(i);
  });
  assert.is(peak, 3);
  assert.equal(
    [...done].sort((a, b) => a - b),
    [...Array(20).keys()],
  );

  // Async iterables, empty input, and a limit below 1 (taken as 1).
  async function* later() {
    yield 'a';
    await tick();
    yield 'b';
  }
  const seen: string[] = [];
  await forEachLimit(later(), 0, (s) => void seen.push(s));
  assert.equal(seen, ['a', 'b']);
  // More workers than items, and an iterator whose answers arrive out of order: one worker
  // seeing the end must not make another drop the item it was handed.
  let calls = 0;
  const outOfOrder: AsyncIterable<string> = {
    [Symbol.asyncIterator]: () => ({
      next: () =>
        calls++ === 0
          ? new Promise<IteratorResult<string>>((r) => setTimeout(() => r({ value: 'late', done: false }), 5))
          : Promise.resolve<IteratorResult<string>>({ value: undefined, done: true }),
    }),
  };
  const few: string[] = [];
  await forEachLimit(outOfOrder, 4, (s) => void few.push(s));
  await forEachLimit(['x'], 4, (s) => void few.push(s));
  assert.equal(few, ['late', 'x']);
  await forEachLimit([], 4, () => assert.unreachable('no items'));
});

test('forEachLimit: the first failure stops new calls, waits for the ones in flight, closes the iterator', async () => {
  const started: number[] = [];
  const finished: number[] = [];
  let closed = false;
  function* items() {
    try {
      for (let i = 0; ; i++) yield i;
    } finally {
      closed = true;
    }
  }
  const boom = new Error('item 2 failed');
  try {
    await forEachLimit(items(), 3, async (i) => {
      started.push(i);
      if (i === 2) throw boom;
      await tick();
      await tick();
      finished.push(i);
    });
    assert.unreachable('should throw');
  } catch (e) {
    assert.is(e, boom);
  }
  assert.equal(started, [0, 1, 2], 'nothing started after the failure');
  assert.equal(finished.sort(), [0, 1], 'the calls in flight finished first');
  assert.ok(closed, 'the generator was closed');

  // A failing iterator counts as a failure too.
  function* broken() {
    yield 1;
    throw new Error('feed broke');
  }
  const got: number[] = [];
  try {
    await forEachLimit(broken(), 1, async (i) => {
      await tick();
      got.push(i);
    });
    assert.unreachable('should throw');
  } catch (e) {
    assert.match((e as Error).message, 'feed broke');
  }
  assert.equal(got, [1]);
});

test('forEachLimit: an abort stops new calls and is thrown once the calls in flight finish', async () => {
  const ac = new AbortController();
  const finished: number[] = [];
  try {
    await forEachLimit(
      [0, 1, 2, 3, 4, 5],
      2,
      async (i) => {
        if (i === 1) ac.abort(new Error('stop now'));
        await tick();
        finished.push(i);
      },
      { signal: ac.signal },
    );
    assert.unreachable('should throw');
  } catch (e) {
    assert.match((e as Error).message, 'stop now');
  }
  assert.equal(finished.sort(), [0, 1]);
});

test('temporaries: names carry the pid; a sweep removes only those of processes that are gone', async () => {
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'toasty-temps-'));
  try {
    const dead = 2 ** 22 + 4321; // above the default pid_max: no such process
    const live = process.ppid;
    const names = [
      `.img.tmp-${dead}-0a1b2c3d`,
      `.img.tmp-${dead}-0a1b2c3d.old`,
      `.image.jpg.${dead}.0a1b2c3d.part`,
      `.index.wtml.${dead}.0a1b2c3d.tmp`,
      `.decoded-${dead}-0a1b2c3d.v`,
      `.img.tmp-${live}-0a1b2c3d`,
      '.hidden-user-file',
      'img.tmp-123-abc',
      'keep.jpg',
    ];
    for (const n of names) await fsp.writeFile(path.join(dir, n), 'x');
    assert.is(temporaryOwner(`.a.tmp-${dead}-ff`), dead);
    assert.is(temporaryOwner('.a.tmp-AbC123'), 0, 'pid-less folder of an earlier version');
    assert.is(temporaryOwner('keep.jpg'), null);
    await fsp.writeFile(path.join(dir, '.x.tmp-AbC123'), 'x');
    const removed = (await sweepStaleTemporaries(dir)).map((p) => path.basename(p)).sort();
    assert.equal(removed, names.slice(0, 5).sort());
    assert.equal((await fsp.readdir(dir)).sort(), ['.hidden-user-file', '.x.tmp-AbC123', `.img.tmp-${live}-0a1b2c3d`, 'img.tmp-123-abc', 'keep.jpg'].sort());
    assert.equal(
      (await sweepStaleTemporaries(dir, { legacy: true })).map((p) => path.basename(p)),
      ['.x.tmp-AbC123'],
    );

    // This process's own temporary folder is tracked until renamed into place, and survives a sweep meanwhile.
    const target = path.join(dir, 'study');
    const tmp = await makeSiblingTempDir(target);
    assert.is(temporaryOwner(path.basename(tmp)), process.pid);
    assert.ok(isTrackedTemporary(tmp));
    assert.equal(await sweepStaleTemporaries(dir), []);
    assert.is((await fsp.stat(tmp)).mode & 0o777, 0o777 & ~process.umask(), 'created with the umask like any folder');
    await replaceDir(tmp, target);
    assert.not.ok(isTrackedTemporary(tmp));
  } finally {
    await fsp.rm(dir, { recursive: true, force: true });
  }
});

test('removing temporaries on exit also gets what file-system work queued before creates meanwhile', async () => {
  // As when a signal arrives while tiles are being written into the temporary folder: their
  // open() calls, already queued in the thread pool, run while the removal blocks the main
  // thread. (rmSync alone left the folder behind in about 1 round in 10.)
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'toasty-util-'));
  try {
    let left = 0;
    for (let round = 0; round < 20; round++) {
      const tmp = tempDirName(path.join(dir, `study${round}`));
      trackTemporary(tmp);
      await fsp.mkdir(tmp);
      const writes = Array.from({ length: 200 }, (_, i) => fsp.writeFile(path.join(tmp, `${i}.png`), 'x').catch(() => {}));
      await new Promise((r) => setImmediate(r));
      removeOwnedTemporariesSync();
      await Promise.all(writes);
      if (existsSync(tmp)) left++;
      assert.not.ok(isTrackedTemporary(tmp));
    }
    assert.is(left, 0, 'no temporary folder left behind');
  } finally {
    await fsp.rm(dir, { recursive: true, force: true });
  }
});

test.run();
