/**
 * Turn the storage command-line options (spec 8.1) into a Repository. Strict where the 2020 code
 * was lenient: giving both a local folder and Azure options is an error, not "--local wins".
 * The connection string is read from the named environment variable and never echoed.
 */
import { AzureRepository, normalizePathPrefix } from './azure.js';
import { chooseStorage, given, type AzureTuning, type StorageArgs } from './select.js';
import { LocalRepository } from './local.js';
import type { Repository } from './types.js';

export type { StorageArgs, AzureTuning } from './select.js';

export function openRepository(
  args: StorageArgs,
  env: NodeJS.ProcessEnv = process.env,
  tuning: AzureTuning = {},
): Repository {
  const choice = chooseStorage(args, env);
  if (choice.kind === 'local') return new LocalRepository(choice.root);
  return new AzureRepository({ ...tuning, ...choice.options });
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
