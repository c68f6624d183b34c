/**
 * Planning speed: `toasty make` on a feed of N images (default 10,000) when everything is up
 * to date. Builds the repository once (small untiled images, so setup stays quick; `--reuse`
 * keeps one built by an earlier run of the same size), then times the no-op `make` and
 * `make --dry-run` as the CLI runs them (best of `--repeat`, default 5), against a reference
 * run of `toasty --help` (process start-up) in the same script, the three taken in turns. Wall
 * time and the child's CPU time (bench/rusage-hook.mjs), which a busy machine disturbs less.
 * Goals: about 100 µs per image beyond start-up; the real make costs what its dry run does.
 *
 *   node --import tsx bench/plan.ts [--images|--plan-images N] [--repeat N] [--reuse]
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import sharp from 'sharp';
import { type Goal, goal, printGoals } from './goals.js';
import { benchRecord } from './feed.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const toasty = path.join(here, '..', 'bin', 'toasty.js');
const hook = path.join(here, 'rusage-hook.mjs');

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
}

interface Timed {
  ms: number;
  cpuMs: number;
  code: number;
  out: string;
}

function time(args: string[]): Timed {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, ['--import', hook, toasty, ...args], { encoding: 'utf8', env: { ...process.env, CI: '1' }, maxBuffer: 1 << 28 });
  const ms = performance.now() - t0;
  const m = /toasty-bench-rusage=(\{.*\})/.exec(r.stderr);
  const u = m ? (JSON.parse(m[1]!) as { userUs: number; systemUs: number }) : { userUs: Number.NaN, systemUs: Number.NaN };
  return { ms, cpuMs: (u.userUs + u.systemUs) / 1000, code: r.status ?? 1, out: r.stdout };
}

/**
 * The best (least) wall and CPU time of `repeat` runs of each command line, taken in turns
 * (one of each, `repeat` times): a slower spell of the machine then weighs on all of them
 * alike, the reference included, rather than on whichever ran during it.
 */
function bestInTurns(commands: string[][], repeat: number): Timed[] {
  const runs = commands.map((): Timed[] => []);
  for (let i = 0; i < repeat; i++) {
    commands.forEach((args, c) => {
      const r = time(args);
      if (r.code !== 0) throw new Error(`toasty ${args.join(' ')} failed (${r.code})`);
      runs[c]!.push(r);
    });
  }
  return runs.map((rs) => ({ ...rs[0]!, ms: Math.min(...rs.map((r) => r.ms)), cpuMs: Math.min(...rs.map((r) => r.cpuMs)) }));
}

export async function main(): Promise<Goal[]> {
  // `--images a,b` (names) is the tile bench's.
  const n = arg('--plan-images', 0) || (Number.isInteger(arg('--images', Number.NaN)) ? arg('--images', 0) : 10000);
  const repeat = arg('--repeat', 5);
  const root = path.join(here, 'out', `plan-${n}`);
  const built = path.join(root, 'built');
  if (process.argv.includes('--reuse') && existsSync(built)) {
    console.log(`\nplanning bench: reusing the ${n}-image repository in ${path.relative(process.cwd(), root)}`);
  } else {
    await buildRepository(root, n);
    writeFileSync(built, '');
  }
  const repo = path.join(root, 'repo');
  const work = path.join(root, 'work');
  const [reference, make, dry] = bestInTurns(
    [['--help'], ['make', `--local=${repo}`, work, '--json'], ['make', '--dry-run', `--local=${repo}`, work, '--json']],
    repeat,
  ) as [Timed, Timed, Timed];
  const ran = (JSON.parse(make.out) as { nodes: unknown[] }).nodes.length;
  if (ran !== 0) throw new Error(`an up-to-date make ran ${ran} node(s)`);
  const perImage = (t: Timed, key: 'ms' | 'cpuMs') => ((t[key] - reference[key]) * 1000) / n;
  console.log(`process start-up (toasty --help): ${reference.ms.toFixed(0)} ms wall, ${reference.cpuMs.toFixed(0)} ms CPU`);
  console.log(`up-to-date make, ${n} images: ${make.ms.toFixed(0)} ms wall, ${make.cpuMs.toFixed(0)} ms CPU (best of ${repeat})`);
  console.log(`up-to-date make --dry-run:  ${dry.ms.toFixed(0)} ms wall, ${dry.cpuMs.toFixed(0)} ms CPU`);
  console.log(
    `beyond start-up, per image: make ${perImage(make, 'ms').toFixed(0)} µs wall (${perImage(make, 'cpuMs').toFixed(0)} µs CPU), ` +
      `dry run ${perImage(dry, 'ms').toFixed(0)} µs wall (${perImage(dry, 'cpuMs').toFixed(0)} µs CPU)`,
  );
  return [
    goal(`planning per image beyond start-up, ${n} images`, perImage(make, 'ms'), '<=', 100, 'us', 'wall'),
    goal(`real make vs dry run, ${n} images`, (make.ms - reference.ms) / (dry.ms - reference.ms), '<=', 1.1, 'x', 'beyond start-up'),
  ];
}

/** A repository (and the work dir that built it) of `n` small published images. */
async function buildRepository(root: string, n: number): Promise<void> {
  rmSync(root, { recursive: true, force: true });
  const images = path.join(root, 'images');
  const repo = path.join(root, 'repo');
  const work = path.join(root, 'work');
  mkdirSync(images, { recursive: true });
  mkdirSync(repo, { recursive: true });
  const records = [];
  for (let i = 0; i < n; i++) {
    const file = path.join(images, `img${i}.jpg`);
    await sharp({ create: { width: 64, height: 48, channels: 3, background: { r: i % 256, g: (i * 7) % 256, b: 99 } } })
      .jpeg()
      .toFile(file);
    records.push(
      benchRecord(
        {
          id: `bench${i}`,
          title: `Bench image ${i}`,
          file,
          width: 64,
          height: 48,
          ra: (i * 0.36) % 360,
          dec: -30 + (i % 60),
          lastUpdated: `2020-01-01T00:00:${String(i % 60).padStart(2, '0')}`,
        },
        { description: 'synthetic' },
      ),
    );
  }
  writeFileSync(path.join(root, 'feed.json'), JSON.stringify(records));
  writeFileSync(
    path.join(repo, 'toasty-pipeline-config.yaml'),
    `source_type: astropix\nastropix:\n  json_query_url: ${pathToFileURL(path.join(root, 'feed.json')).href}\npublish_url_prefix: http://example.org/bench/\nfolder_name: Bench\nfolder_thumbnail_url: ""\n`,
  );
  const build = time(['make', `--local=${repo}`, work, '-j', '2']);
  if (build.code !== 0) throw new Error(`initial make failed (${build.code})`);
  console.log(`\nplanning bench: initial make of ${n} images: ${(build.ms / 1000).toFixed(1)} s`);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) printGoals(await main());
