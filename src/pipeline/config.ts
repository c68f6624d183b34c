/**
 * `toasty-pipeline-config.yaml`, read from the repository root on every run (so an edit there
 * takes effect at once; the work dir keeps a copy for reference only).
 *
 * The YAML reader costs a run a few tens of milliseconds to load, as much as planning a few
 * hundred up-to-date images: it is loaded only when a text must be read, and a work dir keeps
 * what the last text it read said (`toasty-pipeline-config.parsed.json`, with that text), so
 * an unchanged config is read as JSON.
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { SOURCES } from '../sources/registry.js';
import type { SettingsSection, SourceAdapter } from '../sources/source.js';
import { closest } from '../util/closest.js';
import { ToastyError } from '../util/errors.js';
import type { Repository } from '../storage/types.js';
import { writeFileAtomic } from '../util/fs.js';
import { yamlModule } from '../util/yaml.js';

/** In a work dir: the config text last read there, and what it said. */
export const PARSED_CONFIG = 'toasty-pipeline-config.parsed.json';

export const CONFIG_NAME = 'toasty-pipeline-config.yaml';
/** The repository's root index, listing every published image (beside the config). */
export const ROOT_INDEX = 'index.wtml';

export interface PipelineConfig {
  /** The feed, as `source_type` and its section configure it. */
  source: SourceAdapter;
  /** Where the repository is served from; always ends with '/'. */
  publishUrlPrefix: string;
  folderName: string;
  folderThumbnailUrl: string;
  /** Settings toasty does not know (likely typos), each with the closest known name. */
  unknownKeys: Array<{ key: string; closest: string | null }>;
}

const TOP_LEVEL_KEYS = ['source_type', 'publish_url_prefix', 'folder_name', 'folder_thumbnail_url'];

const configError = (field: string, msg: string) => new ToastyError('config', `${CONFIG_NAME}: ${msg}`, { field });

export function parseConfig(text: string): PipelineConfig {
  return configFromDocument(readYaml(text));
}

/** The YAML document of a config text; a one-line `config` error when it is not YAML. */
function readYaml(text: string): unknown {
  try {
    return yamlModule().parse(text);
  } catch (e) {
    const at = (e as { linePos?: Array<{ line: number; col: number }> }).linePos?.[0];
    const where = at ? ` at line ${at.line}, column ${at.col}` : '';
    throw configError('(file)', `not valid YAML${where} (${(e as Error).message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '')})`);
  }
}

/** The settings of a config's document (from YAML, or kept as JSON). */
function configFromDocument(doc: unknown): PipelineConfig {
  if (!doc || typeof doc !== 'object' || Array.isArray(doc)) {
    throw configError('(file)', 'must be a YAML mapping of settings');
  }
  const c = doc as Record<string, unknown>;
  const str = (v: unknown, field: string, required: boolean): string => {
    if (v === undefined || v === null || v === '') {
      if (required) throw configError(field, `missing required setting ${field}`);
      return '';
    }
    if (typeof v !== 'string') throw configError(field, `${field} must be a string`);
    return v;
  };
  const sourceType = str(c.source_type, 'source_type', true);
  const definition = SOURCES.find((d) => d.type === sourceType);
  if (!definition) {
    throw configError('source_type', `unknown source_type ${JSON.stringify(sourceType)} (supported: ${SOURCES.map((d) => d.type).join(', ')})`);
  }
  const section = c[sourceType];
  if (!section || typeof section !== 'object' || Array.isArray(section)) {
    throw configError(sourceType, `missing the ${sourceType}: section (with ${definition.required.join(', ')})`);
  }
  const read = new Set<string>();
  const source = definition.configure(settingsSection(sourceType, section as Record<string, unknown>, str, read));
  const unknownKeys: PipelineConfig['unknownKeys'] = [];
  const known = [...TOP_LEVEL_KEYS, ...SOURCES.map((d) => d.type)];
  for (const key of Object.keys(c)) if (!known.includes(key)) unknownKeys.push({ key, closest: closest(key, known, 1)[0] ?? null });
  // A source's keys are the ones its configure() asked for.
  for (const key of Object.keys(section)) {
    if (!read.has(key)) unknownKeys.push({ key: `${sourceType}.${key}`, closest: read.size ? `${sourceType}.${closest(key, [...read], 1)[0]}` : null });
  }
  let publishUrlPrefix = str(c.publish_url_prefix, 'publish_url_prefix', true);
  if (!publishUrlPrefix.endsWith('/')) publishUrlPrefix += '/';
  return {
    source,
    publishUrlPrefix,
    folderName: str(c.folder_name, 'folder_name', true),
    folderThumbnailUrl: str(c.folder_thumbnail_url, 'folder_thumbnail_url', false),
    unknownKeys,
  };
}

/** A source's section, its errors naming `<source_type>.<key>`. */
function settingsSection(
  name: string,
  section: Record<string, unknown>,
  str: (v: unknown, field: string, required: boolean) => string,
  read: Set<string>,
): SettingsSection {
  const error = (key: string, msg: string) => configError(`${name}.${key}`, msg);
  return {
    string: (key, required) => {
      read.add(key);
      return str(section[key], `${name}.${key}`, required);
    },
    count(key, fallback) {
      read.add(key);
      const v = section[key];
      if (v === undefined || v === null) return fallback;
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) throw error(key, `${name}.${key} must be a whole number of at least 1`);
      return v;
    },
    error,
  };
}

/** One warning line per unknown setting. */
export function unknownKeyWarnings(config: PipelineConfig): string[] {
  return config.unknownKeys.map((u) => `${CONFIG_NAME}: unknown setting ${u.key} is ignored${u.closest ? ` (did you mean ${u.closest}?)` : ''}`);
}

/**
 * Read and validate the config from the repository root. With `workdir`, what that work dir
 * kept of the same text is used (no YAML reader), and `document` is what to keep there when it
 * was read afresh (`saveParsedConfig`).
 */
export async function loadConfig(repo: Repository, opts: { workdir?: string } = {}): Promise<{ config: PipelineConfig; text: string; document?: unknown }> {
  const data = await repo.get(CONFIG_NAME);
  if (!data) {
    throw new ToastyError('config', `${CONFIG_NAME} not found at the root of ${repo.description}`, { field: CONFIG_NAME });
  }
  const text = data.toString('utf8');
  const kept = opts.workdir ? await keptDocument(opts.workdir, text) : undefined;
  if (kept !== undefined) return { config: configFromDocument(kept), text };
  const document = readYaml(text);
  return { config: configFromDocument(document), text, document };
}

/** Keep what `text` said in the work dir, when JSON says it exactly (plain strings, numbers, ...). */
export async function saveParsedConfig(workdir: string, text: string, document: unknown): Promise<void> {
  if (!plainJson(document)) return;
  await writeFileAtomic(path.join(workdir, PARSED_CONFIG), `${JSON.stringify({ text, document })}\n`);
}

async function keptDocument(workdir: string, text: string): Promise<unknown> {
  try {
    const kept = JSON.parse(await fsp.readFile(path.join(workdir, PARSED_CONFIG), 'utf8')) as { text?: unknown; document?: unknown };
    return kept && kept.text === text ? kept.document : undefined;
  } catch {
    return undefined; // none yet, or unreadable: read the YAML
  }
}

/** Whether a JSON round trip gives `v` back as it is. */
function plainJson(v: unknown): boolean {
  if (v === null || typeof v === 'string' || typeof v === 'boolean') return true;
  if (typeof v === 'number') return Number.isFinite(v) && !Object.is(v, -0);
  if (Array.isArray(v)) return v.every(plainJson);
  if (typeof v === 'object' && Object.getPrototypeOf(v) === Object.prototype) return Object.values(v as object).every(plainJson);
  return false;
}
