/** Exit statuses: 0 all good, 1 some images failed, 2 usage/configuration/repository errors. */
import { isToastyError } from '../util/errors.js';
import type { Log } from '../util/log.js';
import { redactSecrets } from '../util/redact.js';

export const EXIT_OK = 0;
export const EXIT_SOME_FAILED = 1;
export const EXIT_USAGE = 2;

/**
 * Report an error that stopped a command, in one line, and choose its exit status. The stack
 * is for `--verbose` only: a person needs the message, a bug report needs the frames.
 */
export function exitCodeFor(e: unknown, log: Log, verbose = false): number {
  if (isToastyError(e)) {
    log.error(e.describe());
    if (verbose && e.stack) log.debug(redactSecrets(e.stack));
    return e.exitStatus;
  }
  const message = redactSecrets(e instanceof Error ? e.message : String(e)).replace(/\s*\n\s*/g, ' ');
  if (verbose && e instanceof Error && e.stack) log.error(`unexpected failure: ${redactSecrets(e.stack)}`);
  else log.error(`unexpected failure: ${message} (run with --verbose for the stack)`);
  return EXIT_SOME_FAILED;
}
