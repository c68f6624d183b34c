/**
 * Which repository the command-line options name, checked without loading any backend (the
 * Azure SDK is heavy to load, and a local run should not pay for it).
 */
import { ToastyError } from '../util/errors.js';
import type { AzureRepositoryOptions } from './azure.js';
import type { Repository } from './types.js';

export interface StorageArgs {
  /** `--local=DIR` */
  local?: string;
  /** `--azure-conn-env=VAR`: name of the environment variable holding the connection string. */
  azureConnEnv?: string;
  /** `--azure-container=NAME` */
  azureContainer?: string;
  /** `--azure-path-prefix=P` */
  azurePathPrefix?: string;
}

/** Tuning passed through to AzureRepository (retries, timeouts, block sizes). */
export type AzureTuning = Omit<AzureRepositoryOptions, 'connectionString' | 'container' | 'pathPrefix' | 'connectionSource'>;

export type StorageChoice =
  | { kind: 'local'; root: string }
  | { kind: 'azure'; options: Pick<AzureRepositoryOptions, 'connectionString' | 'container' | 'pathPrefix' | 'connectionSource'> };

const given = (v: string | undefined): v is string => v !== undefined && v !== '';

const usage = (msg: string, field: string) => new ToastyError('usage', msg, { field });

/** Validate the options (ToastyError 'usage' naming the option or variable, never a secret). */
export function chooseStorage(args: StorageArgs, env: NodeJS.ProcessEnv = process.env): StorageChoice {
  const anyAzure = given(args.azureConnEnv) || given(args.azureContainer) || given(args.azurePathPrefix);
  if (args.local !== undefined && args.local === '') {
    throw usage('--local needs a folder', 'local');
  }
  if (given(args.local) && anyAzure) {
    throw usage('both --local and Azure options (--azure-conn-env/--azure-container/--azure-path-prefix) were given: pick one repository', 'local');
  }
  if (given(args.local)) return { kind: 'local', root: args.local };
  if (!anyAzure) {
    throw usage(
      'no data repository given: use --local=DIR, or --azure-conn-env=VAR --azure-container=NAME [--azure-path-prefix=P], or record them once with `toasty init {those options} WORKDIR`',
      'local',
    );
  }
  if (!given(args.azureConnEnv)) {
    throw usage('--azure-container needs --azure-conn-env=VAR (the environment variable holding the connection string)', 'azure-conn-env');
  }
  if (!given(args.azureContainer)) {
    throw usage('--azure-conn-env needs --azure-container=NAME', 'azure-container');
  }
  const varName = args.azureConnEnv;
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(varName)) {
    throw usage(`--azure-conn-env takes the NAME of an environment variable (letters, digits, '_'), not the connection string itself`, 'azure-conn-env');
  }
  const conn = env[varName];
  if (conn === undefined || conn.trim() === '') {
    throw usage(
      `environment variable ${varName} (named by --azure-conn-env) is ${conn === undefined ? 'not set' : 'empty'}: set it to the Azure Storage connection string`,
      'azure-conn-env',
    );
  }
  return {
    kind: 'azure',
    options: {
      connectionString: conn,
      container: args.azureContainer,
      pathPrefix: args.azurePathPrefix,
      connectionSource: `the connection string in $${varName}`,
    },
  };
}

/** Open the repository, loading the Azure backend only when it is the one asked for. */
export async function openRepositoryLazily(args: StorageArgs, env: NodeJS.ProcessEnv = process.env, tuning: AzureTuning = {}): Promise<Repository> {
  const choice = chooseStorage(args, env);
  if (choice.kind === 'local') {
    const { LocalRepository } = await import('./local.js');
    return new LocalRepository(choice.root);
  }
  const { AzureRepository } = await import('./azure.js');
  return new AzureRepository({ ...tuning, ...choice.options });
}
