/** The engine's typed failures, in the pipeline's words (it knows the engine's state is a work directory). */
import { LockHeldError, ManifestDamagedError } from '../engine/index.js';
import { ToastyError } from '../util/errors.js';

export function engineErrorToToasty(e: unknown, workdir: string): unknown {
  if (e instanceof LockHeldError) {
    const h = e.holder;
    const message = e.otherHost
      ? `work directory ${workdir} is locked by pid ${h.pid} on host ${h.host} (started ${h.started}); remove ${e.file} if that run is gone`
      : `work directory ${workdir} is in use by another toasty run (pid ${h.pid}, ${h.command ?? 'toasty'}, started ${h.started}); wait for it to finish`;
    return new ToastyError('lock', message, { cause: e });
  }
  if (e instanceof ManifestDamagedError) {
    return new ToastyError(
      'state',
      `${e.file} is damaged (${e.detail}): this work directory's record of what it built cannot be read. Restore it from a backup, or start a new work directory and rebuild its images with --force`,
      { cause: e },
    );
  }
  return e;
}
