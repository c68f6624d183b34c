// Loader for the shared reference vectors (wwt-study-vectors.json), typed loosely so every
// test can pick the cases it needs. Looked up in: $WWT_STUDY_VECTORS, test/fixtures/, and the
// shared reference folder of this workspace.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ToastyError } from '../../src/util/errors.js';

// biome-ignore lint/suspicious/noExplicitAny: vector JSON is read loosely, field by field
export type Loose = Record<string, any>;

export interface WcsCase {
  name: string;
  note: string;
  input: {
    record: Record<string, unknown>;
    cached_image_width: number;
    cached_image_height: number;
    publish_url_prefix: string;
    tiling_threshold_px: number;
  };
  expected: Loose;
}

export interface StudyVectors {
  about: Loose;
  wcs_cases: WcsCase[];
  tiling_cases: Loose[];
  tile_count_cases: Loose[];
  pyramid_pixel_cases: Loose[];
  thumbnail_cases: Loose[];
  astropix_size_ladder_cases: Loose[];
  float_format_cases: { value: number; python_text: string }[];
  url_prefix_cases: { url: string; prefix: string; result: string }[];
  reindex_cases: { items: { id: string; XLastUpdated: string }[]; expected_order_newest_first: string[] }[];
}

const here = path.dirname(fileURLToPath(import.meta.url));

function candidates(): string[] {
  const list = [path.resolve(here, '..', 'fixtures', 'wwt-study-vectors.json'), '/work/shared/reference/wwt-study-vectors.json'];
  const env = process.env.WWT_STUDY_VECTORS;
  return env ? [env, ...list] : list;
}

/** Absolute path of the vectors file; throws (failing the test) when none is found. */
export function vectorsPath(): string {
  const found = candidates().find((p) => existsSync(p));
  if (!found) throw new Error(`wwt-study-vectors.json not found; looked in: ${candidates().join(', ')}`);
  return found;
}

let cache: StudyVectors | undefined;

/** The parsed vectors (JSON.parse keeps `-0.0` as -0, which the float cases rely on). */
export function loadVectors(): StudyVectors {
  cache ??= JSON.parse(readFileSync(vectorsPath(), 'utf8')) as StudyVectors;
  return cache;
}

/** Deep copy of a case's record, safe to mutate in a test. */
export function recordOf(c: WcsCase): Record<string, unknown> {
  return structuredClone(c.input.record);
}

/** Tile levels the pipeline uses for a case (0 = untiled), from the tiling numbers. */
export function tileLevelsOf(c: WcsCase): number {
  return c.expected.tiled ? (c.expected.tiling.tile_levels as number) : 0;
}

/**
 * Float comparison as the vectors prescribe: relative tolerance 1e-9, absolute 1e-12 near 0
 * (trig in JS may differ from the reference by an ulp). Throws with `label` on mismatch.
 */
export function assertClose(actual: number, expected: number, label: string, rel = 1e-9, abs = 1e-12): void {
  const ok = Number.isFinite(actual) && Math.abs(actual - expected) <= Math.max(abs, rel * Math.max(Math.abs(actual), Math.abs(expected)));
  if (!ok) throw new Error(`${label}: got ${actual}, expected ${expected}`);
}

/** The ToastyError `fn` throws; fails the test when it throws something else or nothing. */
export function expectToastyError(fn: () => unknown, label: string): ToastyError {
  try {
    fn();
  } catch (e) {
    if (e instanceof ToastyError) return e;
    throw new Error(`${label}: expected ToastyError, got ${String(e)}`);
  }
  throw new Error(`${label}: expected an error, none thrown`);
}
