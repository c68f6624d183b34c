/**
 * `toasty-pipeline-config.yaml`, read from the repository root on every run (so an edit there
 * takes effect at once; the work dir keeps a copy for reference only).
 */
import YAML from 'yaml';
import { ToastyError } from '../util/errors.js';
import type { Repository } from '../storage/types.js';

export const CONFIG_NAME = 'toasty-pipeline-config.yaml';
/** The repository's root index, listing every published image (beside the config). */
export const ROOT_INDEX = 'index.wtml';

export interface PipelineConfig {
  sourceType: 'astropix';
  /** URL of the saved AstroPix search (http(s): or file:). */
  jsonQueryUrl: string;
  /** Where the repository is served from; always ends with '/'. */
  publishUrlPrefix: string;
  folderName: string;
  folderThumbnailUrl: string;
}

const configError = (field: string, msg: string) => new ToastyError('config', `${CONFIG_NAME}: ${msg}`, { field });

export function parseConfig(text: string): PipelineConfig {
  let doc: unknown;
  try {
    doc = YAML.parse(text);
  } catch (e) {
    throw configError('(file)', `not valid YAML (${(e as Error).message.split('\n')[0]})`);
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
  if (sourceType !== 'astropix') {
    throw configError('source_type', `unknown source_type ${JSON.stringify(sourceType)} (supported: astropix)`);
  }
  const astropix = c.astropix;
  if (!astropix || typeof astropix !== 'object' || Array.isArray(astropix)) {
    throw configError('astropix', 'missing the astropix: section (with json_query_url)');
  }
  const jsonQueryUrl = str((astropix as Record<string, unknown>).json_query_url, 'astropix.json_query_url', true);
  let publishUrlPrefix = str(c.publish_url_prefix, 'publish_url_prefix', true);
  if (!publishUrlPrefix.endsWith('/')) publishUrlPrefix += '/';
  return {
    sourceType: 'astropix',
    jsonQueryUrl,
    publishUrlPrefix,
    folderName: str(c.folder_name, 'folder_name', true),
    folderThumbnailUrl: str(c.folder_thumbnail_url, 'folder_thumbnail_url', false),
  };
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
