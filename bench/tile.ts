/**
 * Bench: study pyramids with `writeStudyPyramid` vs libvips' own pyramid writer
 * (`tile({layout: 'google'})`) on the same file, with the same zlib settings, in the same run:
 * bytes written and wall time, as ratios. With the default `--tiles small` the settings are
 * the reference pipeline's (zlib 6, adaptive row filters), so libvips stands in for the
 * reference's bytes. Each job runs in its own child process, which reports its wall time, CPU
 * time and peak RSS (`process.resourceUsage().maxRSS`). Not a test.
 *
 *   node --import tsx bench/tile.ts [--quick] [--images|--tile-images example,photo-5000x3000,noisy-16000x12000]
 *        [--tiles small|fast] [--repeat N] [--no-vips]
 *
 * Images: the example NGC 253 image, and generated ones cached in bench/out/ (gitignored):
 * `photo-WxH` (smooth, little noise) and `noisy-WxH` (per-pixel noise, the hard case).
 * Tiles are deleted after each job. `--quick`: example and photo-2000x1500 only.
 */
import { spawn } from 'node:child_process';
import { existsSync, promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import sharp from 'sharp';
import { openImage } from '../src/wwt/image.js';
import { TILE_PNG, type TilePngMode } from '../src/wwt/encoding.js';
import { writeStudyPyramid } from '../src/wwt/pyramid.js';
import { totalTileCount } from '../src/wwt/tiling.js';
import { type Goal, goal, printGoals } from './goals.js';

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
export async function makeImage(file: string, width: number, height: number, noise: number, variant = 0): Promise<void> {
  const rows = 512;
  const parts: string[] = [];
  let seed = (0x9e3779b9 + variant * 0x632be5ab) | 0 || 1;
  const colR = new Float32Array(width);
  const colG = new Float32Array(width);
  for (let x = 0; x < width; x++) {
    colR[x] = 60 * Math.sin(x / 1500 + variant) + 30 * Math.sin(x / 211);
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
        const n1 = (((seed & 15) - 7.5) * noise) / 7.5;
        const n2 = ((((seed >>> 8) & 15) - 7.5) * noise) / 7.5;
        const n3 = ((((seed >>> 16) & 15) - 7.5) * noise) / 7.5;
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
  // The join pads every part to the tallest one's height: cut back to the asked size.
  await sharp(parts, { join: { across: 1 }, limitInputPixels: false })
    .extract({ left: 0, top: 0, width, height })
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
async function child(job: string, input: string, outDir: string, mode: TilePngMode): Promise<void> {
  const png = TILE_PNG[mode];
  await fsp.rm(outDir, { recursive: true, force: true });
  await fsp.mkdir(outDir, { recursive: true });
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  if (job === 'toasty') {
    await writeStudyPyramid(await openImage(input), outDir, { png });
  } else {
    sharp.concurrency(os.availableParallelism());
    await sharp(input, { limitInputPixels: false })
      .ensureAlpha()
      .png({ compressionLevel: png.compressionLevel, adaptiveFiltering: png.adaptiveFiltering })
      .tile({ size: 256, layout: 'google', centre: true, background: { r: 0, g: 0, b: 0, alpha: 0 }, skipBlanks: -1 })
      .toFile(path.join(outDir, 'pyramid'));
  }
  const wallMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const { files, bytes } = await dirStats(outDir);
  const result: JobResult = {
    job: `${job} (${mode}: zlib ${png.compressionLevel}${png.adaptiveFiltering ? ', filters' : ''})`,
    wallMs,
    cpuMs: (cpu.user + cpu.system) / 1000,
    maxRssMB: process.resourceUsage().maxRSS / 1024,
    tiles: files,
    bytes,
  };
  await fsp.rm(outDir, { recursive: true, force: true });
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

function runChild(job: string, input: string, mode: TilePngMode): Promise<JobResult> {
  const outDir = path.join(OUT, `tiles-${job}-${process.pid}`);
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, ['--import', 'tsx', thisFile, '--child', job, input, outDir, mode], {
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

export async function main(): Promise<Goal[]> {
  const goals: Goal[] = [];
  const quick = process.argv.includes('--quick');
  // `--images N` (a number) is the planning bench's.
  const listed = arg('--tile-images') ?? (/^\d+$/.test(arg('--images') ?? '1') ? undefined : arg('--images'));
  const names = (listed ?? (quick ? 'example,photo-2000x1500' : 'example,photo-5000x3000,noisy-16000x12000')).split(',');
  const mode = (arg('--tiles') ?? 'small') as TilePngMode;
  if (!(mode in TILE_PNG)) throw new Error(`--tiles must be one of ${Object.keys(TILE_PNG).join(', ')}`);
  const repeat = Number(arg('--repeat') ?? 1);
  const withVips = !process.argv.includes('--no-vips');
  await fsp.mkdir(OUT, { recursive: true });
  const load = () =>
    os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(' ');
  console.log(`tile bench: ${os.availableParallelism()} cores, load average ${load()}; libvips at the same zlib settings stands in for the reference`);
  for (const name of names) {
    const input = await inputImage(name);
    const { width, height } = await sharp(input).metadata();
    console.log(`\n${name} ${width}x${height} (${totalTileCount(width!, height!)} study tiles), --tiles ${mode}:`);
    let peak = 0;
    for (let i = 0; i < repeat; i++) {
      const ours = await runChild('toasty', input, mode);
      peak = Math.max(peak, ours.maxRssMB);
      console.log(`  ${fmt(ours)}`);
      if (!withVips) continue;
      const vips = await runChild('libvips', input, mode);
      console.log(`  ${fmt(vips)}`);
      const ratios = [
        goal(`tile bytes vs libvips (zlib ${TILE_PNG[mode].compressionLevel}), ${name}`, ours.bytes / vips.bytes, '<=', 1, 'x'),
        goal(`tile time vs libvips, ${name}`, ours.wallMs / vips.wallMs, '<=', 1, 'x', 'wall'),
      ];
      printGoals(ratios.map((g) => ({ ...g, name: `  ${g.name.split(',')[0]}` })));
      if (i === 0) goals.push(...ratios);
    }
    if (width! * height! >= 16000 * 12000) goals.push(goal(`tile peak RSS, ${name}`, peak, '<=', 1024, 'MB'));
  }
  console.log(`\nload average after: ${load()}`);
  return goals;
}

/** `example` (the bundled NGC 253 image), or a generated `photo-WxH` / `noisy-WxH`, made once. */
async function inputImage(name: string): Promise<string> {
  if (name === 'example') return path.join(here, '..', 'examples', 'images', 'NGC253ALMA.jpg');
  const m = /^(photo|noisy)-(\d+)x(\d+)$/.exec(name);
  if (!m) throw new Error(`unknown bench image ${name}`);
  const file = path.join(OUT, `${name}.jpg`);
  if (!existsSync(file)) {
    const t0 = performance.now();
    await makeImage(file, Number(m[2]), Number(m[3]), m[1] === 'noisy' ? 7.5 : 1.5);
    console.log(`generated ${path.relative(process.cwd(), file)} in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  }
  return file;
}

if (process.argv[2] === '--child') {
  const [job, input, outDir, mode] = process.argv.slice(3);
  await child(job!, input!, outDir!, mode as TilePngMode);
} else if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  printGoals(await main());
}
