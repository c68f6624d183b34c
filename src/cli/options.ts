/**
 * Options shared by the pipeline commands: the data-repository arguments (a local folder, or an
 * Azure container named by the variable holding its connection string) and the
 * work directory, as one base class every pipeline command extends.
 */
import { Command, Option } from 'clipanion';
import { openRepositoryLazily, type StorageArgs } from '../storage/select.js';
import type { Repository } from '../storage/types.js';
import { consoleLog, type Log } from '../util/log.js';

export abstract class RepositoryCommand extends Command {
  local = Option.String('--local', {
    description: 'Use the local folder DIR as the data repository',
    arity: 1,
  });
  azureConnEnv = Option.String('--azure-conn-env', {
    description: 'Name of the environment variable holding the Azure Storage connection string',
  });
  azureContainer = Option.String('--azure-container', { description: 'Azure Blob Storage container of the repository' });
  azurePathPrefix = Option.String('--azure-path-prefix', { description: 'Folder inside the container (may contain "/")' });
  verbose = Option.Boolean('-v,--verbose', false, { description: 'Print debugging detail' });
  quiet = Option.Boolean('-q,--quiet', false, { description: 'Only print warnings and errors' });

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

  makeLog(): Log {
    return consoleLog({ verbose: this.verbose, quiet: this.quiet });
  }
}
