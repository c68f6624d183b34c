// Crash safety: SIGKILL `toasty make` at many moments (fetch, tiling, upload, index), rerun it,
// and check after every rerun that the repository is consistent (each image complete or
// invisible), the root index lists exactly the complete images, and nothing that had finished
// before the kill ran again. Plus: two runs on one work dir at once.
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseWtml } from '../src/wwt/wtml.js';
import { tileFileName } from '../src/wwt/study-files.js';
import { tilesPerLevel } from '../src/wwt/tiling.js';
import { sendBytes } from './helpers/http-server.js';
import { Fixture, IDS, ran, runToasty, temporariesUnder, type ToastyRun } from './helpers/pipeline-fixture.js';

const SIZES: Record<string, [number, number]> = {
  [IDS.ngc253]: [2166, 2129],
  [IDS.ngc7552]: [1280, 876],
  noirlab_geminiann11015c: [1280, 876],
};

/** Every published index.wtml refers only to files that are there; returns the complete ids. */
async function checkConsistent(f: Fixture): Promise<string[]> {
  const complete: string[] = [];
  for (const e of await f.repo.list('')) {
    if (!e.isFolder) continue;
    const text = await f.text(`${e.name}/index.wtml`);
    if (!text) continue; // invisible: fine
    const place = parseWtml(text).children[0];
    const [w, h] = SIZES[e.name];
    const needed = ['thumb.jpg', 'index_rel.wtml'];
    if (place.imageSet.tileLevels > 0) {
      for (const [level, tiles] of tilesPerLevel(w, h)) for (const [x, y] of tiles) needed.push(tileFileName(level, x, y));
    } else needed.push('image.jpg');
    for (const n of needed) assert.ok(await f.repo.exists(`${e.name}/${n}`), `${e.name}/index.wtml is published but ${n} is missing`);
    complete.push(e.name);
  }
  return complete.sort();
}

/** Nodes recorded as finished by the killed run (the manifest journal since its last snapshot). */
async function finishedByKilledRun(workdir: string): Promise<Set<string>> {
  const out = new Set<string>();
  const text = await fsp.readFile(path.join(workdir, 'toasty-manifest.journal'), 'utf8').catch(() => '');
  for (const line of text.split('\n')) {
    try {
      const j = JSON.parse(line);
      if (j.set) out.add(j.set);
    } catch {
      /* torn line */
    }
  }
  return out;
}

function killAfter(f: Fixture, ms: number, extra: string[]): Promise<ToastyRun> {
  let timer: NodeJS.Timeout;
  return runToasty(['make', ...f.repoArgs, f.workdir, '--json', ...extra], f.env, {
    onSpawn: (pid) => {
      timer = setTimeout(() => {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          /* already finished */
        }
      }, ms);
    },
  }).finally(() => clearTimeout(timer));
}

test('SIGKILL at 20+ moments: the repository stays consistent and finished work is never redone', async () => {
  const f = await Fixture.create({ kind: 'local' });
  try {
    const recs = await f.baseRecords();
    recs.push({ ...recs[1], image_id: 'geminiann11015c', title: 'Third image' });
    f.setRecords(recs);
    let seed = 7;
    const rand = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    // Calibrate: how long an uninterrupted cycle of each kind takes on this machine, so the
    // kills land inside the runs (fetch, tiling, upload, index) rather than after them.
    const timed = async (extra: string[]) => {
      const t0 = performance.now();
      const r = await f.run('make', ...extra);
      assert.is(r.code, 0, r.stderr);
      return performance.now() - t0;
    };
    await timed([]);
    await f.writeConfig({ publish_url_prefix: 'http://data.example.org/calibrate/' });
    const prefixRun = await timed([]);
    const fullRun = await timed(['--force', '*']);
    let kills = 0;
    let cycle = 0;
    let interruptedSomething = 0;
    while (interruptedSomething < 20 && cycle < 40) {
      cycle++;
      // Fresh work for this cycle: a new prefix (WTML + uploads + index) or a full rebuild.
      await f.writeConfig({ publish_url_prefix: `http://data.example.org/c${cycle}/` });
      const extra = cycle % 4 === 1 ? ['--force', '*'] : [];
      const span = extra.length ? fullRun : prefixRun;
      const killed = await killAfter(f, 300 + rand() * Math.max(100, span - 350), extra);
      kills++;
      const finished = await finishedByKilledRun(f.workdir);
      if (killed.code !== 0) interruptedSomething++;
      await checkConsistent(f);
      // Rerun until it completes (it may not need more than one go).
      let r: ToastyRun;
      let guard = 0;
      do {
        r = await f.run('make', '--json');
        assert.ok(++guard < 4, `make keeps failing: ${r.stderr}`);
      } while (r.code !== 0);
      if (killed.code !== 0) {
        const again = ran(r).map((n) => (n === 'index:-' ? 'index' : n));
        for (const n of again) assert.not.ok(finished.has(n), `${n} finished before the kill but ran again (cycle ${cycle})`);
      }
      const complete = await checkConsistent(f);
      assert.equal(complete, Object.keys(SIZES).sort(), 'every image complete after the rerun');
      const root = parseWtml((await f.text('index.wtml'))!);
      assert.is(root.children.length, 3, 'root index lists exactly the complete images');
      for (const p of root.children) assert.ok(p.imageSet.url.startsWith(`http://data.example.org/c${cycle}/`), 'index is current');
    }
    assert.ok(interruptedSomething >= 20, `20 kills landed mid-run (${interruptedSomething} of ${kills})`);
  } finally {
    await f.close();
  }
});

test('a second run on the same work dir is refused naming the holder; a stale lock is taken over', async () => {
  const f = await Fixture.create({ kind: 'local' });
  try {
    const first = f.run('make');
    // Wait for the first run to take the lock.
    const lockFile = path.join(f.workdir, '.toasty.lock');
    for (
      let i = 0;
      i < 200 &&
      !(await fsp.access(lockFile).then(
        () => true,
        () => false,
      ));
      i++
    )
      await new Promise((r) => setTimeout(r, 20));
    const holder = JSON.parse(await fsp.readFile(lockFile, 'utf8'));
    const second = await f.run('make');
    assert.is(second.code, 2);
    assert.match(second.stderr, new RegExp(`in use by another toasty run \\(pid ${holder.pid}`));
    assert.is((await first).code, 0);
    // A lock left by a killed run (its pid no longer exists) does not block the next run.
    await fsp.writeFile(lockFile, JSON.stringify({ pid: 2 ** 22 + 12345, host: (await import('node:os')).hostname(), started: 'earlier' }));
    const third = await f.run('make');
    assert.is(third.code, 0, third.stderr);
  } finally {
    await f.close();
  }
});

/** Start `make`, wait until the tile pyramid's scratch file exists, then send `signal`. */
async function signalWhileTiling(f: Fixture, signal: NodeJS.Signals): Promise<{ run: ToastyRun; seen: string[] }> {
  let pid = 0;
  const running = runToasty(['make', ...f.repoArgs, f.workdir], f.env, { onSpawn: (p) => (pid = p) });
  let seen: string[] = [];
  let finished = false;
  void running.then(() => (finished = true));
  while (!finished) {
    seen = await temporariesUnder(f.workdir);
    if (seen.some((t) => /\.decoded-\d+-[0-9a-f]+\.v$/.test(t))) break;
    await new Promise((r) => setTimeout(r, 5));
  }
  if (finished) assert.unreachable(`the run ended before it was seen tiling:\n${(await running).stderr}`);
  process.kill(pid, signal);
  return { run: await running, seen };
}

test('SIGTERM while tiling: scratch file and temporary folders removed, exit 143; a SIGKILLed run leaves them, the next run sweeps them', async () => {
  const f = await Fixture.create({ kind: 'local' });
  try {
    // 4000x4000 of noise: a 64 MB scratch file and seconds of tiling, long enough to interrupt.
    const big = await sharp({ create: { width: 4000, height: 4000, channels: 3, background: '#000', noise: { type: 'gaussian', mean: 128, sigma: 40 } } })
      .jpeg()
      .toBuffer();
    const recs = await f.baseRecords();
    f.setRecords([
      recs[1],
      {
        ...recs[1],
        image_id: 'bigone',
        title: 'Big',
        wcs_reference_dimension: ['4000', '4000'],
        wcs_reference_pixel: ['2000', '2000'],
        resource_url: f.serve('big.jpg', sendBytes(big, 'image/jpeg')),
      },
    ]);

    const term = await signalWhileTiling(f, 'SIGTERM');
    assert.is(term.run.code, 143, term.run.stderr);
    assert.ok(
      term.seen.some((t) => t.startsWith('out_todo/.noirlab_bigone.tmp-')),
      `a temporary folder existed: ${term.seen}`,
    );
    assert.equal(await temporariesUnder(f.workdir), [], 'nothing temporary left after SIGTERM');

    // SIGKILL cannot be caught: the leftovers stay until a run sweeps them.
    await f.writeConfig({ publish_url_prefix: 'http://data.example.org/again/' });
    const kill = await signalWhileTiling(f, 'SIGKILL');
    assert.is(kill.run.code, 128, kill.run.stderr);
    const left = await temporariesUnder(f.workdir);
    assert.ok(
      left.some((t) => t.endsWith('.v')),
      `the killed run left its scratch file: ${left}`,
    );
    const again = await f.run('make');
    assert.is(again.code, 0, again.stderr);
    assert.equal(await temporariesUnder(f.workdir), [], 'the next run swept what the killed one left');
    for (const id of [IDS.ngc7552, 'noirlab_bigone']) assert.ok(await f.text(`${id}/index.wtml`), `${id} published`);
    assert.is(parseWtml((await f.text('index.wtml'))!).children.length, 2);
  } finally {
    await f.close();
  }
});

test.run();
