// The command line's conventions, through the real `toasty` binary: help that names option
// values and shows the repository arguments, `toasty help`, -V anywhere, colour only when
// asked for, -v on every command (and what it adds), and a zero rotation written as "0".
import { spawn } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { failTimes, sendFile } from './helpers/http-server.js';
import { Fixture, IDS, ROOT, TESTDATA, TOASTY } from './helpers/pipeline-fixture.js';
import { loadVectors, recordOf } from './helpers/vectors.js';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Run toasty with stdout and stderr piped, colour variables only as given. */
function toasty(args: string[], env: Record<string, string> = {}): Promise<Run> {
  const base: NodeJS.ProcessEnv = { ...process.env, CI: '1' };
  delete base.NO_COLOR;
  delete base.FORCE_COLOR;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [TOASTY, ...args], { env: { ...base, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr }));
  });
}

const VERSION = JSON.parse(await fsp.readFile(path.join(ROOT, 'package.json'), 'utf8')).version as string;
const REPO_ARGS = '{--local DIR | --azure-conn-env VAR --azure-container NAME [--azure-path-prefix PREFIX]}';
const PIPELINE = ['make', 'pipeline-fetch-inputs', 'pipeline-process-todos', 'pipeline-publish-todos', 'pipeline-reindex'];
const ESC = '\x1b[';

const overview = await toasty(['--help']);
/** The commands `toasty --help` lists (a command added later is checked too). */
const COMMANDS = [...overview.stdout.matchAll(/^ {2}([a-z][a-z-]*)\b/gm)].map((m) => m[1]!);
const helps = new Map(await Promise.all(COMMANDS.map(async (c) => [c, await toasty([c, '--help'])] as const)));
const usageLine = (c: string) => /^ {2}\$ (toasty .*)$/m.exec(helps.get(c)!.stdout)?.[1] ?? '';

test('toasty --help lists every command by category, in workflow order, after what toasty is', () => {
  assert.is(overview.code, 0);
  for (const c of [...PIPELINE, 'verify', 'tile-study', 'check-avm', 'preview']) assert.ok(COMMANDS.includes(c), `${c} listed`);
  assert.match(overview.stdout, new RegExp(`^toasty ${VERSION.replace(/\./g, '\\.')}\\n.*WorldWide Telescope`));
  const at = (heading: string) => overview.stdout.indexOf(`\n${heading}\n`);
  const order = ['Pipeline', 'Pipeline stages', 'Repository', 'Studies', 'Review'].map(at);
  assert.ok(
    order.every((i, k) => i > 0 && (k === 0 || i > order[k - 1]!)),
    `categories in order: ${order}`,
  );
  // One line of description per command, no clipanion leftovers.
  assert.ok(overview.stdout.includes(REPO_ARGS.slice(1, 12)));
  assert.not.match(overview.stdout, /#\d|<command>|undocumented/);
  assert.is(overview.stderr, '');
});

test('every command has help with named values (never #0) and a usage line', () => {
  for (const [c, r] of helps) {
    assert.is(r.code, 0, c);
    assert.not.match(r.stdout, /#\d/, `${c}: clipanion's #0`);
    assert.ok(usageLine(c).startsWith(`toasty ${c} `), `${c}: usage line`);
    assert.match(r.stdout, /^ {2}-v, --verbose {2,}/m, `${c} lists -v`);
  }
  const make = helps.get('make')!.stdout;
  for (const v of [
    '--local DIR',
    '--azure-conn-env VAR',
    '--azure-container NAME',
    '--azure-path-prefix PREFIX',
    '-j, --jobs N',
    '--shard I/N',
    '--shard-count N',
    '--download-timeout SECONDS',
    '--force ID',
    '--only ID',
  ]) {
    assert.match(make, new RegExp(`^ {2}${v.replace(/[|[\]{}]/g, '\\$&')} {2,}\\S`, 'm'), `make --help: ${v}`);
  }
  assert.match(helps.get('preview')!.stdout, /^ {2}--port N {2,}\S/m);
  assert.match(helps.get('tile-study')!.stdout, /^ {2}--astropix-json FILE {2,}\S/m);
  assert.match(helps.get('tile-study')!.stdout, /^ {2}--max-pixels N {2,}\S/m);
});

test('the usage line of every repository command shows the repository arguments and WORKDIR', () => {
  for (const c of [...PIPELINE, 'preview']) assert.ok(usageLine(c).endsWith(`${REPO_ARGS} WORKDIR`), `${c}: ${usageLine(c)}`);
  assert.ok(usageLine('verify').endsWith(`${REPO_ARGS} [WORKDIR]`), usageLine('verify'));
  assert.is(usageLine('tile-study'), 'toasty tile-study [options] IMAGE OUTDIR');
  assert.is(usageLine('check-avm'), 'toasty check-avm [options] IMAGE');
});

test('toasty help [COMMAND] is --help; an unknown command exits 2 naming the nearest', async () => {
  for (const c of ['make', 'verify', 'tile-study']) {
    const r = await toasty(['help', c]);
    assert.is(r.code, 0);
    assert.is(r.stdout, helps.get(c)!.stdout, `help ${c}`);
  }
  assert.is((await toasty(['help'])).stdout, overview.stdout);
  assert.is((await toasty(['make', '-h'])).stdout, helps.get('make')!.stdout);
  for (const args of [['help', 'mak'], ['mak'], ['pipline-reindex', '--local=x', 'w']]) {
    const r = await toasty(args);
    assert.is(r.code, 2, args.join(' '));
    assert.is(r.stdout, '');
    const want = args[0] === 'pipline-reindex' ? 'pipeline-reindex' : 'make';
    assert.match(r.stderr, new RegExp(`^error: unknown command "[a-z-]+"; did you mean "${want}"\\?`), args.join(' '));
  }
});

test('a usage mistake: one error line, our usage line, exit 2', async () => {
  const r = await toasty(['make', '--bogus', './w']);
  assert.is(r.code, 2);
  assert.is(r.stderr.split('\n')[0], 'error: Unsupported option name ("--bogus").');
  assert.ok(r.stderr.includes(`usage: toasty make [options] ${REPO_ARGS} WORKDIR\n`), r.stderr);
  assert.not.match(r.stderr, /#\d/);
  const j = await toasty(['make', '-j', 'many', '--local=x', './w']);
  assert.is(j.code, 2);
  assert.match(j.stderr, /^error: .*-j.*many/);
});

test('-V and --version print the version anywhere on the line', async () => {
  for (const args of [['-V'], ['--version'], ['make', '-V'], ['tile-study', 'a.jpg', '--version'], ['verify', '--local=x', '-V']]) {
    const r = await toasty(args);
    assert.is(r.code, 0, args.join(' '));
    assert.is(r.stdout, `${VERSION}\n`, args.join(' '));
  }
});

test('no escape codes when piped; FORCE_COLOR colours, NO_COLOR and FORCE_COLOR=0 do not', async () => {
  const texts = [overview.stdout, ...[...helps.values()].map((r) => r.stdout), (await toasty(['make', '--bogus'])).stderr, (await toasty(['mak'])).stderr];
  for (const t of texts) assert.not.ok(t.includes(ESC), t.slice(0, 80));
  for (const args of [['--help'], ['make', '--help'], ['help', 'tile-study']]) {
    assert.ok((await toasty(args, { FORCE_COLOR: '1' })).stdout.includes(ESC), `FORCE_COLOR=1 ${args.join(' ')}`);
    assert.not.ok((await toasty(args, { FORCE_COLOR: '1', NO_COLOR: '1' })).stdout.includes(ESC), `NO_COLOR wins: ${args.join(' ')}`);
    assert.not.ok((await toasty(args, { FORCE_COLOR: '0' })).stdout.includes(ESC), `FORCE_COLOR=0 ${args.join(' ')}`);
  }
  // Colour changes the look, not the words.
  const strip = (s: string) => s.replace(new RegExp(`${ESC.replace('[', '\\[')}[0-9;]*m`, 'g'), '');
  assert.is(strip((await toasty(['make', '--help'], { FORCE_COLOR: '1' })).stdout), helps.get('make')!.stdout);
});

test('every command accepts -v and --verbose', async () => {
  const tmp = await fsp.mkdtemp(path.join(os.tmpdir(), 'toasty-verbose-'));
  try {
    const repo = `--local=${path.join(tmp, 'none')}`;
    const image = path.join(TESTDATA, 'geminiann11015a.jpg');
    const runs: Record<string, string[]> = {
      ...Object.fromEntries([...PIPELINE, 'verify'].map((c) => [c, [c, repo, path.join(tmp, 'w')]])),
      // Port 70000 is refused after the options are read: no server starts.
      preview: ['preview', repo, path.join(tmp, 'w'), '--port', '70000'],
      init: ['init', repo, path.join(tmp, 'w')],
      reject: ['reject', repo, path.join(tmp, 'w'), 'some_id', '--reason', 'blurry'],
      'check-avm': ['check-avm', image],
      'tile-study': ['tile-study', image, path.join(tmp, 'study')],
    };
    for (const c of COMMANDS) assert.ok(runs[c], `${c}: a -v run in this test`);
    for (const [c, args] of Object.entries(runs)) {
      for (const flag of ['-v', '--verbose']) {
        const r = await toasty([...args, flag]);
        assert.not.match(r.stderr, /^usage:|Unsupported option/m, `${c} ${flag}: ${r.stderr}`);
        // No repository there: a repository error (2), never a usage error about -v.
        if (c !== 'check-avm' && c !== 'tile-study') assert.match(r.stderr, /^error: /m, `${c} ${flag}`);
      }
    }
    // tile-study -v says what it wrote and how long it took; without -v, no debug lines.
    const quiet = await toasty(['tile-study', image, path.join(tmp, 'study2')]);
    assert.is(quiet.code, 0, quiet.stderr);
    assert.not.match(quiet.stderr, /debug:/);
    assert.match((await toasty(['tile-study', image, path.join(tmp, 'study3'), '-v'])).stderr, /^debug: 3 files written in \d+ ms$/m);
    // check-avm -v prints long AVM texts whole.
    const cut = await toasty(['check-avm', image]);
    const whole = await toasty(['check-avm', '-v', image]);
    assert.match(cut.stdout, /Description +.*… \(339 characters\)/);
    assert.not.match(whole.stdout, /characters\)/);
    assert.match(whole.stdout, /Description +Gemini GMOS image .{300,}\n/);
  } finally {
    await fsp.rm(tmp, { recursive: true, force: true });
  }
});

test('make -v shows each node inputs digest and time, the rule times, and a download retry', async () => {
  const f = await Fixture.create({ kind: 'local' });
  try {
    // The image fails once with 503: the retry shows at debug level.
    f.serve('geminiann11015a.jpg', failTimes(1, 503, sendFile(path.join(TESTDATA, 'geminiann11015a.jpg'))));
    const r = await f.run('make', '-v', '--only', IDS.ngc7552);
    assert.is(r.code, 0, r.stderr);
    for (const rule of ['fetch', 'tile', 'wtml', 'upload']) {
      assert.match(r.stderr, new RegExp(`^debug: ${rule} ${IDS.ngc7552}: inputs [0-9a-f]{16}$`, 'm'), rule);
      assert.match(r.stderr, new RegExp(`^debug: ${rule} ${IDS.ngc7552}: ran in \\d+ ms`, 'm'), rule);
    }
    assert.match(r.stderr, /^debug: index: inputs [0-9a-f]{16}$/m);
    assert.match(r.stderr, /^debug: time by rule: fetch \d+ ms \(1 node\), tile \d+ ms \(1 node\), wtml .*index \d+ ms \(1 node\)$/m);
    assert.match(r.stderr, /^debug: download http:.*\/geminiann11015a\.jpg: HTTP 503.*; retrying in \d+ ms/m);
    // The digest printed is the key the build record keeps.
    const manifest = await fsp.readFile(path.join(f.workdir, 'toasty-manifest.json'), 'utf8');
    const key = new RegExp(`^debug: tile ${IDS.ngc7552}: inputs ([0-9a-f]{16})$`, 'm').exec(r.stderr)![1]!;
    assert.ok(manifest.includes(key), 'the tile key is in the manifest');
    // Without -v: none of it.
    const again = await f.run('make', '--force', IDS.ngc7552, '--only', IDS.ngc7552);
    assert.is(again.code, 0, again.stderr);
    assert.not.match(again.stderr, /debug:/);
  } finally {
    await f.close();
  }
});

test('tile-study writes a zero rotation as Rotation="0", never "-0" (the reference writes -0 here)', async () => {
  const c = loadVectors().wcs_cases.find((x) => x.name.startsWith('exactly-2048'))!;
  assert.is(c.expected.wtml_attrs.imageset.Rotation, '-0', 'the vector this test is about');
  const tmp = await fsp.mkdtemp(path.join(os.tmpdir(), 'toasty-rotation-'));
  try {
    const image = path.join(tmp, 'wrap.jpg');
    await sharp({ create: { width: c.input.cached_image_width, height: c.input.cached_image_height, channels: 3, background: '#204060' } })
      .jpeg()
      .toFile(image);
    const record = path.join(tmp, 'record.json');
    await fsp.writeFile(record, JSON.stringify(recordOf(c)));
    const r = await toasty(['tile-study', image, path.join(tmp, 'out'), '--astropix-json', record]);
    assert.is(r.code, 0, r.stderr);
    const wtml = await fsp.readFile(path.join(tmp, 'out', 'index_rel.wtml'), 'utf8');
    assert.not.match(wtml, /Rotation="-0"/);
    assert.is(wtml.match(/ Rotation="0" /g)?.length, 2, 'Place and ImageSet');
  } finally {
    await fsp.rm(tmp, { recursive: true, force: true });
  }
});

test.run();
