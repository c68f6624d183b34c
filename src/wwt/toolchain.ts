/**
 * The libraries that shape a study's bytes besides its inputs, for the rules' keys: the pixel
 * toolchain (sharp, libvips and the codecs it links, plus the encoder settings) and the XML
 * writer behind the WTML. Read from package metadata without loading sharp where possible (its
 * prebuilt libvips package lists its versions), so planning an up-to-date run stays fast.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { deepFreeze } from '../util/freeze.js';
import { studyEncoding, type TilePngMode } from './encoding.js';

export interface PixelToolchain {
  sharp: string;
  libvips: string;
  /** The codecs that write PNG and JPEG, and colour conversion. */
  libpng: string;
  zlib: string;
  mozjpeg: string;
  lcms: string;
  encoding: ReturnType<typeof studyEncoding>;
}

const require = createRequire(import.meta.url);
let cached: Promise<Omit<PixelToolchain, 'encoding'>> | null = null;
const byMode = new Map<TilePngMode, Promise<PixelToolchain>>();

/**
 * The toolchain, with the encoder settings of tile PNG mode `mode`: one frozen object per
 * mode, so the engine serialises it once for every tile node (see `deepFreeze`).
 */
export function pixelToolchain(mode: TilePngMode = 'small'): Promise<PixelToolchain> {
  let p = byMode.get(mode);
  if (!p) {
    cached ??= readVersions();
    p = cached.then((versions) => deepFreeze({ ...versions, encoding: studyEncoding(mode) }));
    byMode.set(mode, p);
  }
  return p;
}

async function readVersions(): Promise<Omit<PixelToolchain, 'encoding'>> {
  const sharpEntry = require.resolve('sharp');
  // sharp's package.json is not exported; it sits above its dist/ folder.
  const sharpDir = path.resolve(path.dirname(sharpEntry), '..');
  const sharp = (JSON.parse(readFileSync(path.join(sharpDir, 'package.json'), 'utf8')) as { version: string }).version;
  const libs = prebuiltLibvipsVersions(sharpDir) ?? (await import('sharp')).default.versions;
  const v = libs as Record<string, string | undefined>;
  return {
    sharp,
    libvips: v.vips ?? 'unknown',
    libpng: v.png ?? v.spng ?? 'unknown',
    zlib: v['zlib-ng'] ?? v.zlib ?? 'unknown',
    mozjpeg: v.mozjpeg ?? 'unknown',
    lcms: v.lcms ?? 'unknown',
  };
}

/** The version list of the prebuilt libvips package sharp uses on this platform, if any. */
function prebuiltLibvipsVersions(sharpDir: string): Record<string, string> | null {
  const from = createRequire(path.join(sharpDir, 'package.json'));
  // npm installs the one package matching this platform's C library (glibc or musl).
  for (const libc of ['', 'musl']) {
    try {
      return from(`@img/sharp-libvips-${process.platform}${libc}-${process.arch}/versions`) as Record<string, string>;
    } catch {
      /* not this one */
    }
  }
  return null; // a globally installed libvips: ask sharp itself
}

/** The XML writer the WTML goes through: a new version may escape or indent differently. */
export function wtmlToolchain(): { xmlbuilder2: string } {
  if (!wtmlVersion) {
    // Its package.json sits above lib/.
    const dir = path.resolve(path.dirname(require.resolve('xmlbuilder2')), '..');
    const { version } = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')) as { version: string };
    wtmlVersion = deepFreeze({ xmlbuilder2: version });
  }
  return wtmlVersion;
}
let wtmlVersion: { xmlbuilder2: string } | null = null;
