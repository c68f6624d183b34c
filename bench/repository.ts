/**
 * The repository carries the build, measured:
 *  - shards: the same 16-image feed made by 1, 2 and 4 `make --shard I/N` processes at once
 *    (each with its own empty work dir, as pods would), then one reindex; wall time each,
 *    as a ratio to the single run;
 *  - planning an up-to-date `make` against Azurite with N published images (default 1,000):
 *    from the work dir that built them, and from an empty one (adopting every build record),
 *    against process start-up (`toasty --help`) in the same script. Goal: under 3 s.
 *
 *   node --import tsx bench/repository.ts [--azure-images N] [--shard-images N (0: skip)]
 */
import { spawn } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { BlobServiceClient } from '@azure/storage-blob';
import sharp from 'sharp';
import { startAzurite } from '../test/helpers/azurite.js';
import { type Goal, goal, printGoals } from './goals.js';
import { benchRecord } from './feed.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const toasty = path.join(here, '..', 'bin', 'toasty.js');

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
}

function run(args: string[], env: Record<string, string> = {}): Promise<{ ms: number; code: number; out: string; err: string }> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [toasty, ...args], { env: { ...process.env, CI: '1', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('close', (code) => resolve({ ms: performance.now() - t0, code: code ?? 1, out, err }));
  });
}

async function must(p: ReturnType<typeof run>, what: string) {
  const r = await p;
  if (r.code !== 0) throw new Error(`${what} failed (${r.code}): ${r.err.slice(-2000)}`);
  return r;
}

/** A feed of `n` synthetic images of `w`x`h` (file: URLs), in `root`. */
async function makeFeed(root: string, n: number, w: number, h: number): Promise<string> {
  const images = path.join(root, 'images');
  mkdirSync(images, { recursive: true });
  const records = [];
  for (let i = 0; i < n; i++) {
    const file = path.join(images, `img${i}.jpg`);
    // Noise makes the tiles cost what real ones do to encode.
    const noise = { noise: { type: 'gaussian' as const, mean: 90 + (i % 60), sigma: 40 } };
    await sharp({ create: { width: w, height: h, channels: 3, background: { r: 0, g: 0, b: 0 }, ...noise } })
      .jpeg({ quality: 85 })
      .toFile(file);
    records.push(
      benchRecord({
        id: `bench${i}`,
        title: `Bench image ${i}`,
        file,
        width: w,
        height: h,
        ra: (i * 0.36) % 360,
        dec: -30 + (i % 60),
        lastUpdated: `2020-01-01T00:00:${String(i % 60).padStart(2, '0')}`,
      }),
    );
  }
  const feed = path.join(root, 'feed.json');
  writeFileSync(feed, JSON.stringify(records));
  return pathToFileURL(feed).href;
}

const config = (feedUrl: string) =>
  `source_type: astropix\nastropix:\n  json_query_url: ${feedUrl}\npublish_url_prefix: http://example.org/bench/\nfolder_name: Bench\nfolder_thumbnail_url: ""\n`;

async function shardBench(n: number): Promise<void> {
  const root = path.join(here, 'out', 'shards');
  rmSync(root, { recursive: true, force: true });
  const feed = await makeFeed(root, n, 2400, 1800);
  const walls: Record<number, number> = {};
  for (const shards of [1, 2, 4]) {
    const repo = path.join(root, `repo-${shards}`);
    mkdirSync(repo, { recursive: true });
    writeFileSync(path.join(repo, 'toasty-pipeline-config.yaml'), config(feed));
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: shards }, (_, i) =>
        must(run(['make', `--local=${repo}`, path.join(root, `work-${shards}-${i}`), '--shard', `${i}/${shards}`]), `shard ${i}/${shards}`),
      ),
    );
    await must(run(['pipeline-reindex', `--local=${repo}`, path.join(root, `work-${shards}-index`)]), 'reindex');
    walls[shards] = performance.now() - t0;
    console.log(
      `${n} images (2400x1800), ${shards} shard(s) at once + reindex: ${(walls[shards] / 1000).toFixed(1)} s wall (${(walls[1] / walls[shards]).toFixed(2)}x the single run's speed)`,
    );
  }
}

async function azurePlanBench(n: number): Promise<Goal[]> {
  const root = path.join(here, 'out', 'azure-plan');
  rmSync(root, { recursive: true, force: true });
  const az = await startAzurite({ location: path.join(root, 'azurite') });
  try {
    const feed = await makeFeed(root, n, 64, 48);
    await BlobServiceClient.fromConnectionString(az.connectionString).createContainer('bench');
    const env = { BENCH_AZ: az.connectionString };
    const data = ['--azure-conn-env=BENCH_AZ', '--azure-container=bench'];
    const { AzureRepository } = await import('../src/storage/azure.js');
    await new AzureRepository({ connectionString: az.connectionString, container: 'bench' }).put('toasty-pipeline-config.yaml', config(feed));
    const build = await must(run(['make', ...data, path.join(root, 'work'), '-j', '2'], env), 'initial make');
    console.log(`initial make of ${n} images into Azurite: ${(build.ms / 1000).toFixed(1)} s`);
    const startup = Math.min(...(await Promise.all([1, 2, 3].map(() => run(['--help'])))).map((r) => r.ms));
    const best = async (fresh: boolean) => {
      let ms = Number.POSITIVE_INFINITY;
      for (let i = 0; i < 3; i++) {
        const work = fresh ? path.join(root, `empty-${i}`) : path.join(root, 'work');
        const r = await must(run(['make', ...data, work, '--json'], env), 'up-to-date make');
        const ran = (JSON.parse(r.out) as { nodes: unknown[] }).nodes.length;
        if (ran !== 0) throw new Error(`an up-to-date make ran ${ran} node(s)`);
        ms = Math.min(ms, r.ms);
      }
      return ms;
    };
    const warm = await best(false);
    const fresh = await best(true);
    console.log(`process start-up (toasty --help): ${startup.toFixed(0)} ms`);
    console.log(`up-to-date make against Azurite, ${n} images, the work dir that built them: ${warm.toFixed(0)} ms (goal < 3000 ms)`);
    console.log(`up-to-date make against Azurite, ${n} images, an empty work dir (adopting ${n} build records): ${fresh.toFixed(0)} ms (goal < 3000 ms)`);
    return [
      goal(`up-to-date make against Azurite, ${n} images, its work dir`, warm, '<=', 3000, 'ms'),
      goal(`up-to-date make against Azurite, ${n} images, empty work dir`, fresh, '<=', 3000, 'ms'),
    ];
  } finally {
    await az.stop();
  }
}

export async function main(): Promise<Goal[]> {
  const shardImages = arg('--shard-images', 16);
  if (shardImages > 0) await shardBench(shardImages);
  return azurePlanBench(arg('--azure-images', 1000));
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) printGoals(await main());
