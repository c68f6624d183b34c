/**
 * An exclusive lock on a work directory, so two toasty runs never interleave. The lock file
 * names its holder; a lock whose process is gone (a killed run) is taken over.
 */
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ToastyError } from '../util/errors.js';

export interface LockInfo {
  pid: number;
  host: string;
  started: string;
  command?: string;
}

export interface WorkdirLock {
  readonly file: string;
  release(): Promise<void>;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export async function acquireLock(dir: string, command = 'toasty'): Promise<WorkdirLock> {
  await fsp.mkdir(dir, { recursive: true });
  const file = path.join(dir, '.toasty.lock');
  const me: LockInfo = { pid: process.pid, host: os.hostname(), started: new Date().toISOString(), command };
  for (let attempt = 0; attempt < 5; attempt++) {
    try {
      await fsp.writeFile(file, JSON.stringify(me) + '\n', { flag: 'wx' });
      return {
        file,
        release: async () => {
          // Only remove the lock if it is still ours.
          const cur = await readLock(file);
          if (cur && cur.pid === me.pid && cur.started === me.started) await fsp.rm(file, { force: true });
        },
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    const holder = await readLock(file);
    if (holder && holder.host === me.host && alive(holder.pid)) {
      throw new ToastyError(
        'lock',
        `work directory ${dir} is in use by another toasty run (pid ${holder.pid}, ${holder.command ?? 'toasty'}, started ${holder.started}); wait for it to finish`,
      );
    }
    if (holder && holder.host !== me.host) {
      throw new ToastyError(
        'lock',
        `work directory ${dir} is locked by pid ${holder.pid} on host ${holder.host} (started ${holder.started}); remove ${file} if that run is gone`,
      );
    }
    // Stale (holder dead) or unreadable lock: take it over. Rename first so only one taker wins.
    const aside = `${file}.stale-${process.pid}`;
    try {
      await fsp.rename(file, aside);
      const moved = await readLock(aside);
      if (moved && holder && (moved.pid !== holder.pid || moved.started !== holder.started)) {
        // We moved a fresh lock another run had just taken: put it back and look again.
        await fsp.rename(aside, file).catch(() => {});
        continue;
      }
      await fsp.rm(aside, { force: true });
    } catch {
      /* someone else took it over first; retry */
    }
  }
  throw new ToastyError('lock', `could not lock work directory ${dir}`);
}

export async function readLock(file: string): Promise<LockInfo | null> {
  try {
    return JSON.parse(await fsp.readFile(file, 'utf8')) as LockInfo;
  } catch {
    return null;
  }
}
