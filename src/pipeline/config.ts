/**
 * `toasty-pipeline-config.yaml`, read from the repository root on every run (so an edit there
 * takes effect at once; the work dir keeps a copy for reference only).
 */
import YAML from 'yaml';
import { SOURCES } from '../sources/registry.js';
import type { SettingsSection, SourceAdapter } from '../sources/source.js';
import { closest } from '../util/closest.js';
import { ToastyError } from '../util/errors.js';
import type { Repository } from '../storage/types.js';

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
  let doc: unknown;
  try {
    doc = YAML.parse(text);
  } catch (e) {
    const at = (e as { linePos?: Array<{ line: number; col: number }> }).linePos?.[0];
    const where = at ? ` at line ${at.line}, column ${at.col}` : '';
    throw configError('(file)', `not valid YAML${where} (${(e as Error).message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '')})`);
  }
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

/** Read and validate the config from the repository root. */
export async function loadConfig(repo: Repository): Promise<{ config: PipelineConfig; text: string }> {
  const data = await repo.get(CONFIG_NAME);
  if (!data) {
    throw new ToastyError('config', `${CONFIG_NAME} not found at the root of ${repo.description}`, { field: CONFIG_NAME });
  }
  const text = data.toString('utf8');
  return { config: parseConfig(text), text };
}
