/**
 * The pipeline's rules, and which of them each command may run. The graph's edges come from
 * each rule's own `deps`; a command's graph holds its rules and everything they depend on.
 */
import type { AnyRule } from '../src/engine/types.js';
import { fetchRule } from './fetch.js';
import { rootIndexRule } from './root-index.js';
import { tileRule } from './tile.js';
import { uploadRule } from './upload.js';
import { wtmlRule } from './wtml.js';

export { fetchRule, rootIndexRule, tileRule, uploadRule, wtmlRule };
export { publishedPixelsOf } from './upload.js';

export type Stage = 'make' | 'fetch' | 'process' | 'publish' | 'reindex';

/** The rules each command may run (the rest of its graph is held back). */
export const STAGES: Readonly<Record<Stage, readonly AnyRule[]>> = {
  make: [fetchRule, tileRule, wtmlRule, uploadRule, rootIndexRule],
  fetch: [fetchRule],
  process: [tileRule, wtmlRule],
  publish: [uploadRule],
  reindex: [rootIndexRule],
};
