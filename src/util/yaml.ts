/**
 * The `yaml` package, loaded at its first use: it costs a run a few tens of milliseconds to
 * load, as much as planning a few hundred up-to-date images, and most runs read no YAML (see
 * pipeline/config.ts).
 */
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
let loaded: typeof import('yaml') | null = null;

export function yamlModule(): typeof import('yaml') {
  loaded ??= require('yaml') as typeof import('yaml');
  return loaded;
}
