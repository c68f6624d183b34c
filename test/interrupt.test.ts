// Ctrl-C and SIGTERM during `toasty make`, through the real CLI on a pseudo-terminal: no new
// node starts, the terminal gets its line wrapping back, a line says what finished, the exit
// status is 130 (143), no temporaries are left, and the next run does only what is left.
import { spawn } from 'node:child_process';
import { type Dirent, promises as fsp } from 'node:fs';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { temporaryOwner } from '../src/util/temporaries.js';
import { fRecord, writeFImage } from './helpers/f-image.js';
import { Fixture, TOASTY } from './helpers/pipeline-fixture.js';
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

/** Toasty temporaries anywhere below `dir`. */
async function temporariesBelow(dir: string): Promise<string[]> {
  const found: string[] = [];
  const walk = async (d: string) => {
    let entries: Dirent[];
    try {
      entries = await fsp.readdir(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const p = path.join(d, e.name);
      if (temporaryOwner(e.name) !== null) found.push(p);
      if (e.isDirectory()) await walk(p);
    }
  };
  await walk(dir);
  return found;
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

test('Ctrl-C on a terminal: running work finishes, bars stop, summary, exit 130; the next run does only the rest', async () => {
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
    const done = await published(f, ids);
    assert.is(done.length, finished, 'the finished images are the published ones');
    assert.equal(await temporariesBelow(f.workdir), [], 'no temporaries in the work dir');
    assert.equal(await temporariesBelow(path.join(f.tmp, 'repo')), [], 'no temporaries in the repository');

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

test('a second Ctrl-C stops at once: exit 130, terminal restored, no temporaries left', async () => {
  const { f } = await bigFeed();
  try {
    // Once a tiling's bar is drawn: its scratch file and temporary folder exist then.
    const r = await runInPty(['make', ...f.repoArgs, f.workdir], { waitFor: /tile \S+ \[/, count: 1, againAfterMs: 150 });
    const text = plainText(r.output);
    assert.ok(r.interrupted, text);
    assert.is(r.code, 130, text);
    assertTerminalRestored(r.output);
    assert.not.match(text, INTERRUPTED, 'no summary: it stopped at once');
    assert.equal(await temporariesBelow(f.workdir), [], 'no temporaries in the work dir');
    const rerun = await f.run('make');
    assert.is(rerun.code, 0, rerun.stderr);
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
