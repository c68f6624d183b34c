/**
 * Options shared by the commands: `--verbose`/`--quiet` for all (ToastyCommand), and the
 * data-repository arguments (a local folder, or an Azure container named by the variable
 * holding its connection string) for those that use a repository (RepositoryCommand).
 */
import { Command, Option } from 'clipanion';
import { openRepositoryLazily, type StorageArgs } from '../storage/select.js';
import type { Repository } from '../storage/types.js';
import { consoleLog, type Log } from '../util/log.js';

/** What every toasty command takes: `-v, --verbose` and `-q, --quiet`, and the log they choose. */
export abstract class ToastyCommand extends Command {
  verbose = Option.Boolean('-v,--verbose', false, { description: 'Print more: debugging detail, timings, retries, stack traces' });
  quiet = Option.Boolean('-q,--quiet', false, { description: 'Only print warnings and errors' });

  makeLog(): Log {
    return consoleLog({ verbose: this.verbose, quiet: this.quiet });
  }
}

export abstract class RepositoryCommand extends ToastyCommand {
  local = Option.String('--local', {
    description: 'Use the local folder DIR as the data repository',
    arity: 1,
  });
  azureConnEnv = Option.String('--azure-conn-env', {
    description: 'Name of the environment variable holding the Azure Storage connection string',
  });
  azureContainer = Option.String('--azure-container', { description: 'Azure Blob Storage container of the repository' });
  azurePathPrefix = Option.String('--azure-path-prefix', { description: 'Folder inside the container (may contain "/")' });

  /** The work directory (each command declares its WORKDIR positional): where `toasty init` recorded the repository. */
  abstract workdir: string | undefined;

  /** The repository options given on this command line, else those `toasty init` recorded in WORKDIR. */
  async repositoryArgs(): Promise<StorageArgs> {
    const { resolveRepositoryArgs } = await import('../pipeline/workdir-settings.js');
    const given = { local: this.local, azureConnEnv: this.azureConnEnv, azureContainer: this.azureContainer, azurePathPrefix: this.azurePathPrefix };
    return resolveRepositoryArgs(given, this.workdir, this.makeLog());
  }

  async openRepository(): Promise<Repository> {
    return openRepositoryLazily(await this.repositoryArgs());
  }
}
