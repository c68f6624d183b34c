/**
 * Bench: publish N small 256x256 PNG tiles to Azurite, one at a time vs `putMany` with a
 * bounded concurrency. Not a test. Run: `node --import tsx bench/azure-upload.ts [N] [CONC]`.
 */
import { pathToFileURL } from 'node:url';
import { BlobServiceClient } from '@azure/storage-blob';
import sharp from 'sharp';
import { AzureRepository } from '../src/storage/azure.js';
import { putMany, type PutItem } from '../src/storage/parallel.js';
import { startAzurite } from '../test/helpers/azurite.js';

export interface UploadBenchResult {
  tiles: number;
  bytes: number;
  concurrency: number;
  sequentialTilesPerSec: number;
  parallelTilesPerSec: number;
  ratio: number;
}

/** Varied tile content: a per-tile gradient plus deterministic noise, so PNGs differ and are tile-sized. */
async function makeTiles(n: number): Promise<Buffer[]> {
  const size = 256;
  const tiles: Buffer[] = new Array(n);
  let seed = 12345;
  const rnd = () => {
    seed = (seed * 1103515245 + 12345) >>> 0;
    return seed >>> 24;
  };
  const width = 4;
  for (let start = 0; start < n; start += width) {
    const batch: Promise<void>[] = [];
    for (let i = start; i < Math.min(n, start + width); i++) {
      const px = Buffer.alloc(size * size * 4);
      for (let y = 0; y < size; y++) {
        for (let x = 0; x < size; x++) {
          const o = (y * size + x) * 4;
          px[o] = (x + i * 7) & 255;
          px[o + 1] = (y + i * 13) & 255;
          // Low 3 bits of noise: PNGs of a few tens of KiB, like tiles of a real photo.
          px[o + 2] = ((((x * y) >> 8) + i) & 0xf8) | (rnd() & 7);
          px[o + 3] = 255;
        }
      }
      batch.push(
        sharp(px, { raw: { width: size, height: size, channels: 4 } })
          .png({ compressionLevel: 6, adaptiveFiltering: true })
          .toBuffer()
          .then((b) => {
            tiles[i] = b;
          }),
      );
    }
    await Promise.all(batch);
  }
  return tiles;
}

const itemsFor = (prefix: string, tiles: Buffer[]): PutItem[] => tiles.map((data, i) => ({ path: `${prefix}/L5X${i % 32}Y${Math.floor(i / 32)}.png`, data }));

export async function main(count = 1000, concurrency = 16): Promise<UploadBenchResult> {
  const tGen = Date.now();
  const tiles = await makeTiles(count);
  const bytes = tiles.reduce((s, t) => s + t.length, 0);
  console.log(`generated ${count} PNG tiles (${(bytes / 1e6).toFixed(1)} MB, mean ${Math.round(bytes / count / 1024)} KiB) in ${Date.now() - tGen} ms`);

  const az = await startAzurite();
  try {
    await BlobServiceClient.fromConnectionString(az.connectionString).getContainerClient('bench').create();
    const repo = new AzureRepository({ connectionString: az.connectionString, container: 'bench', pathPrefix: 'feeds/bench' });
    await repo.check();
    // Warm up the connection pool and Azurite's code paths.
    await putMany(repo, itemsFor('warmup', tiles.slice(0, 32)), concurrency);

    const t1 = performance.now();
    await putMany(repo, itemsFor('sequential', tiles), 1);
    const seqSec = (performance.now() - t1) / 1000;

    const t2 = performance.now();
    await putMany(repo, itemsFor('parallel', tiles), concurrency);
    const parSec = (performance.now() - t2) / 1000;

    const listed = (await repo.list('sequential')).length + (await repo.list('parallel')).length;
    if (listed !== 2 * count) throw new Error(`expected ${2 * count} blobs, listed ${listed}`);

    const r: UploadBenchResult = {
      tiles: count,
      bytes,
      concurrency,
      sequentialTilesPerSec: count / seqSec,
      parallelTilesPerSec: count / parSec,
      ratio: seqSec / parSec,
    };
    console.log(`one at a time:    ${r.sequentialTilesPerSec.toFixed(0)} tiles/s (${seqSec.toFixed(2)} s, ${(bytes / 1e6 / seqSec).toFixed(1)} MB/s)`);
    console.log(
      `concurrency ${String(concurrency).padEnd(4)} ${r.parallelTilesPerSec.toFixed(0)} tiles/s (${parSec.toFixed(2)} s, ${(bytes / 1e6 / parSec).toFixed(1)} MB/s)`,
    );
    console.log(`speed-up: ${r.ratio.toFixed(2)}x`);
    return r;
  } finally {
    await az.stop();
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const n = Number(process.argv[2] ?? 1000);
  const c = Number(process.argv[3] ?? 16);
  main(n, c).catch((e) => {
    console.error(e instanceof Error ? e.message : e);
    process.exit(1);
  });
}
