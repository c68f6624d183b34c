/**
 * upload:<id> — publish the image's files into the repository: pixel files (in the folder the
 * WTML addresses), index_rel.wtml, the build record, and index.wtml last.
 *
 * Key: the digests of the files it publishes (tile + wtml outputs), where the pixels go, and
 * which repository. Each uploaded file moves from out_todo/<id> to out_done/<id>, so an
 * interrupted publish resumes where it stopped; files the repository already holds with the
 * same digest are not re-sent (nor rebuilt when this work dir does not have them). Pixel files
 * that the previous publish had elsewhere are removed once the new index.wtml is in place.
 */
import path from 'node:path';
import { type NodeRecord, type NodeResult, sameGroup } from '../src/engine/types.js';
import { BUILD_RECORD, buildRecordText } from '../src/pipeline/build-record.js';
import { pipelineRule, recordOf, type PipelineContext, type PublishedPixels } from '../src/pipeline/context.js';
import type { SourceRecord } from '../src/sources/source.js';
import { putMany, type PutItem } from '../src/storage/parallel.js';
import { md5OfFile } from '../src/storage/local.js';
import { ToastyError } from '../src/util/errors.js';
import { moveFile } from '../src/util/fs.js';
import { INDEX_REL_WTML, INDEX_WTML } from '../src/wwt/study-files.js';
import { type FetchMeta, fetchRule } from './fetch.js';
import { tileRule } from './tile.js';
import { wtmlRule } from './wtml.js';

export interface UploadMeta {
  repository: string;
  /** Subfolder of the image folder holding the pixel files ('' or `<digest>/`). */
  pixelDir: string;
  /** Base64 MD5 of each published file, so a check of the repository needs no download. */
  md5: Record<string, string>;
}

export const uploadRule = pipelineRule<UploadMeta>()({
  name: 'upload',
  version: 2,
  scope: 'each',
  // An interrupted run waits for a running upload: once it ends the image is published whole.
  interrupt: 'finish',
  deps: { tile: sameGroup(tileRule), wtml: sameGroup(wtmlRule) },
  inputLabels: { files: { label: 'outputs', detail: 'fields' }, repository: { label: 'repository' } },
  inputs(inv) {
    const { tile, wtml } = inv.deps;
    // Repository path of each file -> its digest.
    const files: Record<string, string> = {};
    for (const [name, digest] of Object.entries(tile.outputs)) files[`${wtml.meta.pixelDir}${name}`] = digest;
    for (const [name, digest] of Object.entries(wtml.outputs)) files[name] = digest;
    return { files, repository: inv.ctx.repo.description };
  },
  async verify(inv) {
    const id = inv.group;
    if (!inv.ctx.publishedAtStart.has(id)) return { problem: 'missing', where: 'repository', files: [`${id}/${INDEX_WTML}`] };
    // Only the study's own files: anything else left in out_todo is not ours to publish.
    const ours = (name: string) => name in inv.deps.tile.outputs || name in inv.deps.wtml.outputs;
    const pending = (await inv.ctx.workdir.pendingOutputs(id)).filter(ours);
    if (pending.length) return { problem: 'pending', where: 'out_todo', files: pending };
    return null;
  },
  async run(inv, { files }, self) {
    const { ctx, group: id } = inv;
    const { workdir, repo } = ctx;
    const pixelDir = inv.deps.wtml.meta.pixelDir;
    const prev = inv.previous;
    // Trust what an earlier upload to this same repository recorded, unless the repository
    // has since lost the image (then everything goes up again).
    const lost = ctx.republish.has(id) || (prev !== null && !(await repo.exists(`${id}/${INDEX_WTML}`)));
    const already = prev?.meta.repository === repo.description && !lost ? prev.outputs : {};
    const md5: Record<string, string> = {};
    const progress = ctx.log.progress(`upload ${id}`, Object.keys(files).length + 1, 'files');
    // A published file leaves out_todo for out_done, so an interrupted upload resumes.
    const settle = async (name: string) => {
      const todo = path.join(workdir.dir('out_todo', id), name);
      if ((await workdir.outFile(id, name)) === todo) await moveFile(todo, path.join(workdir.dir('out_done', id), name));
      progress.tick();
    };
    /** The local copy of a study file, rebuilding the study when this work dir lacks it. */
    const local = async (name: string) => {
      let file = await workdir.outFile(id, name);
      if (!file) {
        await inv.materialize(name in inv.deps.tile.outputs ? 'tile' : 'wtml');
        file = await workdir.outFile(id, name);
      }
      if (!file) throw new ToastyError('storage', `output file ${name} is missing from the work directory`, { imageId: id });
      return file;
    };
    const studyName = (repoName: string) =>
      repoName.startsWith(pixelDir) && repoName.slice(pixelDir.length) in inv.deps.tile.outputs ? repoName.slice(pixelDir.length) : repoName;
    const names = Object.keys(files)
      .filter((n) => n !== INDEX_WTML)
      .sort();
    try {
      const items: PutItem[] = [];
      for (const name of names) {
        const repoPath = `${id}/${name}`;
        const here = await workdir.outFile(id, studyName(name));
        // Published before: recorded by an earlier upload, or moved to out_done by an
        // interrupted one (the check below re-sends anything the repository lost since).
        const sent = already[repoPath] === files[name] || (here !== null && here !== path.join(workdir.dir('out_todo', id), studyName(name)) && !lost);
        if (sent) {
          md5[repoPath] = prev?.meta.md5?.[repoPath] ?? (here ? await md5OfFile(here) : ((await repo.stat(repoPath))?.md5 ?? ''));
          await settle(studyName(name));
          continue;
        }
        const file = here ?? (await local(studyName(name)));
        md5[repoPath] = await md5OfFile(file);
        items.push({ path: repoPath, file, md5: md5[repoPath] });
      }
      await putMany(repo, items, ctx.uploadConcurrency, { onDone: (item) => settle(studyName(item.path.slice(id.length + 1))) });
      await resendLost(ctx, id, names, pixelDir, local, studyName);
      // Before index.wtml: the record of what it will describe, so a complete image has one.
      const index = await local(INDEX_WTML);
      const indexMd5 = await md5OfFile(index);
      md5[`${id}/${INDEX_WTML}`] = indexMd5;
      const outputs: Record<string, string> = {};
      for (const [name, digest] of Object.entries(files)) outputs[`${id}/${name}`] = digest;
      const meta: UploadMeta = { repository: repo.description, pixelDir, md5 };
      const entry = {
        rule: uploadRule.name,
        version: uploadRule.version,
        key: self.key,
        leaves: self.leaves,
        result: { outputs, meta },
        at: new Date().toISOString(),
      };
      await repo.put(`${id}/${BUILD_RECORD}`, buildRecordText(id, { ...withRecord(self.lineage(), recordOf(ctx, id)), [uploadRule.name]: entry }));
      // Last: the file whose presence tells readers the image is complete.
      await repo.putFile(`${id}/${INDEX_WTML}`, index, { md5: indexMd5 });
      await settle(INDEX_WTML);
      // Pixel files the previous publish kept elsewhere: no index.wtml points at them now.
      if (prev && prev.meta.repository === repo.description) {
        for (const old of Object.keys(prev.outputs)) if (!(old in outputs)) await repo.delete(old);
      }
      await workdir.pruneEmpty(workdir.dir('out_todo', id));
      return { outputs, meta };
    } finally {
      progress.done();
    }
  },
});

/**
 * The fetch node's record with the feed record it was keyed on in its meta (`FetchMeta.record`):
 * the build record carries it, the work dir's manifest does not. Up to date, the fetch was keyed
 * on this same record.
 */
function withRecord(lineage: Record<string, NodeRecord>, record: SourceRecord): Record<string, NodeRecord> {
  const fetched = lineage[fetchRule.name];
  if (!fetched) return lineage;
  const meta = { ...(fetched.result.meta as FetchMeta), record };
  // Field by field: a record read from the manifest has its leaves behind a getter.
  const { rule, version, key, leaves, result, at } = fetched;
  return { ...lineage, [fetchRule.name]: { rule, version, key, leaves, result: { ...result, meta }, at } };
}

/** What an upload's result says about the image's published pixel files. */
export function publishedPixelsOf(id: string, result: NodeResult<UploadMeta> | NodeResult): PublishedPixels {
  const meta = result.meta as Partial<UploadMeta> | undefined;
  const dir = meta?.pixelDir ?? '';
  const pixels: Record<string, string> = {};
  const base = `${id}/${dir}`;
  const outputs = result.outputs;
  for (const p in outputs) {
    if (!p.startsWith(base) || p.indexOf('/', base.length) >= 0) continue;
    const name = p.slice(base.length);
    if (name !== INDEX_WTML && name !== INDEX_REL_WTML) pixels[name] = outputs[p]!;
  }
  return { dir, files: pixels };
}

/**
 * Before the commit point, check the repository really holds every file: an earlier run's
 * upload may have been lost (a crashed storage emulator, a wiped folder).
 */
async function resendLost(
  ctx: PipelineContext,
  id: string,
  names: string[],
  pixelDir: string,
  local: (name: string) => Promise<string>,
  studyName: (repoName: string) => string,
): Promise<void> {
  const listed = async (folder: string, prefix: string) => (await ctx.repo.list(folder)).filter((e) => !e.isFolder).map((e) => `${prefix}${e.name}`);
  const present = new Set([...(await listed(id, '')), ...(pixelDir ? await listed(`${id}/${pixelDir.slice(0, -1)}`, pixelDir) : [])]);
  const missing = names.filter((n) => !present.has(n));
  if (!missing.length) return;
  ctx.log.warn(`${id}: ${missing.length} file(s) missing from the repository; uploading them again`);
  const again: PutItem[] = [];
  for (const name of missing) again.push({ path: `${id}/${name}`, file: await local(studyName(name)) });
  await putMany(ctx.repo, again, ctx.uploadConcurrency);
}
