/**
 * Build records: the repository carries, beside each published image (and beside the root
 * index), the engine's record of how it was built: each node's key, input leaves and results.
 * They are written before the `index.wtml` they describe, so every complete image has one.
 *
 * A work directory is then only a cache: a run that lacks an image's state adopts the
 * repository's record, and trusts it as far as the published files still match it.
 */
import type { Manifest } from '../engine/index.js';
import { type NodeRecord, nodeId, type AnyRule } from '../engine/index.js';
import type { Repository } from '../storage/types.js';
import { digestBytes } from '../util/digest.js';
import { forEachLimit } from '../util/pool.js';
import { INDEX_WTML } from '../wwt/study-files.js';
import { ROOT_INDEX } from './config.js';

/** File name of a build record, in an image's folder and at the repository root. */
export const BUILD_RECORD = 'toasty-build.json';

export interface BuildRecord {
  format: 1;
  /** The image's unique id, or null for the root index's record. */
  image: string | null;
  writtenAt: string;
  /** The engine's record of each node, by rule name. */
  nodes: Record<string, NodeRecord>;
}

export function buildRecordText(image: string | null, nodes: Record<string, NodeRecord>): string {
  const record: BuildRecord = { format: 1, image, writtenAt: new Date().toISOString(), nodes };
  return `${JSON.stringify(record, null, 1)}\n`;
}

/** Why a record cannot be used, as data (verify reports it; adoption skips the image). */
export type RecordProblem = { kind: 'missing' } | { kind: 'unreadable'; detail: string };

export function parseBuildRecord(text: string, image: string | null): BuildRecord | RecordProblem {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    return { kind: 'unreadable', detail: `not JSON: ${(e as Error).message}` };
  }
  const r = doc as Partial<BuildRecord> | null;
  if (!r || typeof r !== 'object' || r.format !== 1) return { kind: 'unreadable', detail: 'not a format-1 build record' };
  if (r.image !== image) return { kind: 'unreadable', detail: `it describes ${JSON.stringify(r.image)}, not ${JSON.stringify(image)}` };
  if (!r.nodes || typeof r.nodes !== 'object') return { kind: 'unreadable', detail: 'no nodes' };
  for (const [rule, n] of Object.entries(r.nodes)) {
    const ok =
      n &&
      typeof n === 'object' &&
      n.rule === rule &&
      typeof n.version === 'number' &&
      typeof n.key === 'string' &&
      n.leaves &&
      typeof n.leaves === 'object' &&
      n.result &&
      typeof n.result === 'object' &&
      n.result.outputs &&
      typeof n.result.outputs === 'object';
    if (!ok) return { kind: 'unreadable', detail: `node ${rule} is malformed` };
  }
  return r as BuildRecord;
}

export function isRecord(r: BuildRecord | RecordProblem): r is BuildRecord {
  return 'format' in r;
}

/** The record at `path`, or why there is none to use. */
export async function readBuildRecord(repo: Repository, path: string, image: string | null): Promise<BuildRecord | RecordProblem> {
  const data = await repo.get(path);
  if (!data) return { kind: 'missing' };
  return parseBuildRecord(data.toString('utf8'), image);
}

export const recordPath = (image: string | null) => (image === null ? BUILD_RECORD : `${image}/${BUILD_RECORD}`);

/**
 * Give the manifest the repository's records of images (and of the root index) it knows
 * nothing about. A record is adopted only where the published `index.wtml` is the one it
 * describes: a run killed between the two leaves a record ahead of its index, and then the
 * publish node is left out, so it runs again and completes the publish.
 */
export async function adoptBuildRecords(
  repo: Repository,
  manifest: Manifest,
  rules: { image: readonly AnyRule[]; publish: AnyRule; index: AnyRule },
  images: Iterable<string>,
  indexMd5: ReadonlyMap<string, string> = new Map(),
  concurrency = 32,
): Promise<{ adopted: string[] }> {
  const adopted: string[] = [];
  const wanted = [...images].filter((id) => !manifest.has(nodeId(rules.publish, id)));
  await forEachLimit(wanted, concurrency, async (id) => {
    const record = await readBuildRecord(repo, recordPath(id), id);
    if (!isRecord(record)) return;
    const publish = record.nodes[rules.publish.name];
    const index = `${id}/${INDEX_WTML}`;
    // Is the published index.wtml the one the record describes? By MD5 where the storage
    // already told us (no download), else by reading it.
    const recordedMd5 = (publish?.result.meta as { md5?: Record<string, string> } | undefined)?.md5?.[index];
    const committed =
      publish !== undefined &&
      (indexMd5.has(id) && recordedMd5 ? indexMd5.get(id) === recordedMd5 : (await digestOf(repo, index)) === publish.result.outputs[index]);
    for (const rule of rules.image) {
      const entry = record.nodes[rule.name];
      if (!entry || (rule === rules.publish && !committed)) continue;
      manifest.adopt(nodeId(rule, id), entry);
    }
    adopted.push(id);
  });
  if (!manifest.has(nodeId(rules.index, null))) {
    const record = await readBuildRecord(repo, recordPath(null), null);
    const entry = isRecord(record) ? record.nodes[rules.index.name] : undefined;
    if (entry && (await digestOf(repo, ROOT_INDEX)) === entry.result.outputs[ROOT_INDEX]) manifest.adopt(nodeId(rules.index, null), entry);
  }
  return { adopted: adopted.sort() };
}

async function digestOf(repo: Repository, path: string): Promise<string | null> {
  const data = await repo.get(path);
  return data ? digestBytes(data) : null;
}
