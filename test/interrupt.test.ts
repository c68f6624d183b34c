// Ctrl-C and SIGTERM during `toasty make`, through the real CLI (on a pseudo-terminal where
// it matters): no new node starts, a running upload finishes (the image is published whole),
// a running tiling is abandoned at once, the terminal gets its line wrapping back, a line says
// what finished, the exit status is 130 (143), no temporaries are left, and the next run does
// only what is left.
import { spawn } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { fRecord, writeFImage } from './helpers/f-image.js';
import { Fixture, ran, TOASTY, temporariesUnder } from './helpers/pipeline-fixture.js';
import { plainText, runInPty } from './helpers/pty.js';

const WIDTH = 2600;
const HEIGHT = 2000;
const COUNT = 6;
let imageFile = '';

/** A feed of COUNT tiled images (one JPEG served under COUNT names): long enough to interrupt. */
async function bigFeed(): Promise<{ f: Fixture; ids: string[] }> {
  const f = await Fixture.create({ kind: 'local' });
  if (!imageFile) {
    imageFile = path.join(path.dirname(f.tmp), `toasty-interrupt-${process.pid}.jpg`);
    await writeFImage(imageFile, WIDTH, HEIGHT);
  }
  const recs = [];
  for (let i = 0; i < COUNT; i++) {
    recs.push(
      fRecord({
        imageId: `big${i}`,
        resourceUrl: f.serve(`big${i}.jpg`, imageFile),
        ra: 10 + i,
        dec: 20,
        referencePixel: [WIDTH / 2, HEIGHT / 2],
        referenceDimension: [WIDTH, HEIGHT],
        scale: [-1e-4, 1e-4],
        rotation: 0,
        astropixId: 5000 + i,
      }),
    );
  }
  f.setRecords(recs);
  const ids = recs.map((r) => `${r.publisher_id}_${String(r.image_id).toLowerCase()}`);
  return { f, ids };
}

/**
 * A feed of one SIZE x SIZE image of noise: hundreds of tiles that hardly compress, so the
 * tiling takes seconds and so does their upload, even into a local folder.
 */
async function noiseFeed(size: number): Promise<{ f: Fixture; id: string }> {
  const f = await Fixture.create({ kind: 'local' });
  const file = path.join(f.tmp, 'noise.jpg');
  await sharp({ create: { width: size, height: size, channels: 3, background: '#000', noise: { type: 'gaussian', mean: 128, sigma: 40 } } })
    .jpeg({ quality: 95 })
    .toFile(file);
  const rec = fRecord({
    imageId: 'noise',
    resourceUrl: f.serve('noise.jpg', file),
    ra: 10,
    dec: 20,
    referencePixel: [size / 2, size / 2],
    referenceDimension: [size, size],
    scale: [-1e-4, 1e-4],
    rotation: 0,
    astropixId: 6000,
  });
  f.setRecords([rec]);
  return { f, id: `${rec.publisher_id}_noise` };
}

/** `make` without a terminal; `signal` is sent once stderr matches `when`. */
async function makeSignalled(f: Fixture, when: RegExp, signal: NodeJS.Signals): Promise<{ code: number | null; stderr: string; afterSignalMs: number }> {
  const child = spawn(process.execPath, [TOASTY, 'make', ...f.repoArgs, f.workdir], {
    env: { ...process.env, CI: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  let sentAt = 0;
  child.stderr.on('data', (d) => {
    stderr += d;
    if (!sentAt && when.test(stderr)) {
      sentAt = performance.now();
      child.kill(signal);
    }
  });
  child.stdout.resume();
  const code = await new Promise<number | null>((r) => child.on('close', (c) => r(c)));
  assert.ok(sentAt, `the run reached ${when}:\n${stderr}`);
  return { code, stderr, afterSignalMs: performance.now() - sentAt };
}

/** Files below `dir`, relative, '/'-separated. */
async function filesBelow(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string) => {
    for (const e of await fsp.readdir(d, { withFileTypes: true })) {
      if (e.isDirectory()) await walk(path.join(d, e.name));
      else out.push(path.relative(dir, path.join(d, e.name)).split(path.sep).join('/'));
    }
  };
  await walk(dir);
  return out;
}

/** Each file of the image's study (the work dir's out_done holds them) is in the repository. */
async function assertPublishedWhole(f: Fixture, id: string) {
  assert.ok(await f.repo.exists(`${id}/index.wtml`), `${id}/index.wtml published`);
  const study = await filesBelow(path.join(f.workdir, 'out_done', id));
  assert.ok(study.length > 300, `the study has many files (${study.length})`);
  // Pixel files may sit in a subfolder of the image folder (named by their digest).
  const published = new Set((await filesBelow(path.join(f.tmp, 'repo', id))).map((p) => p.replace(/^[0-9a-f]{8,}\//, '')));
  assert.equal(
    study.filter((name) => !published.has(name)),
    [],
    'every file of the study is in the repository',
  );
}

async function published(f: Fixture, ids: string[]): Promise<string[]> {
  const out: string[] = [];
  for (const id of ids) if (await f.repo.exists(`${id}/index.wtml`)) out.push(id);
  return out;
}

const INTERRUPTED = /Interrupted: (\d+) image\(s\) finished(?:, (\d+) partly done)?, (\d+) not started; the next run resumes where this one stopped\./;
const TILE_START = /tile\s+\S+\s+\(/;

/** The terminal is left as it was: every "line wrapping off" is followed by "on" again. */
function assertTerminalRestored(output: string) {
  const off = output.lastIndexOf('\x1b[?7l');
  assert.ok(off >= 0, 'progress bars were drawn (line wrapping turned off)');
  assert.ok(output.lastIndexOf('\x1b[?7h') > off, 'line wrapping turned back on at the end');
  assert.ok(output.lastIndexOf('\x1b[?25h') > off, 'cursor shown at the end');
}

test('Ctrl-C on a terminal: the running tiling is abandoned, bars stop, summary, exit 130; the next run does only the rest', async () => {
  const { f, ids } = await bigFeed();
  try {
    // Interrupt once the third image's tiling has started: two images are done by then.
    const r = await runInPty(['make', ...f.repoArgs, f.workdir], { waitFor: TILE_START, count: 3 });
    const text = plainText(r.output);
    assert.ok(r.interrupted, `the run reached its third tiling:\n${text}`);
    assert.is(r.code, 130, text);
    assertTerminalRestored(r.output);
    const m = INTERRUPTED.exec(text);
    assert.ok(m, `summary line:\n${text}`);
    const [finished, partly, notStarted] = [Number(m[1]), Number(m[2] ?? 0), Number(m[3])];
    assert.is(finished + partly + notStarted, COUNT, 'every image accounted for');
    assert.ok(notStarted >= 1, 'some images were not started');
    assert.ok(partly >= 1, 'the image being tiled is partly done');
    assert.match(text, /skipped tile \S+: stopped while it ran: the run was interrupted/);
    const done = await published(f, ids);
    assert.is(done.length, finished, 'the finished images are the published ones');
    assert.equal(await temporariesUnder(f.workdir), [], 'no temporaries in the work dir');
    assert.equal(await temporariesUnder(path.join(f.tmp, 'repo')), [], 'no temporaries in the repository');

    // The next run plans exactly the images that did not finish, and nothing of the others.
    const plan = await f.run('make', '--dry-run', '--json');
    assert.is(plan.code, 0, plan.stderr);
    const planned = new Set((plan.json?.nodes ?? []).map((n) => n.image).filter((i): i is string => i !== null));
    assert.equal(
      [...planned].sort(),
      ids.filter((id) => !done.includes(id)),
      'only the unfinished images are planned',
    );
    const rerun = await f.run('make', '--json');
    assert.is(rerun.code, 0, rerun.stderr);
    for (const n of rerun.json?.nodes ?? []) assert.not.ok(n.image !== null && done.includes(n.image), `${n.rule} ${n.image} ran again`);
    assert.equal(await published(f, ids), ids, 'all published after the rerun');
  } finally {
    await f.close();
  }
});

test('SIGTERM during an upload: the upload finishes and the image is published whole; the index waits for the next run', async () => {
  const { f, id } = await noiseFeed(4000);
  try {
    const r = await makeSignalled(f, new RegExp(`^upload\\s+${id}\\s+\\(`, 'm'), 'SIGTERM');
    assert.is(r.code, 143, r.stderr);
    const lines = r.stderr.split('\n');
    const warned = lines.findIndex((l) => l.startsWith('warning: SIGTERM received: no new work starts; uploads in progress finish'));
    const uploaded = lines.findIndex((l) => new RegExp(`^upload\\s+${id}\\s+done in`).test(l));
    assert.ok(warned >= 0 && uploaded > warned, `the signal came while the upload ran, and it finished:\n${r.stderr}`);
    assert.match(r.stderr, /Interrupted: 1 image\(s\) finished, 0 not started;/);
    await assertPublishedWhole(f, id);
    assert.not.ok(await f.repo.exists('index.wtml'), 'the root index did not start');
    assert.equal(await temporariesUnder(f.workdir), [], 'no temporaries in the work dir');
    assert.equal(await temporariesUnder(path.join(f.tmp, 'repo')), [], 'no temporaries in the repository');
    // The upload was recorded: only the index is left.
    const rerun = await f.run('make', '--json');
    assert.is(rerun.code, 0, rerun.stderr);
    assert.equal(ran(rerun), ['index:-']);
    assert.ok(await f.repo.exists('index.wtml'));
  } finally {
    await f.close();
  }
});

test('SIGTERM during a long tiling: abandoned at once, nothing temporary left; the next run tiles again and completes', async () => {
  const { f, id } = await noiseFeed(4000);
  try {
    let seen: string[] = [];
    let pid = 0;
    // Signal once the tiling's temporary folder and scratch file exist.
    const child = spawn(process.execPath, [TOASTY, 'make', ...f.repoArgs, f.workdir], { env: { ...process.env, CI: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
    pid = child.pid!;
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    child.stdout.resume();
    const closed = new Promise<number | null>((r) => child.on('close', (c) => r(c)));
    let ended = false;
    void closed.then(() => (ended = true));
    while (!ended && !seen.some((t) => /\.decoded-\d+-[0-9a-f]+\.v$/.test(t))) {
      seen = await temporariesUnder(f.workdir);
      await new Promise((r) => setTimeout(r, 5));
    }
    assert.not.ok(ended, `the run ended before it was seen tiling:\n${stderr}`);
    const sentAt = performance.now();
    process.kill(pid, 'SIGTERM');
    const code = await closed;
    const afterSignalMs = performance.now() - sentAt;
    assert.is(code, 143, stderr);
    assert.ok(
      seen.some((t) => path.basename(t).startsWith(`.${id}.tmp-`)),
      `a temporary folder existed: ${seen}`,
    );
    assert.match(stderr, new RegExp(`skipped tile ${id}: stopped while it ran`));
    assert.match(stderr, /Interrupted: 0 image\(s\) finished, 1 partly done, 0 not started;/);
    assert.equal(await temporariesUnder(f.workdir), [], 'nothing temporary left');
    assert.not.ok(await f.repo.exists(`${id}/index.wtml`), 'nothing published');
    // Nothing of the tiling was recorded: the next run tiles again, and completes.
    const rerun = await f.run('make', '--json');
    assert.is(rerun.code, 0, rerun.stderr);
    assert.equal(ran(rerun), [`tile:${id}`, `wtml:${id}`, `upload:${id}`, 'index:-']);
    const tileMs = Number((rerun.json?.nodes.find((n) => n.rule === 'tile') as { ms?: number } | undefined)?.ms);
    // The run ended well before the tiling would have: it did not wait for it.
    assert.ok(afterSignalMs < 2500 && afterSignalMs < tileMs / 2, `exited ${Math.round(afterSignalMs)} ms after the signal; a whole tiling takes ${tileMs} ms`);
    await assertPublishedWhole(f, id);
  } finally {
    await f.close();
  }
});

test('a second Ctrl-C stops at once: exit 130, terminal restored, no temporaries left; the next run completes', async () => {
  // During an upload, which the first Ctrl-C lets finish (a tiling it would abandon at once).
  const { f, id } = await noiseFeed(4000);
  try {
    const r = await runInPty(['make', ...f.repoArgs, f.workdir], { waitFor: /upload \S+ \[/, count: 1, againAfterMs: 50 });
    const text = plainText(r.output);
    assert.ok(r.interrupted, text);
    assert.is(r.code, 130, text);
    assertTerminalRestored(r.output);
    assert.not.match(text, INTERRUPTED, 'no summary: it stopped at once');
    assert.not.ok(await f.repo.exists(`${id}/index.wtml`), 'the upload did not finish');
    assert.equal(await temporariesUnder(f.workdir), [], 'no temporaries in the work dir');
    assert.equal(await temporariesUnder(path.join(f.tmp, 'repo')), [], 'no temporaries in the repository');
    const rerun = await f.run('make', '--json');
    assert.is(rerun.code, 0, rerun.stderr);
    assert.equal(ran(rerun), [`upload:${id}`, 'index:-'], 'the next run resumes with the upload');
    await assertPublishedWhole(f, id);
  } finally {
    await f.close();
  }
});

test('SIGTERM without a terminal: exit 143 with the summary line', async () => {
  const { f, ids } = await bigFeed();
  try {
    const child = spawn(process.execPath, [TOASTY, 'make', ...f.repoArgs, f.workdir], {
      env: { ...process.env, CI: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    let sent = false;
    child.stderr.on('data', (d) => {
      stderr += d;
      if (!sent && (stderr.match(new RegExp(TILE_START, 'g'))?.length ?? 0) >= 2) {
        sent = true;
        child.kill('SIGTERM');
      }
    });
    child.stdout.resume();
    const code = await new Promise<number | null>((r) => child.on('close', (c) => r(c)));
    assert.ok(sent, stderr);
    assert.is(code, 143, stderr);
    assert.match(stderr, /SIGTERM received: no new work starts/);
    const m = INTERRUPTED.exec(stderr);
    assert.ok(m, stderr);
    assert.is((await published(f, ids)).length, Number(m[1]));
    assert.not.ok(stderr.includes('\x1b['), 'no terminal sequences without a terminal');
  } finally {
    await f.close();
  }
});

test('-j 2 on a terminal: one labelled bar per running image, on lines of their own', async () => {
  const { f } = await bigFeed();
  try {
    const r = await runInPty(['make', '-j', '2', ...f.repoArgs, f.workdir]);
    assert.is(r.code, 0, plainText(r.output));
    // Two bars drawn together: `tile A [...]` then, on the next line, `tile B [...]`.
    const text = plainText(r.output);
    const pairs = [...text.matchAll(/tile (\S+) \[[^\n]*\n[^\n]*?tile (\S+) \[/g)].filter((p) => p[1] !== p[2]);
    assert.ok(pairs.length > 0, `two bars of different images on distinct lines:\n${text.slice(0, 3000)}`);
    assertTerminalRestored(r.output);
  } finally {
    await f.close();
  }
});

test.after(async () => {
  if (imageFile) await fsp.rm(imageFile, { force: true });
});

test.run();
