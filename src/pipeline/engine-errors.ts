/** The engine's typed failures, in the pipeline's words (it knows the engine's state is a work directory). */
import { ManifestDamagedError } from '../engine/index.js';
import { LockHeldError } from '../util/lock.js';
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
      `${e.file} is damaged (${e.detail}). Move it aside (with its .journal): the next run rebuilds this work directory's state from the build records in the repository`,
      { cause: e },
    );
  }
  return e;
}
