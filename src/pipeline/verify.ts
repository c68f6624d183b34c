/**
 * Checking a published repository against its build records: every file a record names is
 * there with the recorded content, nothing else sits in a recorded image's folder, and the
 * root index lists exactly the published images. Problems are data; the CLI words them.
 *
 * Content is compared without downloads where the storage can: Azure listings carry each
 * blob's MD5 (one listing per folder); a local folder is hashed.
 */
import { uploadRule } from '../../rules/index.js';
import type { Repository } from '../storage/types.js';
import { digestBytes } from '../util/digest.js';
import { forEachLimit } from '../util/pool.js';
import { INDEX_WTML } from '../wwt/study-files.js';
import { parseWtml } from '../wwt/wtml.js';
import { BUILD_RECORD, isRecord, readBuildRecord, recordPath } from './build-record.js';
import { ROOT_INDEX, type PipelineConfig } from './config.js';
import { SKIP_FLAG } from './workdir.js';

export type VerifyProblemKind =
  | 'missing' // a file the record names is not there
  | 'differs' // its content is not what the record says
  | 'stray' // a file in a recorded image's folder that no record names
  | 'record-unreadable' // the image's build record cannot be used
  | 'not-published' // listed in the root index, but no complete image
  | 'not-indexed' // published, but missing from the root index
  | 'rejected-indexed' // listed in the root index, but rejected (skip.flag)
  | 'index-missing' // there is no root index
  | 'index-unreadable'; // the root index cannot be parsed

export interface VerifyProblem {
  /** The image, or null for the repository as a whole. */
  image: string | null;
  /** Item path in the repository. */
  path: string;
  problem: VerifyProblemKind;
  detail?: string;
}

export interface VerifyReport {
  problems: VerifyProblem[];
  /** Images with a usable build record. */
  checked: string[];
  /** Complete images (index.wtml present), recorded or not. */
  published: string[];
}

export async function verifyRepository(repo: Repository, config: PipelineConfig, opts: { concurrency?: number } = {}): Promise<VerifyReport> {
  const problems: VerifyProblem[] = [];
  const checked: string[] = [];
  const published: string[] = [];
  const rejected = new Set<string>();
  const folders = (await repo.list('')).filter((e) => e.isFolder).map((e) => e.name);
  await forEachLimit(folders, opts.concurrency ?? 16, async (id) => {
    const files = await listTree(repo, id);
    if (files.has(INDEX_WTML)) published.push(id);
    if (files.has(SKIP_FLAG)) rejected.add(id);
    const record = await readBuildRecord(repo, recordPath(id), id);
    if (!isRecord(record)) {
      // No record: an image of another tool (or not ours at all), not ours to judge.
      if (record.kind === 'unreadable') problems.push({ image: id, path: recordPath(id), problem: 'record-unreadable', detail: record.detail });
      return;
    }
    const upload = record.nodes[uploadRule.name];
    if (!upload) {
      problems.push({ image: id, path: recordPath(id), problem: 'record-unreadable', detail: 'it records no publish' });
      return;
    }
    checked.push(id);
    const md5 = (upload.result.meta as { md5?: Record<string, string> } | undefined)?.md5 ?? {};
    // skip.flag is the curator's (`toasty reject`), never a stray to prune.
    const named = new Set([BUILD_RECORD, SKIP_FLAG]);
    for (const [itemPath, digest] of Object.entries(upload.result.outputs)) {
      const name = itemPath.slice(id.length + 1);
      named.add(name);
      const listed = files.get(name);
      if (listed === undefined) {
        problems.push({ image: id, path: itemPath, problem: 'missing' });
        continue;
      }
      const same = listed.md5 !== undefined && md5[itemPath] ? listed.md5 === md5[itemPath] : await sameDigest(repo, itemPath, digest);
      if (!same) problems.push({ image: id, path: itemPath, problem: 'differs' });
    }
    for (const name of files.keys()) if (!named.has(name)) problems.push({ image: id, path: `${id}/${name}`, problem: 'stray' });
  });
  problems.push(...(await checkRootIndex(repo, config, new Set(published), rejected)));
  const order = (p: VerifyProblem) => `${p.image ?? ''}\0${p.path}`;
  problems.sort((a, b) => (order(a) < order(b) ? -1 : order(a) > order(b) ? 1 : 0));
  return { problems, checked: checked.sort(), published: published.sort() };
}

/** Every file under an image folder (its pixel subfolders included), by path inside it. */
async function listTree(repo: Repository, folder: string): Promise<Map<string, { md5?: string }>> {
  const out = new Map<string, { md5?: string }>();
  const walk = async (dir: string, prefix: string) => {
    for (const e of await repo.list(dir)) {
      if (e.isFolder) await walk(`${dir}/${e.name}`, `${prefix}${e.name}/`);
      else out.set(`${prefix}${e.name}`, e.md5 !== undefined ? { md5: e.md5 } : {});
    }
  };
  await walk(folder, '');
  return out;
}

async function sameDigest(repo: Repository, itemPath: string, digest: string): Promise<boolean> {
  const data = await repo.get(itemPath);
  return data !== null && (await digestBytes(data)) === digest;
}

/** The root index lists each complete image that is not rejected once, by the folder its URLs point into. */
async function checkRootIndex(
  repo: Repository,
  config: PipelineConfig,
  published: ReadonlySet<string>,
  rejected: ReadonlySet<string>,
): Promise<VerifyProblem[]> {
  const offered = [...published].filter((id) => !rejected.has(id));
  const data = await repo.get(ROOT_INDEX);
  if (!data) return offered.length ? [{ image: null, path: ROOT_INDEX, problem: 'index-missing' }] : [];
  let listed: Set<string>;
  try {
    const places = parseWtml(data.toString('utf8')).children;
    listed = new Set(places.map((p) => imageOfUrl(p.imageSet.url, config.publishUrlPrefix)).filter((id): id is string => id !== null));
  } catch (e) {
    return [{ image: null, path: ROOT_INDEX, problem: 'index-unreadable', detail: (e as Error).message }];
  }
  const problems: VerifyProblem[] = [];
  for (const id of listed) {
    if (rejected.has(id)) problems.push({ image: id, path: ROOT_INDEX, problem: 'rejected-indexed' });
    else if (!published.has(id)) problems.push({ image: id, path: ROOT_INDEX, problem: 'not-published' });
  }
  for (const id of offered) if (!listed.has(id)) problems.push({ image: id, path: ROOT_INDEX, problem: 'not-indexed' });
  return problems;
}

/** `<prefix><id>/...` -> id. */
function imageOfUrl(url: string, prefix: string): string | null {
  if (!url.startsWith(prefix)) return null;
  const rest = url.slice(prefix.length);
  const slash = rest.indexOf('/');
  return slash > 0 ? rest.slice(0, slash) : null;
}
