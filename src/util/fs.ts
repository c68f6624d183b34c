/**
 * Atomic file helpers: every file toasty writes goes to a temporary name in the same folder
 * and is renamed into place, so a reader (or a crash) never sees a half-written file.
 */
import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import path from 'node:path';

function tempNameFor(target: string): string {
  return path.join(path.dirname(target), `.${path.basename(target)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
}

/** Write `data` to `target` atomically (temp file + fsync + rename in the same folder). */
export async function writeFileAtomic(target: string, data: string | Uint8Array): Promise<void> {
  await fsp.mkdir(path.dirname(target), { recursive: true });
  const tmp = tempNameFor(target);
  const fh = await fsp.open(tmp, 'w');
  try {
    await fh.writeFile(data);
    await fh.sync();
  } catch (e) {
    await fh.close().catch(() => {});
    await fsp.rm(tmp, { force: true });
    throw e;
  }
  await fh.close();
  try {
    await fsp.rename(tmp, target);
  } catch (e) {
    await fsp.rm(tmp, { force: true });
    throw e;
  }
}

/** Copy a file atomically (copy to a temp name, then rename). */
export async function copyFileAtomic(src: string, target: string): Promise<void> {
  await fsp.mkdir(path.dirname(target), { recursive: true });
  const tmp = tempNameFor(target);
  try {
    await fsp.copyFile(src, tmp);
    await fsp.rename(tmp, target);
  } catch (e) {
    await fsp.rm(tmp, { force: true });
    throw e;
  }
}

/** A fresh temporary folder next to `target` (same filesystem, so it can be renamed into place). */
export async function makeSiblingTempDir(target: string): Promise<string> {
  const parent = path.dirname(target);
  await fsp.mkdir(parent, { recursive: true });
  return fsp.mkdtemp(path.join(parent, `.${path.basename(target)}.tmp-`));
}

/**
 * Replace folder `target` with the finished folder `tempDir` (both in the same parent).
 * The old folder, if any, is moved aside first and removed after the swap.
 */
export async function replaceDir(tempDir: string, target: string): Promise<void> {
  let aside: string | null = null;
  if (await exists(target)) {
    aside = `${tempDir}.old`;
    await fsp.rename(target, aside);
  }
  await fsp.rename(tempDir, target);
  if (aside) await fsp.rm(aside, { recursive: true, force: true });
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
