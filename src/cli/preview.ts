/**
 * `toasty preview`: review the studies of a work directory in the real WWT engine, in a
 * browser, before publishing them. Serves on 127.0.0.1 only.
 */
import { spawn } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import { Option } from 'clipanion';
import * as t from 'typanion';
import type { RejectionLookup } from '../preview/server.js';
import { ToastyError } from '../util/errors.js';
import type { Log } from '../util/log.js';
import { exitCodeFor } from './exit.js';
import { RepositoryCommand } from './options.js';

/** Ask the desktop to open a URL; failure only costs a warning. */
function openInBrowser(url: string): boolean {
  const cmd = process.platform === 'darwin' ? 'open' : process.platform === 'win32' ? 'explorer' : 'xdg-open';
  try {
    const child = spawn(cmd, [url], { stdio: 'ignore', detached: true });
    child.on('error', () => {});
    child.unref();
    return true;
  } catch {
    return false;
  }
}

export class PreviewCommand extends RepositoryCommand {
  static override paths = [['preview']];
  static override usage = RepositoryCommand.Usage({
    category: 'Review',
    description: 'Review processed images in the WorldWide Telescope engine, in a local web page',
    details: `
      Serves a page on 127.0.0.1 listing the images waiting in \`WORKDIR/out_todo\` (and, under
      "Published", those in \`out_done\`). Clicking one shows it as the foreground of the real WWT
      engine, loaded from its \`index_rel.wtml\` and tiles, centred where its Place says, with an
      opacity slider and its size, tile levels, centre and rotation, over a coordinate grid and
      the IAU constellation boundaries (from the bundled table). Nothing leaves this machine.
      Each waiting image shows the exact \`toasty reject\` and \`toasty pipeline-publish-todos\`
      commands to copy, built from the repository arguments given here (a variable's name, never
      its value); with them (or after \`toasty init\`) images rejected with \`toasty reject\` are
      marked. Stop with Ctrl-C.
    `,
    examples: [
      ['Review before publishing', `$0 preview --local=./repo ./work`],
      ['Fixed port, open a browser', `$0 preview --local=./repo ./work --port 8123 --open`],
    ],
  });

  workdir = Option.String({ name: 'WORKDIR' });
  port = Option.String('--port', '0', { description: 'Port to listen on (default: any free port)', validator: t.isNumber() });
  open = Option.Boolean('--open', false, { description: 'Open the page in the default browser' });

  /**
   * Marks for rejected images, read from the repository when one is given or recorded by
   * `toasty init`; the page works without (it reads the work directory only).
   */
  private async rejections(log: Log): Promise<RejectionLookup | undefined> {
    const { anyRepositoryArgs } = await import('../pipeline/workdir-settings.js');
    const args = await this.repositoryArgs();
    if (!anyRepositoryArgs(args)) return undefined;
    try {
      const { openRepositoryLazily } = await import('../storage/select.js');
      const { readRejections } = await import('../pipeline/reject.js');
      const repo = await openRepositoryLazily(args);
      await repo.check({ write: false });
      // A repository lost mid-session costs the marks, not the page.
      return (ids) =>
        readRejections(repo, ids).catch((e: unknown) => {
          log.warn(`rejected images are not marked: ${e instanceof ToastyError ? e.describe() : String(e)}`);
          return new Map();
        });
    } catch (e) {
      log.warn(`rejected images are not marked: ${e instanceof ToastyError ? e.describe() : String(e)}`);
      return undefined;
    }
  }

  async execute(): Promise<number> {
    const log = this.makeLog();
    try {
      const port = Number(this.port);
      if (!Number.isInteger(port) || port < 0 || port > 65535) {
        throw new ToastyError('usage', `--port must be an integer from 0 to 65535, not ${this.port}`, { field: 'port' });
      }
      // A mistyped path would otherwise show an empty page that looks like "nothing to review".
      const st = await fsp.stat(this.workdir).catch(() => null);
      if (!st?.isDirectory()) {
        throw new ToastyError('usage', `WORKDIR ${this.workdir} ${st ? 'is not a directory' : 'does not exist'}`, { field: 'WORKDIR' });
      }
      // As given (names of variables, never their values): the page shows commands to copy.
      const repoArgs = [
        ['--local', this.local],
        ['--azure-conn-env', this.azureConnEnv],
        ['--azure-container', this.azureContainer],
        ['--azure-path-prefix', this.azurePathPrefix],
      ].flatMap(([name, value]) => (value === undefined ? [] : [`${name}=${value}`]));
      const { startPreviewServer } = await import('../preview/server.js');
      const server = await startPreviewServer({
        workdir: this.workdir,
        port,
        log,
        commandArgs: { repoArgs, workdir: this.workdir },
        rejections: await this.rejections(log),
      });
      this.context.stdout.write(`toasty preview: ${server.url}  (Ctrl-C to stop)\n`);
      if (this.open && !openInBrowser(server.url)) log.warn(`could not open a browser; visit ${server.url}`);
      await new Promise<void>((resolve) => {
        const stop = () => {
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
          void server.close().then(resolve);
        };
        process.on('SIGINT', stop);
        process.on('SIGTERM', stop);
      });
      return 0;
    } catch (e) {
      return exitCodeFor(e, log);
    }
  }
}
