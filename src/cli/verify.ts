/** `toasty verify`: check the published repository against its build records, and mend it. */
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Option } from 'clipanion';
import type { VerifyProblem, VerifyReport } from '../pipeline/verify.js';
import { exitCodeFor } from './exit.js';
import { RepositoryCommand } from './options.js';
import { where } from './describe.js';

const WORDS: Record<VerifyProblem['problem'], string> = {
  missing: 'missing',
  differs: 'content differs from its build record',
  stray: 'stray file: no build record names it',
  'record-unreadable': 'build record unreadable',
  'not-published': 'listed in the root index but not published',
  'not-indexed': 'published but missing from the root index',
  'rejected-indexed': 'listed in the root index but rejected (skip.flag)',
  'index-missing': 'there is no root index',
  'index-unreadable': 'the root index cannot be read',
};

export function problemLine(p: VerifyProblem): string {
  return `${p.image ?? '(repository)'} ${p.path}: ${WORDS[p.problem]}${p.detail ? ` (${p.detail})` : ''}`;
}

export class VerifyCommand extends RepositoryCommand {
  static override paths = [['verify']];
  static override usage = RepositoryCommand.Usage({
    category: 'Repository',
    description: 'Check the published repository against its build records',
    details: `
      For every image published with a build record: files missing, files whose content differs
      (Azure's Content-MD5 from one listing per folder; a hash locally), stray files no record
      names, an unreadable record; and a root \`index.wtml\` that lists an image that is not
      published or leaves out one that is. One line per problem, naming the image and the file.
      Images published by other tools (no record) are left alone.

      \`--repair\` publishes the damaged images again in full (from WORKDIR, rebuilding what it
      lacks; a temporary work directory when none is given) and rewrites a wrong root index.
      \`--prune\` deletes stray files. Exit status: 0 clean (after repairs, if asked), 1 problems
      remain, 2 the repository or its configuration cannot be used.
    `,
    examples: [
      ['Check a repository', '$0 verify --local=./repo'],
      ['Mend it, using a work directory as cache', '$0 verify --local=./repo ./work --repair --prune'],
      ['Machine-readable', '$0 verify --json --azure-conn-env=AZ --azure-container=feeds'],
    ],
  });

  workdir = Option.String({ name: 'WORKDIR', required: false });
  json = Option.Boolean('--json', false, { description: 'Print {"problems": [{"image", "path", "problem"}, ...]} on stdout' });
  repair = Option.Boolean('--repair', false, { description: 'Publish damaged images again and rewrite a wrong root index' });
  prune = Option.Boolean('--prune', false, { description: 'Delete stray files in recorded image folders' });

  async execute(): Promise<number> {
    const log = this.makeLog();
    try {
      const { loadConfig } = await import('../pipeline/config.js');
      const { verifyRepository } = await import('../pipeline/verify.js');
      const repo = await this.openRepository();
      // Checking only reads; mending writes.
      await repo.check({ write: this.repair || this.prune });
      const { config } = await loadConfig(repo);
      let report = await verifyRepository(repo, config);
      const mend = this.repair || this.prune;
      if (mend && report.problems.length) {
        for (const p of report.problems) log.info(`found: ${problemLine(p)}`);
        if (this.prune) {
          for (const p of report.problems.filter((x) => x.problem === 'stray')) await repo.delete(p.path);
        }
        if (this.repair) await this.mend(report, log);
        report = await verifyRepository(repo, config);
      }
      const shown = report.problems.filter((p) => this.prune || p.problem !== 'stray' || !mend);
      if (this.json) {
        this.context.stdout.write(
          `${JSON.stringify({ problems: shown.map(({ image, path: p, problem, detail }) => ({ image, path: p, problem, ...(detail ? { detail } : {}) })) })}\n`,
        );
      } else {
        for (const p of shown) this.context.stdout.write(`${problemLine(p)}\n`);
        log.info(
          `${report.checked.length} recorded image(s) checked, ${report.published.length} published: ${shown.length ? `${shown.length} problem(s)` : 'no problems'}`,
        );
      }
      return shown.length ? 1 : 0;
    } catch (e) {
      return exitCodeFor(e, log);
    }
  }

  /** Republish every image with a damaged file or record; the run rewrites the root index too. */
  private async mend(report: VerifyReport, log: ReturnType<RepositoryCommand['makeLog']>): Promise<void> {
    const damaged = new Set(['missing', 'differs', 'record-unreadable']);
    const republish = [...new Set(report.problems.filter((p) => p.image && damaged.has(p.problem)).map((p) => p.image as string))];
    const { runPipeline } = await import('../pipeline/run.js');
    const { ROOT_INDEX } = await import('../pipeline/config.js');
    const tmp = this.workdir ? null : await fsp.mkdtemp(path.join(os.tmpdir(), 'toasty-repair-'));
    try {
      const workdir = this.workdir ?? tmp!;
      const repo = await this.openRepository();
      const runs = [await runPipeline({ workdir, repo, stage: 'make', republish, log })];
      // A wrong root index is rewritten even when every image is fine.
      if (report.problems.some((p) => p.path === ROOT_INDEX)) runs.push(await runPipeline({ workdir, repo, stage: 'reindex', log }));
      for (const p of runs.flatMap((r) => r.problems)) log.error(`repair: ${where(p)}: ${p.error.message}`);
    } finally {
      if (tmp) await fsp.rm(tmp, { recursive: true, force: true });
    }
  }
}
