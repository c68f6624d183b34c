/** `toasty init`: record a work directory's data repository once, so later commands take just WORKDIR. */
import path from 'node:path';
import { Option } from 'clipanion';
import { ToastyError } from '../util/errors.js';
import { exitCodeFor } from './exit.js';
import { RepositoryCommand } from './options.js';

export class InitCommand extends RepositoryCommand {
  static override paths = [['init']];
  static override usage = RepositoryCommand.Usage({
    category: 'Pipeline',
    description: 'Record the data repository in WORKDIR, so later commands need only WORKDIR',
    details: `
      Checks the repository can be reached and has \`toasty-pipeline-config.yaml\` (a warning if
      not), creates WORKDIR and records the repository arguments in
      \`WORKDIR/toasty-workdir.yaml\`. No secret is recorded: for Azure, only the NAME of the
      environment variable holding the connection string, the container and the prefix; a local
      folder is recorded as an absolute path. Afterwards \`make\`, the stage commands, \`verify\`,
      \`preview\` and \`reject\` take just WORKDIR; repository options given to them override the
      recording for that run.

      A work directory recording a different repository is left alone (exit status 2) unless
      \`--force\`.
    `,
    examples: [
      ['A local repository', '$0 init --local=./repo ./work'],
      ['An Azure container', `$0 init --azure-conn-env=AZ_CONN --azure-container=feeds --azure-path-prefix=astropix ./work`],
      ['Then', '$0 make ./work'],
    ],
  });

  workdir = Option.String({ name: 'WORKDIR' });
  force = Option.Boolean('--force', false, { description: 'Replace a different repository recorded in WORKDIR' });

  async execute(): Promise<number> {
    const log = this.makeLog();
    try {
      const settings = await import('../pipeline/workdir-settings.js');
      const { chooseStorage, openRepositoryLazily } = await import('../storage/select.js');
      const given = { local: this.local, azureConnEnv: this.azureConnEnv, azureContainer: this.azureContainer, azurePathPrefix: this.azurePathPrefix };
      // init records what the command line says, never the recording it may replace.
      chooseStorage(given);
      const args = settings.normalizeRepositoryArgs(given);
      const workdir = path.resolve(this.workdir);
      const file = path.join(workdir, settings.WORKDIR_SETTINGS);
      const recorded = await settings.readWorkdirSettings(workdir).catch((e: unknown) => {
        // A damaged recording is what --force is for.
        if (this.force) return null;
        throw e;
      });
      const same = recorded !== null && settings.sameRepositoryArgs(recorded, args);
      if (recorded && !same && !this.force) {
        throw new ToastyError(
          'usage',
          `${file} already records another repository (${settings.describeRepositoryArgs(recorded)}); give --force to replace it, or use another work directory`,
          { field: 'WORKDIR' },
        );
      }
      const repo = await openRepositoryLazily(args);
      // Reachable and readable is what init can promise; each run checks write access itself.
      await repo.check({ write: false });
      const { CONFIG_NAME, loadConfig } = await import('../pipeline/config.js');
      if (!(await repo.exists(CONFIG_NAME))) {
        log.warn(`${repo.description} has no ${CONFIG_NAME} yet: put one there before the first fetch (see the README)`);
      } else {
        try {
          await loadConfig(repo);
        } catch (e) {
          log.warn(`${CONFIG_NAME} in ${repo.description} will stop the pipeline: ${e instanceof ToastyError ? e.describe() : String(e)}`);
        }
      }
      if (!same) await settings.writeWorkdirSettings(workdir, args);
      const out = (line: string) => this.context.stdout.write(`${line}\n`);
      out(`${same ? 'already recorded' : 'recorded'} in ${file}: ${settings.describeRepositoryArgs(args)}`);
      const shown = /^[\w./-]+$/.test(this.workdir) ? this.workdir : `'${this.workdir.replaceAll("'", "'\\''")}'`;
      out(`next: toasty pipeline-fetch-inputs ${shown}   (or \`toasty make ${shown}\` for every stage at once)`);
      return 0;
    } catch (e) {
      return exitCodeFor(e, log);
    }
  }
}
