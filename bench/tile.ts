/**
 * Bench: study pyramid of a large photo-like JPEG with `writeStudyPyramid` vs libvips' own
 * pyramid writer (`tile({layout: 'google'})`) on the same file, same PNG settings, in the same
 * run. Each job runs in its own child process, which reports its wall time, CPU time and peak
 * RSS (`process.resourceUsage().maxRSS`). Not a test.
 *
 *   node --import tsx bench/tile.ts [--quick] [--sizes 16000x12000,24000x24000]
 *        [--level N] [--repeat N] [--no-vips] [--vips-default]
 *
 * Images are generated once and cached in bench/out/ (gitignored); tiles are deleted after
 * each job. `--quick` uses 4000x3000 only.
 */
import { spawn } from 'node:child_process';
import { existsSync, promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import sharp from 'sharp';
import { openImage } from '../src/wwt/image.js';
import { STUDY_ENCODING } from '../src/wwt/encoding.js';
import { writeStudyPyramid } from '../src/wwt/pyramid.js';
import { totalTileCount } from '../src/wwt/tiling.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const OUT = path.join(here, 'out');
const thisFile = fileURLToPath(import.meta.url);

interface JobResult {
  job: string;
  wallMs: number;
  cpuMs: number;
  maxRssMB: number;
  tiles: number;
  bytes: number;
}

/**
 * A deterministic photo-like RGB image: smooth separable gradients and a few soft blobs
 * plus per-pixel noise (so PNG tiles are realistically expensive), written as JPEG q90.
 */
async function makeImage(file: string, width: number, height: number): Promise<void> {
  const rows = 512;
  const parts: string[] = [];
  let seed = 0x9e3779b9;
  const colR = new Float32Array(width);
  const colG = new Float32Array(width);
  for (let x = 0; x < width; x++) {
    colR[x] = 60 * Math.sin(x / 1500) + 30 * Math.sin(x / 211);
    colG[x] = 50 * Math.cos(x / 2300);
  }
  // Strips keep generation memory small even at 24000x24000; libvips joins them.
  for (let y0 = 0; y0 < height; y0 += rows) {
    const h = Math.min(rows, height - y0);
    const buf = Buffer.allocUnsafe(width * h * 3);
    for (let y = 0; y < h; y++) {
      const gy = y0 + y;
      const rowR = 110 + 40 * Math.cos(gy / 1700);
      const rowG = 100 + 45 * Math.sin(gy / 900);
      const rowB = 90 + 60 * Math.sin(gy / 3100 + 1);
      let o = y * width * 3;
      for (let x = 0; x < width; x++, o += 3) {
        seed ^= seed << 13;
        seed ^= seed >>> 17;
        seed ^= seed << 5;
        const n1 = (seed & 15) - 7.5;
        const n2 = ((seed >>> 8) & 15) - 7.5;
        const n3 = ((seed >>> 16) & 15) - 7.5;
        buf[o] = Math.max(0, Math.min(255, rowR + colR[x]! + n1));
        buf[o + 1] = Math.max(0, Math.min(255, rowG + colG[x]! + n2));
        buf[o + 2] = Math.max(0, Math.min(255, rowB + 0.5 * colR[x]! - 0.5 * colG[x]! + n3));
      }
    }
    const part = `${file}.part${parts.length}.png`;
    await sharp(buf, { raw: { width, height: h, channels: 3 } })
      .png({ compressionLevel: 1 })
      .toFile(part);
    parts.push(part);
  }
  await sharp(parts, { join: { across: 1 }, limitInputPixels: false })
    .jpeg({ quality: 90 })
    .toFile(`${file}.tmp`);
  await fsp.rename(`${file}.tmp`, file);
  await Promise.all(parts.map((p) => fsp.rm(p, { force: true })));
}

async function dirStats(dir: string): Promise<{ files: number; bytes: number }> {
  let files = 0;
  let bytes = 0;
  for (const e of await fsp.readdir(dir, { withFileTypes: true, recursive: true })) {
    if (!e.isFile() || !e.name.endsWith('.png')) continue;
    files++;
    bytes += (await fsp.stat(path.join(e.parentPath ?? e.path, e.name))).size;
  }
  return { files, bytes };
}

/** Child side: run one job and print its numbers as JSON on stdout. */
async function child(job: string, input: string, outDir: string, level: number): Promise<void> {
  await fsp.rm(outDir, { recursive: true, force: true });
  await fsp.mkdir(outDir, { recursive: true });
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  if (job === 'toasty') {
    await writeStudyPyramid(await openImage(input), outDir, { compressionLevel: level });
  } else {
    sharp.concurrency(os.availableParallelism());
    await sharp(input, { limitInputPixels: false })
      .ensureAlpha()
      .png({ compressionLevel: level, adaptiveFiltering: false })
      .tile({ size: 256, layout: 'google', centre: true, background: { r: 0, g: 0, b: 0, alpha: 0 }, skipBlanks: -1 })
      .toFile(path.join(outDir, 'pyramid'));
  }
  const wallMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const { files, bytes } = await dirStats(outDir);
  const result: JobResult = {
    job: `${job} (png level ${level})`,
    wallMs,
    cpuMs: (cpu.user + cpu.system) / 1000,
    maxRssMB: process.resourceUsage().maxRSS / 1024,
    tiles: files,
    bytes,
  };
  await fsp.rm(outDir, { recursive: true, force: true });
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

function runChild(job: string, input: string, level: number): Promise<JobResult> {
  const outDir = path.join(OUT, `tiles-${job}-${process.pid}`);
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, ['--import', 'tsx', thisFile, '--child', job, input, outDir, String(level)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    p.stdout.on('data', (d) => (out += d));
    p.on('close', (code) => {
      if (code !== 0) return reject(new Error(`${job} child exited with ${code}`));
      resolve(JSON.parse(out.trim().split('\n').pop()!) as JobResult);
    });
  });
}

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : undefined;
}

const fmt = (r: JobResult) =>
  `${r.job.padEnd(26)} ${(r.wallMs / 1000).toFixed(2).padStart(7)} s wall  ${(r.cpuMs / 1000).toFixed(1).padStart(6)} s cpu  ` +
  `${r.maxRssMB.toFixed(0).padStart(6)} MB peak RSS  ${String(r.tiles).padStart(6)} tiles  ${(r.bytes / 1e6).toFixed(0).padStart(5)} MB`;

export async function main(): Promise<void> {
  const quick = process.argv.includes('--quick');
  const sizes = (arg('--sizes') ?? (quick ? '4000x3000' : '16000x12000,24000x24000')).split(',').map((s) => s.split('x').map(Number) as [number, number]);
  const level = Number(arg('--level') ?? STUDY_ENCODING.tilePng.compressionLevel);
  const repeat = Number(arg('--repeat') ?? 1);
  const withVips = !process.argv.includes('--no-vips');
  await fsp.mkdir(OUT, { recursive: true });
  console.log(
    `tile bench: ${os.availableParallelism()} cores, load average ${os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
  );
  for (const [w, h] of sizes) {
    const input = path.join(OUT, `photo-${w}x${h}.jpg`);
    if (!existsSync(input)) {
      const t0 = performance.now();
      await makeImage(input, w, h);
      console.log(`generated ${path.relative(process.cwd(), input)} in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    }
    console.log(`\n${w}x${h} (${totalTileCount(w, h)} study tiles), PNG compression level ${level}:`);
    for (let i = 0; i < repeat; i++) {
      const ours = await runChild('toasty', input, level);
      console.log(`  ${fmt(ours)}`);
      if (!withVips) continue;
      const vips = await runChild('libvips', input, level);
      console.log(`  ${fmt(vips)}`);
      console.log(`  ratio toasty/libvips wall time: ${(ours.wallMs / vips.wallMs).toFixed(2)}x (goal <= 1.3x)`);
      if (process.argv.includes('--vips-default')) {
        console.log(`  ${fmt(await runChild('libvips', input, 6))}`);
      }
    }
  }
  console.log(
    `\nload average after: ${os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
  );
}

if (process.argv[2] === '--child') {
  const [job, input, outDir, level] = process.argv.slice(3);
  await child(job!, input!, outDir!, Number(level));
} else if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  await main();
}
