/**
 * Planning speed: `toasty make` on a feed of N images (default 1,000) when everything is up
 * to date. Builds the repository once (small untiled images, so setup stays quick), then times
 * the no-op `make` and `make --dry-run` as the CLI runs them, against a reference run of
 * `toasty --help` (process start-up) in the same script.
 *
 *   node --import tsx bench/plan.ts [--images N]
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import sharp from 'sharp';

const here = path.dirname(fileURLToPath(import.meta.url));
const toasty = path.join(here, '..', 'bin', 'toasty.js');

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
}

function time(args: string[]): { ms: number; code: number; out: string } {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [toasty, ...args], { encoding: 'utf8', env: { ...process.env, CI: '1' }, maxBuffer: 1 << 28 });
  return { ms: performance.now() - t0, code: r.status ?? 1, out: r.stdout };
}

export async function main(): Promise<void> {
  const n = arg('--images', 1000);
  const root = path.join(here, 'out', `plan-${n}`);
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
    records.push({
      title: `Bench image ${i}`,
      description: 'synthetic',
      image_id: `bench${i}`,
      publisher_id: 'bench',
      resource_url: pathToFileURL(file).href,
      image_credit: 'toasty bench',
      reference_url: '',
      wcs_reference_value: [String((i * 0.36) % 360), String(-30 + (i % 60))],
      wcs_reference_dimension: ['64', '48'],
      wcs_reference_pixel: ['32.5', '24.5'],
      wcs_scale: ['-0.0001', '0.0001'],
      wcs_rotation: '0',
      wcs_projection: 'TAN',
      last_updated: `2020-01-01T00:00:${String(i % 60).padStart(2, '0')}`,
      image_max_boundry: '64',
    });
  }
  writeFileSync(path.join(root, 'feed.json'), JSON.stringify(records));
  writeFileSync(
    path.join(repo, 'toasty-pipeline-config.yaml'),
    `source_type: astropix\nastropix:\n  json_query_url: ${pathToFileURL(path.join(root, 'feed.json')).href}\npublish_url_prefix: http://example.org/bench/\nfolder_name: Bench\nfolder_thumbnail_url: ""\n`,
  );
  const build = time(['make', `--local=${repo}`, work, '-j', '2']);
  if (build.code !== 0) throw new Error(`initial make failed (${build.code})`);
  console.log(`initial make of ${n} images: ${(build.ms / 1000).toFixed(1)} s`);
  const reference = time(['--help']);
  const runs = [1, 2, 3].map(() => time(['make', `--local=${repo}`, work, '--json']));
  const dry = [1, 2, 3].map(() => time(['make', '--dry-run', `--local=${repo}`, work, '--json']));
  const nodes = JSON.parse(runs[0].out).nodes.length;
  const best = (xs: Array<{ ms: number }>) => Math.min(...xs.map((x) => x.ms));
  console.log(`process start-up (toasty --help): ${best([reference]).toFixed(0)} ms`);
  console.log(`up-to-date make (${n} images, ${nodes} nodes ran): best ${best(runs).toFixed(0)} ms`);
  console.log(`up-to-date make --dry-run: best ${best(dry).toFixed(0)} ms`);
  console.log(`planning beyond start-up: ${(best(runs) - reference.ms).toFixed(0)} ms (goal: make < 1000 ms)`);
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) await main();
