/**
 * Turn the storage command-line options (spec 8.1) into a Repository. Strict where the 2020 code
 * was lenient: giving both a local folder and Azure options is an error, not "--local wins".
 * The connection string is read from the named environment variable and never echoed.
 */
import { ToastyError } from '../util/errors.js';
import { AzureRepository, normalizePathPrefix, type AzureRepositoryOptions } from './azure.js';
import { LocalRepository } from './local.js';
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

const given = (v: string | undefined): v is string => v !== undefined && v !== '';

const usage = (msg: string, field: string) => new ToastyError('usage', msg, { field });

export function openRepository(
  args: StorageArgs,
  env: NodeJS.ProcessEnv = process.env,
  tuning: AzureTuning = {},
): Repository {
  const anyAzure = given(args.azureConnEnv) || given(args.azureContainer) || given(args.azurePathPrefix);
  if (args.local !== undefined && args.local === '') {
    throw usage('--local needs a folder', 'local');
  }
  if (given(args.local) && anyAzure) {
    throw usage(
      'both --local and Azure options (--azure-conn-env/--azure-container/--azure-path-prefix) were given: pick one repository',
      'local',
    );
  }
  if (given(args.local)) return new LocalRepository(args.local);
  if (!anyAzure) {
    throw usage(
      'no data repository given: use --local=DIR, or --azure-conn-env=VAR --azure-container=NAME [--azure-path-prefix=P]',
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
    throw usage(
      `--azure-conn-env takes the NAME of an environment variable (letters, digits, '_'), not the connection string itself`,
      'azure-conn-env',
    );
  }
  const conn = env[varName];
  if (conn === undefined || conn.trim() === '') {
    throw usage(
      `environment variable ${varName} (named by --azure-conn-env) is ${conn === undefined ? 'not set' : 'empty'}: set it to the Azure Storage connection string`,
      'azure-conn-env',
    );
  }
  return new AzureRepository({
    ...tuning,
    connectionString: conn,
    container: args.azureContainer,
    pathPrefix: args.azurePathPrefix,
    connectionSource: `the connection string in $${varName}`,
  });
}

/** Secret-free one-line description of the storage options (for logs and --dry-run output). */
export function describeArgs(args: StorageArgs): string {
  if (given(args.local)) return `local folder ${args.local}`;
  if (given(args.azureContainer) || given(args.azureConnEnv)) {
    const prefix = normalizePathPrefixSafe(args.azurePathPrefix);
    return (
      `Azure container ${args.azureContainer ?? '(none)'}` +
      (prefix ? ` (prefix ${prefix})` : '') +
      ` via $${args.azureConnEnv ?? '(none)'}`
    );
  }
  return 'no repository';
}

function normalizePathPrefixSafe(p: string | undefined): string {
  try {
    return normalizePathPrefix(p).join('/');
  } catch {
    return p ?? '';
  }
}
