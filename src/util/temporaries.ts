/**
 * Temporary files and folders: their names, who owns them, and their removal.
 *
 * Every temporary toasty makes is hidden (leading '.') and carries the pid of the process that
 * made it, so a later run can tell a leftover of a killed process from one still in use:
 *   .NAME.tmp-PID-HEX        a folder being filled before it is renamed into place
 *   .NAME.tmp-PID-HEX.old    the folder it replaces, on its way out
 *   .NAME.PID.HEX.tmp        a file being written atomically
 *   .NAME.PID.HEX.part       a download in progress
 *   .decoded-PID-HEX.v       the tile pyramid's decoded scratch file
 *
 * While this process runs, each temporary it creates is tracked; on SIGINT, SIGTERM or SIGHUP
 * they are removed before the process exits with 128 + the signal number (130, 143, 129),
 * so an interrupted tiling does not leave a scratch file of width x height x 4 bytes behind.
 * A command that can stop gracefully (a pipeline run) registers `onInterrupt`: the first signal
 * then only calls it, and the command finishes what runs and exits itself; a second signal
 * exits at once. Either way `atInterruptExit` hooks (restoring the terminal) run first.
 * A SIGKILL cannot be caught: `sweepStaleTemporaries` removes what such a process left, once
 * its pid is gone.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, rmSync, promises as fsp } from 'node:fs';
import path from 'node:path';
import { processAlive } from './process.js';

/** `.NAME.tmp-PID-HEX` (a temporary folder) for `target`, in the same parent. */
export function tempDirName(target: string): string {
  return path.join(path.dirname(target), `.${path.basename(target)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
}

/** `.NAME.PID.HEX.SUFFIX` (a temporary file) for `target`, in the same folder. */
export function tempFileName(target: string, suffix: 'tmp' | 'part'): string {
  return path.join(path.dirname(target), `.${path.basename(target)}.${process.pid}.${randomBytes(4).toString('hex')}.${suffix}`);
}

const PATTERNS: readonly RegExp[] = [/^\..+\.tmp-(\d+)-[0-9a-f]+(?:\.old)?$/, /^\..+\.(\d+)\.[0-9a-f]+\.(?:tmp|part)$/, /^\.decoded-(\d+)-[0-9a-f]+\.v$/];
/** Folders made by earlier versions with mkdtemp (no pid): `.NAME.tmp-XXXXXX`. */
const LEGACY_DIR = /^\..+\.tmp-[A-Za-z0-9]{6}(?:\.old)?$/;

/**
 * The pid in a temporary's name; null when the name is not a toasty temporary, 0 for an old
 * temporary folder whose name carries no pid.
 */
export function temporaryOwner(name: string): number | null {
  for (const re of PATTERNS) {
    const m = re.exec(name);
    if (m) return Number(m[1]);
  }
  return LEGACY_DIR.test(name) ? 0 : null;
}

// ---------------------------------------------------------------------------------------------
// This process's temporaries

const owned = new Set<string>();
let handlersInstalled = false;

const SIGNAL_EXIT: Record<string, number> = { SIGINT: 130, SIGTERM: 143, SIGHUP: 129 };

/**
 * Remove every tracked temporary now, synchronously (the process is about to exit).
 *
 * File-system work already handed to the thread pool still runs while this blocks the main
 * thread: the open() of a tile being written into a temporary folder, the mkdir() of one. It
 * can create an entry after rmSync listed the folder (rmSync's retries then only retry the
 * rmdir, and give up), or make a folder again once removed. That work is bounded (nothing new
 * is queued meanwhile), so: remove, let it drain, and look again until two looks find nothing.
 */
export function removeOwnedTemporariesSync(): void {
  const paths = [...owned];
  owned.clear();
  if (paths.length === 0) return;
  let clean = 0;
  for (let pass = 0; pass < 20 && clean < 2; pass++) {
    let found = false;
    for (const p of paths) {
      if (!existsSync(p)) continue;
      found = true;
      try {
        rmSync(p, { recursive: true, force: true });
      } catch {
        /* a writer got in between: the next pass (or the next run's sweep) removes it */
      }
    }
    clean = found ? 0 : clean + 1;
    if (clean < 2) sleepSync(25);
  }
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

let interruptListener: ((signal: NodeJS.Signals) => void) | null = null;
let interrupted: NodeJS.Signals | null = null;
const exitHooks = new Set<() => void>();

/** 128 + the signal's number: the status a shell reports for a process the signal ended. */
export function signalExitCode(signal: NodeJS.Signals): number {
  return SIGNAL_EXIT[signal] ?? 130;
}

/**
 * Clean up and exit now: hooks (terminal), then this process's temporaries. Also how a
 * command ends after an interrupt it handled: work it abandoned may still run in the
 * background (libvips threads), and would keep the process alive.
 */
export function exitNow(signal: NodeJS.Signals): never {
  for (const hook of exitHooks) {
    try {
      hook();
    } catch {
      /* exiting anyway */
    }
  }
  removeOwnedTemporariesSync();
  process.exit(signalExitCode(signal));
}

function installSignalHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  for (const signal of Object.keys(SIGNAL_EXIT) as NodeJS.Signals[]) {
    process.on(signal, () => {
      // SIGHUP: the terminal is gone, nobody waits for a summary.
      if (interruptListener && !interrupted && signal !== 'SIGHUP') {
        interrupted = signal;
        interruptListener(signal);
      } else {
        exitNow(signal);
      }
    });
  }
}

/**
 * Let `listener` handle the first SIGINT/SIGTERM instead of exiting (a second one exits at
 * once). Returns the function that unregisters it.
 */
export function onInterrupt(listener: (signal: NodeJS.Signals) => void): () => void {
  installSignalHandlers();
  interruptListener = listener;
  return () => {
    if (interruptListener === listener) interruptListener = null;
  };
}

/** Run `hook` (synchronous) before this process exits on a signal. Returns the unregister function. */
export function atInterruptExit(hook: () => void): () => void {
  installSignalHandlers();
  exitHooks.add(hook);
  return () => exitHooks.delete(hook);
}

/**
 * Track a temporary this process is about to create, so a signal removes it; untrack it once
 * it is renamed into place or removed. The first call installs the signal handlers.
 */
export function trackTemporary(p: string): void {
  installSignalHandlers();
  owned.add(p);
}

export function untrackTemporary(p: string): void {
  owned.delete(p);
}

/** Whether this process tracks `p` (for tests). */
export function isTrackedTemporary(p: string): boolean {
  return owned.has(p);
}

// ---------------------------------------------------------------------------------------------
// Leftovers of other processes

/**
 * Remove toasty temporaries directly inside `dir` whose owner process is gone (or, for
 * pid-less names of earlier versions, when `legacy` allows it: only where a lock makes this
 * process the folder's only writer). Returns the paths removed. A missing `dir` is fine.
 */
export async function sweepStaleTemporaries(dir: string, opts: { legacy?: boolean } = {}): Promise<string[]> {
  let names: string[];
  try {
    names = await fsp.readdir(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT' || (e as NodeJS.ErrnoException).code === 'ENOTDIR') return [];
    throw e;
  }
  const removed: string[] = [];
  for (const name of names) {
    if (!name.startsWith('.')) continue;
    const pid = temporaryOwner(name);
    if (pid === null) continue;
    const p = path.join(dir, name);
    const stale = pid === 0 ? opts.legacy === true : pid === process.pid ? !owned.has(p) : !processAlive(pid);
    if (!stale) continue;
    try {
      await fsp.rm(p, { recursive: true, force: true });
      removed.push(p);
    } catch {
      /* not ours to remove after all (permissions): leave it, the run goes on */
    }
  }
  return removed;
}
