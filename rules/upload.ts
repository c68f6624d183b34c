/**
 * upload:<id> — publish the image's files into the repository, index.wtml last.
 *
 * Key: the digests of the files it publishes (tile + wtml outputs) and which repository. Each
 * uploaded file moves from out_todo/<id> to out_done/<id>, so an interrupted publish resumes
 * where it stopped; files the repository already holds with the same digest are not re-sent.
 */
import path from 'node:path';
import { sameGroup } from '../src/engine/types.js';
import { pipelineRule } from '../src/pipeline/context.js';
import { putMany, type PutItem } from '../src/storage/parallel.js';
import { ToastyError } from '../src/util/errors.js';
import { moveFile } from '../src/util/fs.js';
import { INDEX_WTML } from '../src/wwt/study-files.js';
import { tileRule } from './tile.js';
import { wtmlRule } from './wtml.js';

export interface UploadMeta {
  repository: string;
}

export const uploadRule = pipelineRule<UploadMeta>()({
  name: 'upload',
  version: 1,
  scope: 'each',
  deps: { tile: sameGroup(tileRule), wtml: sameGroup(wtmlRule) },
  inputLabels: { files: { label: 'outputs', detail: 'fields' }, repository: { label: 'repository' } },
  inputs(inv) {
    return { files: { ...inv.deps.tile.outputs, ...inv.deps.wtml.outputs }, repository: inv.ctx.repo.description };
  },
  async verify(inv) {
    const id = inv.group;
    if (!inv.ctx.publishedAtStart.has(id)) return { problem: 'missing', where: 'repository', files: [`${id}/${INDEX_WTML}`] };
    const pending = await inv.ctx.workdir.pendingOutputs(id);
    if (pending.length) return { problem: 'pending', where: 'out_todo', files: pending };
    return null;
  },
  async run(inv, { files }) {
    const { ctx, group: id } = inv;
    const prev = inv.previous;
    // Trust what an earlier upload to this same repository recorded, unless the repository
    // has since lost the image (then everything goes up again).
    const sameRepo = prev?.meta.repository === ctx.repo.description;
    const lost = prev !== null && !(await ctx.repo.exists(`${id}/${INDEX_WTML}`));
    const already = sameRepo && !lost ? prev.outputs : {};
    const names = Object.keys(files)
      .filter((n) => n !== INDEX_WTML)
      .sort();
    const items: PutItem[] = [];
    const toMove: string[] = [];
    for (const name of names) {
      const pending = path.join(ctx.workdir.dir('out_todo', id), name);
      const src = await ctx.workdir.outFile(id, name);
      if (!src) throw new ToastyError('storage', `output file ${name} is missing from the work directory`, { imageId: id });
      const inTodo = src === pending;
      // A file already in out_done was uploaded by an earlier (perhaps interrupted) run.
      if (already[`${id}/${name}`] === files[name] || (!inTodo && !lost)) {
        if (inTodo) toMove.push(name);
        continue;
      }
      items.push({ path: `${id}/${name}`, file: src });
    }
    const progress = ctx.log.progress(`upload ${id}`, items.length + 1);
    const done = async (item: PutItem) => {
      const name = item.path.slice(id.length + 1);
      const from = path.join(ctx.workdir.dir('out_todo', id), name);
      if (item.file === from) await moveFile(from, path.join(ctx.workdir.dir('out_done', id), name));
      progress.tick();
    };
    try {
      await putMany(ctx.repo, items, ctx.uploadConcurrency, { onDone: done });
      for (const name of toMove) {
        await moveFile(path.join(ctx.workdir.dir('out_todo', id), name), path.join(ctx.workdir.dir('out_done', id), name));
      }
      // Before the commit point, check the repository really holds every file: an earlier
      // run's upload may have been lost (a crashed storage emulator, a wiped folder).
      const present = new Set((await ctx.repo.list(id)).filter((e) => !e.isFolder).map((e) => e.name));
      const missing = names.filter((n) => !present.has(n));
      if (missing.length) {
        ctx.log.warn(`${id}: ${missing.length} file(s) missing from the repository; uploading them again`);
        const again: PutItem[] = [];
        for (const name of missing) {
          const src = await ctx.workdir.outFile(id, name);
          if (!src) throw new ToastyError('storage', `output file ${name} is missing from the work directory`, { imageId: id });
          again.push({ path: `${id}/${name}`, file: src });
        }
        await putMany(ctx.repo, again, ctx.uploadConcurrency);
      }
      // Last: the file whose presence tells readers the image is complete.
      const index = await ctx.workdir.outFile(id, INDEX_WTML);
      if (!index) throw new ToastyError('storage', `${INDEX_WTML} is missing from the work directory`, { imageId: id });
      await ctx.repo.putFile(`${id}/${INDEX_WTML}`, index);
      await done({ path: `${id}/${INDEX_WTML}`, file: index });
    } finally {
      progress.done();
    }
    await ctx.workdir.pruneEmpty(ctx.workdir.dir('out_todo', id));
    const outputs: Record<string, string> = {};
    for (const [name, digest] of Object.entries(files)) outputs[`${id}/${name}`] = digest;
    return { outputs, meta: { repository: ctx.repo.description } };
  },
});
