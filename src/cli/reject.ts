/** `toasty reject`: mark images not to publish (`<id>/skip.flag`), or take the mark back with --undo. */
import { Option } from 'clipanion';
import { ToastyError } from '../util/errors.js';
import { exitCodeFor } from './exit.js';
import { RepositoryCommand } from './options.js';

export class RejectCommand extends RepositoryCommand {
  static override paths = [['reject']];
  static override usage = RepositoryCommand.Usage({
    category: 'Review',
    description: 'Mark images not to publish (skip.flag in the repository), or take the mark back',
    details: `
      Writes \`<id>/skip.flag\` into the repository for each ID (a small JSON object: the reason,
      who, when), and removes the image's pending outputs from the work directory
      (\`out_todo/<id>\`, \`cache_todo/<id>\`: only files toasty's records name). From then on
      \`make\` and the stage commands leave the image out (not fetched, tiled or uploaded) and the
      root index does not list it. An image already published keeps its files in the repository
      (toasty deletes nothing); the next \`make\` or \`pipeline-reindex\` takes it out of the root index.
      Each ID must be known to the work directory, the repository or the feed.

      \`--undo\` removes the skip.flag (only one \`toasty reject\` wrote), so the next \`make\` takes
      the image on again. Repository arguments as for \`make\`, or none after \`toasty init\`.
    `,
    examples: [
      ['Reject two images after reviewing them', `$0 reject ./work nrao_x noirlab_y --reason 'wrong WCS: off by 180 degrees'`],
      ['Publish one again', '$0 reject --undo ./work nrao_x'],
    ],
  });

  workdir = Option.String({ name: 'WORKDIR' });
  ids = Option.Rest({ name: 'ID', required: 1 });
  reason = Option.String('--reason', { description: 'Why the images are not to be published (required, except with --undo)' });
  undo = Option.Boolean('--undo', false, { description: 'Remove the skip.flag toasty reject wrote: the next make processes the images again' });

  async execute(): Promise<number> {
    const log = this.makeLog();
    try {
      if (this.undo && this.reason !== undefined) throw new ToastyError('usage', '--undo takes no --reason', { field: 'reason' });
      if (!this.undo && !this.reason?.trim()) {
        throw new ToastyError('usage', '--reason TEXT is required: say why the images are not to be published', { field: 'reason' });
      }
      const { rejectImages, undoRejections } = await import('../pipeline/reject.js');
      const repo = await this.openRepository();
      const out = (line: string) => this.context.stdout.write(`${line}\n`);
      if (this.undo) {
        for (const r of await undoRejections({ workdir: this.workdir, repo, ids: this.ids, log })) {
          if (r.result === 'removed') out(`${r.id}: rejection removed; the next make processes it`);
          else log.warn(`${r.id} was not rejected (no skip.flag in the repository)`);
        }
        return 0;
      }
      for (const r of await rejectImages({ workdir: this.workdir, repo, ids: this.ids, reason: this.reason ?? '', log })) {
        if (r.flag === 'foreign') log.warn(`${r.id} already has a skip.flag that toasty reject did not write; left as it is`);
        const dropped = r.removed.length ? `; removed ${r.removed.length} pending file(s) from the work directory` : '';
        out(`${r.id}: rejected${r.flag === 'updated' ? ' (reason updated)' : ''}${dropped}`);
        if (r.kept.length)
          log.warn(`${r.id}: left ${r.kept.length} file(s) toasty's records do not name: ${r.kept.slice(0, 3).join(', ')}${r.kept.length > 3 ? ', ...' : ''}`);
        if (r.published) {
          log.warn(`${r.id} is already published: its files stay in the repository; the next make (or pipeline-reindex) takes it out of the root index`);
        }
      }
      return 0;
    } catch (e) {
      return exitCodeFor(e, log);
    }
  }
}
