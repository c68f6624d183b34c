/**
 * An exclusive lock file, so two runs never share a state directory (or write one file of a
 * repository at once). The file names its holder; a lock whose process is gone (a killed
 * run) is taken over.
 */
import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { processAlive } from './process.js';

export interface LockInfo {
  pid: number;
  host: string;
  started: string;
  command?: string;
  nonce?: string;
}

/**
 * Create `file` with `text`, failing with EEXIST if it exists, and never visible half-written:
 * a reader that saw an empty lock would think its holder dead and take it over. The text goes
 * to a private file first, then a hard link puts it in place in one step.
 */
async function createWhole(file: string, text: string): Promise<void> {
  const tmp = `${file}.${process.pid}-${randomBytes(4).toString('hex')}.new`;
  await fsp.writeFile(tmp, text, { flag: 'wx' });
  try {
    await fsp.link(tmp, file);
  } finally {
    await fsp.rm(tmp, { force: true });
  }
}

export interface HeldLock {
  readonly file: string;
  release(): Promise<void>;
}

/** Another live process holds the lock (or one on another host, which cannot be checked). */
export class LockHeldError extends Error {
  constructor(
    readonly file: string,
    readonly holder: LockInfo,
    readonly otherHost: boolean,
  ) {
    super(`${file} is held by pid ${holder.pid} on ${holder.host}`);
    this.name = 'LockHeldError';
  }
}

/** Take the lock `file` for this process; `command` says who holds it, for the next one. */
export async function acquireLock(file: string, command: string): Promise<HeldLock> {
  await fsp.mkdir(path.dirname(file), { recursive: true });
  // The nonce tells two holders apart that share a pid and a millisecond (in one process).
  const me: LockInfo = { pid: process.pid, host: os.hostname(), started: new Date().toISOString(), command, nonce: randomBytes(6).toString('hex') };
  for (let attempt = 0; attempt < 5; attempt++) {
    try {
      await createWhole(file, `${JSON.stringify(me)}\n`);
      return {
        file,
        release: async () => {
          // Only remove the lock if it is still ours.
          const cur = await readLock(file);
          if (cur && cur.pid === me.pid && cur.started === me.started && cur.nonce === me.nonce) await fsp.rm(file, { force: true });
        },
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    const holder = await readLock(file);
    if (holder && holder.host === me.host && processAlive(holder.pid)) throw new LockHeldError(file, holder, false);
    if (holder && holder.host !== me.host) throw new LockHeldError(file, holder, true);
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
  throw new Error(`could not take the lock ${file}: it keeps changing hands`);
}

export async function readLock(file: string): Promise<LockInfo | null> {
  try {
    return JSON.parse(await fsp.readFile(file, 'utf8')) as LockInfo;
  } catch {
    return null;
  }
}

/**
 * `acquireLock`, waiting up to `waitMs` for a live holder to finish (polling with jitter).
 * Gives up with the holder's LockHeldError.
 */
export async function waitForLock(file: string, command: string, waitMs: number): Promise<HeldLock> {
  const deadline = Date.now() + waitMs;
  for (let pause = 50; ; pause = Math.min(pause * 2, 1000)) {
    try {
      return await acquireLock(file, command);
    } catch (e) {
      if (!(e instanceof LockHeldError) || Date.now() + pause > deadline) throw e;
    }
    await new Promise((r) => setTimeout(r, pause / 2 + Math.random() * pause));
  }
}
