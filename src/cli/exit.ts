/** Exit statuses: 0 all good, 1 some images failed, 2 usage/configuration/repository errors. */
import { isToastyError } from '../util/errors.js';
import type { Log } from '../util/log.js';

export const EXIT_OK = 0;
export const EXIT_SOME_FAILED = 1;
export const EXIT_USAGE = 2;

/** Report an error that stopped a command and choose its exit status. */
export function exitCodeFor(e: unknown, log: Log): number {
  if (isToastyError(e)) {
    log.error(e.describe());
    return e.exitStatus;
  }
  log.error(`unexpected failure: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
  return EXIT_SOME_FAILED;
}
