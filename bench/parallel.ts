/**
 * Many images at once: `toasty make -j N` vs `-j 1` on a feed of 20 generated photo-like
 * images of 3000x2000 (file: URLs, cached in bench/out/parallel/images), each run into an empty
 * local repository and work dir. Per run, from the child's own resource usage
 * (bench/rusage-hook.mjs): wall time, CPU utilisation = CPU time / (wall x cores), and peak RSS.
 * Goals (issue 14): -j N keeps the cores busy and peaks below N x the peak of -j 1 (one image
 * at a time). Its wall time against -j 1's is reported beside them, not a goal: libvips already
 * spreads one image's tiling over the cores, so -j 1 alone keeps them mostly busy.
 *
 *   node --import tsx bench/parallel.ts [--parallel-images 20] [--size 3000x2000] [--jobs 1,2,4]
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { type Goal, goal, printGoals } from './goals.js';
import { makeImage } from './tile.js';
import { benchRecord } from './feed.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const toasty = path.join(here, '..', 'bin', 'toasty.js');
const hook = path.join(here, 'rusage-hook.mjs');

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : undefined;
}

export interface JobsRun {
  jobs: number;
  wallMs: number;
  cpuMs: number;
  /** CPU time / (wall x cores). */
  utilisation: number;
  maxRssMB: number;
}

function make(args: string[]): Promise<Omit<JobsRun, 'jobs' | 'utilisation'>> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', hook, toasty, ...args], { env: { ...process.env, CI: '1' }, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d) => (err += d));
    child.on('close', (code) => {
      const wallMs = performance.now() - t0;
      const m = /toasty-bench-rusage=(\{.*\})/.exec(err);
      if (code !== 0 || !m) return reject(new Error(`make ${args.join(' ')} failed (${code}): ${err.slice(-2000)}`));
      const r = JSON.parse(m[1]!) as { userUs: number; systemUs: number; maxRssKb: number };
      resolve({ wallMs, cpuMs: (r.userUs + r.systemUs) / 1000, maxRssMB: r.maxRssKb / 1024 });
    });
  });
}

async function feed(root: string, n: number, width: number, height: number): Promise<string> {
  const images = path.join(root, 'images');
  mkdirSync(images, { recursive: true });
  const records = [];
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const file = path.join(images, `photo-${width}x${height}-${i}.jpg`);
    if (!existsSync(file)) await makeImage(file, width, height, 1.5, i + 1);
    records.push(
      benchRecord({
        id: `par${i}`,
        title: `Parallel bench image ${i}`,
        file,
        width,
        height,
        ra: (i * 17) % 360,
        dec: -40 + i,
        lastUpdated: '2020-01-01T00:00:00',
      }),
    );
  }
  const s = (performance.now() - t0) / 1000;
  if (s > 1) console.log(`generated ${n} images of ${width}x${height} in ${s.toFixed(1)} s`);
  const file = path.join(root, 'feed.json');
  writeFileSync(file, JSON.stringify(records));
  return pathToFileURL(file).href;
}

export async function main(): Promise<Goal[]> {
  const cores = os.availableParallelism();
  const n = Number(arg('--parallel-images') ?? 20);
  const [width, height] = (arg('--size') ?? '3000x2000').split('x').map(Number) as [number, number];
  const jobsList = [...new Set((arg('--jobs') ?? `1,${cores},4`).split(',').map(Number))].sort((a, b) => a - b);
  if (jobsList[0] !== 1) jobsList.unshift(1);
  const root = path.join(here, 'out', 'parallel');
  const feedUrl = await feed(root, n, width, height);
  console.log(`\nparallel bench: ${n} images of ${width}x${height}, ${cores} cores, load average ${os.loadavg()[0]!.toFixed(2)}`);
  const runs: JobsRun[] = [];
  for (const jobs of jobsList) {
    const repo = path.join(root, `repo-j${jobs}`);
    const work = path.join(root, `work-j${jobs}`);
    rmSync(repo, { recursive: true, force: true });
    rmSync(work, { recursive: true, force: true });
    mkdirSync(repo, { recursive: true });
    writeFileSync(
      path.join(repo, 'toasty-pipeline-config.yaml'),
      `source_type: astropix\nastropix:\n  json_query_url: ${feedUrl}\npublish_url_prefix: http://example.org/bench/\nfolder_name: Bench\nfolder_thumbnail_url: ""\n`,
    );
    const r = await make(['make', `--local=${repo}`, work, '-j', String(jobs)]);
    const run = { jobs, ...r, utilisation: r.cpuMs / (r.wallMs * cores) };
    runs.push(run);
    console.log(
      `  -j ${String(jobs).padEnd(2)} ${(r.wallMs / 1000).toFixed(1).padStart(6)} s wall  ${(r.cpuMs / 1000).toFixed(1).padStart(6)} s CPU  ` +
        `${(run.utilisation * 100).toFixed(0).padStart(3)}% of ${cores} cores  ${r.maxRssMB.toFixed(0).padStart(5)} MB peak RSS`,
    );
    rmSync(repo, { recursive: true, force: true });
    rmSync(work, { recursive: true, force: true });
  }
  const one = runs[0]!;
  const goals: Goal[] = [];
  for (const r of runs.slice(1)) {
    goals.push(goal(`-j ${r.jobs} CPU utilisation`, r.utilisation, '>=', 0.8, '%', `of ${cores} cores`));
    goals.push(
      goal(
        `-j ${r.jobs} wall vs -j 1`,
        r.wallMs / one.wallMs,
        'report',
        0,
        'x',
        `-j 1 alone keeps ${(one.utilisation * 100).toFixed(0)}% of ${cores} cores busy`,
      ),
    );
    goals.push(
      goal(
        `-j ${r.jobs} peak RSS vs ${r.jobs} x -j 1's`,
        r.maxRssMB / (r.jobs * one.maxRssMB),
        '<=',
        1,
        'x',
        `${r.maxRssMB.toFixed(0)} MB vs ${r.jobs} x ${one.maxRssMB.toFixed(0)} MB`,
      ),
    );
  }
  return goals;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) printGoals(await main());
