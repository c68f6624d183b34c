/**
 * `-V`/`--version`: toasty's version, from its package.json. Kept free of imports so that
 * bin/toasty.js can answer before loading the command line at all.
 */
import { readFileSync } from 'node:fs';

/** Anywhere on the line before `--`, like `-h`: `toasty make -V` too. */
export function wantsVersion(argv: readonly string[]): boolean {
  const end = argv.indexOf('--');
  const own = end === -1 ? argv : argv.slice(0, end);
  return own.includes('-V') || own.includes('--version');
}

/** The version in toasty's package.json (read when asked: start-up stays fast). */
export function toastyVersion(): string {
  // This file runs as dist/src/cli/version.js (built) or src/cli/version.ts (tsx).
  for (const rel of ['../../../package.json', '../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(rel, import.meta.url), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'toasty' && pkg.version) return pkg.version;
    } catch {
      // Not at this level: try the next.
    }
  }
  return 'unknown';
}
