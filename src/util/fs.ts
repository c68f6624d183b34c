/**
 * Atomic file helpers: every file toasty writes goes to a temporary name in the same folder
 * and is renamed into place, so a reader (or a crash) never sees a half-written file. The
 * temporaries are named and tracked by util/temporaries.ts: a signal removes them, and a
 * later run sweeps those of a killed process.
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { tempDirName, tempFileName, trackTemporary, untrackTemporary } from './temporaries.js';

/** Write `data` to `target` atomically (temp file + fsync + rename in the same folder). */
export async function writeFileAtomic(target: string, data: string | Uint8Array): Promise<void> {
  await fsp.mkdir(path.dirname(target), { recursive: true });
  const tmp = tempFileName(target, 'tmp');
  trackTemporary(tmp);
  try {
    const fh = await fsp.open(tmp, 'w');
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await fsp.rename(tmp, target);
  } catch (e) {
    await fsp.rm(tmp, { force: true });
    throw e;
  } finally {
    untrackTemporary(tmp);
  }
}

/** Copy a file atomically (copy to a temp name, then rename). */
export async function copyFileAtomic(src: string, target: string): Promise<void> {
  await fsp.mkdir(path.dirname(target), { recursive: true });
  const tmp = tempFileName(target, 'tmp');
  trackTemporary(tmp);
  try {
    await fsp.copyFile(src, tmp);
    await fsp.rename(tmp, target);
  } catch (e) {
    await fsp.rm(tmp, { force: true });
    throw e;
  } finally {
    untrackTemporary(tmp);
  }
}

/**
 * A fresh temporary folder next to `target` (same filesystem, so it can be renamed into place),
 * tracked until `replaceDir` renames it or it is removed. Created like any folder (the umask
 * decides its mode, usually 0755), because it becomes `target`.
 */
export async function makeSiblingTempDir(target: string): Promise<string> {
  const parent = path.dirname(target);
  await fsp.mkdir(parent, { recursive: true });
  const dir = tempDirName(target);
  trackTemporary(dir);
  await fsp.mkdir(dir);
  return dir;
}

/**
 * Replace folder `target` with the finished folder `tempDir` (both in the same parent).
 * The old folder, if any, is moved aside first and removed after the swap.
 */
export async function replaceDir(tempDir: string, target: string): Promise<void> {
  let aside: string | null = null;
  if (await exists(target)) {
    aside = `${tempDir}.old`;
    trackTemporary(aside);
    await fsp.rename(target, aside);
  }
  await fsp.rename(tempDir, target);
  untrackTemporary(tempDir);
  if (aside) {
    await fsp.rm(aside, { recursive: true, force: true });
    untrackTemporary(aside);
  }
}

/** Remove a temporary folder made by `makeSiblingTempDir` (after a failure) and stop tracking it. */
export async function removeTempDir(tempDir: string): Promise<void> {
  await fsp.rm(tempDir, { recursive: true, force: true });
  untrackTemporary(tempDir);
}

export async function exists(p: string): Promise<boolean> {
  try {
    await fsp.access(p);
    return true;
  } catch {
    return false;
  }
}

/** Move a file, creating the destination folder; falls back to copy+unlink across devices. */
export async function moveFile(src: string, dest: string): Promise<void> {
  await fsp.mkdir(path.dirname(dest), { recursive: true });
  try {
    await fsp.rename(src, dest);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EXDEV') throw e;
    await copyFileAtomic(src, dest);
    await fsp.rm(src, { force: true });
  }
}
