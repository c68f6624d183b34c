/**
 * Where `toasty tile-study` may write, and how it puts a finished study in place without ever
 * deleting what toasty did not write.
 *
 * OUTDIR may be:
 *   - new: the study is built in a temporary sibling folder and renamed into place;
 *   - an empty folder: used as it is (same folder, mode and owner; it may be the current
 *     directory), the study built in a hidden temporary folder inside it and moved in;
 *   - a previous study, only with --force: a folder holding nothing but a `.toasty-study.json`
 *     marker and the files that marker lists. Those files are replaced; nothing else exists
 *     there to touch.
 * Anything else (other files, subfolders, an input image inside OUTDIR) is refused with a usage
 * error saying why. The marker is written with every study; while a previous study is being
 * replaced it lists the old and the new files, so an interrupted replacement is still
 * recognised as a study by the next --force.
 */
import { type Dirent, promises as fsp } from 'node:fs';
import path from 'node:path';
import { ToastyError } from '../util/errors.js';
import { makeSiblingTempDir, removeTempDir, writeFileAtomic } from '../util/fs.js';
import { sweepStaleTemporaries, tempDirName, trackTemporary, untrackTemporary } from '../util/temporaries.js';

/** The marker toasty writes into every study folder: `{"toasty": "study", "files": [...]}`. */
export const STUDY_MARKER = '.toasty-study.json';

export interface StudyOutdir {
  /** The folder as given, resolved (for messages). */
  readonly path: string;
  /** Temporary folder to write the study into; only its non-hidden files are installed. */
  readonly dir: string;
  /** Put the finished study in place, marker included. */
  commit(): Promise<void>;
  /** Remove the temporary folder after a failure; OUTDIR is left as it was. */
  abort(): Promise<void>;
}

const usage = (message: string) => new ToastyError('usage', message, { field: 'OUTDIR' });

/** A plain file name a marker may list: no path, not hidden. */
const PLAIN_NAME = /^[^./\\\0][^/\\\0]*$/;

async function readMarker(dir: string): Promise<string[] | null> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(await fsp.readFile(path.join(dir, STUDY_MARKER), 'utf8'));
  } catch {
    return null;
  }
  const m = parsed as { toasty?: unknown; files?: unknown };
  if (!m || typeof m !== 'object' || m.toasty !== 'study' || !Array.isArray(m.files)) return null;
  if (!m.files.every((f): f is string => typeof f === 'string' && PLAIN_NAME.test(f))) return null;
  return m.files;
}

const markerText = (files: Iterable<string>) => `${JSON.stringify({ toasty: 'study', files: [...new Set(files)].sort() }, null, 1)}\n`;

function describeEntries(entries: Dirent[]): string {
  const names = entries.map((e) => (e.isDirectory() ? `${e.name}/` : e.name)).sort();
  const shown = names.slice(0, 3).join(', ');
  return names.length > 3 ? `${shown} and ${names.length - 3} more` : shown;
}

const inside = (p: string, dir: string) => p === dir || p.startsWith(dir.endsWith(path.sep) ? dir : dir + path.sep);

/** Non-hidden entries of the finished temporary folder: the study's files. */
async function studyFiles(dir: string): Promise<string[]> {
  return (await fsp.readdir(dir)).filter((n) => !n.startsWith('.')).sort();
}

/**
 * Check OUTDIR (see the file comment) and return where to build the study. Throws a usage
 * error (exit status 2) naming OUTDIR and the reason when it may not be written.
 */
export async function openStudyOutdir(outdirArg: string, image: string, opts: { force?: boolean } = {}): Promise<StudyOutdir> {
  const outdir = path.resolve(outdirArg);
  const st = await fsp.stat(outdir).catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') return null;
    throw usage(`OUTDIR ${outdir} cannot be used: ${e.message}`);
  });
  // A dangling symbolic link would be replaced by the new folder: not toasty's to remove.
  if (st === null && (await fsp.lstat(outdir).catch(() => null))) throw usage(`OUTDIR ${outdir} is a symbolic link to nothing`);

  if (st === null) {
    const tmp = await makeSiblingTempDir(outdir);
    return {
      path: outdir,
      dir: tmp,
      async commit() {
        await writeFileAtomic(path.join(tmp, STUDY_MARKER), markerText(await studyFiles(tmp)));
        try {
          await fsp.rename(tmp, outdir);
        } catch (e) {
          const code = (e as NodeJS.ErrnoException).code;
          if (code === 'EEXIST' || code === 'ENOTEMPTY') throw usage(`OUTDIR ${outdir} was created by someone else while the study was being made`);
          throw e;
        }
        untrackTemporary(tmp);
      },
      abort: () => removeTempDir(tmp),
    };
  }

  if (!st.isDirectory()) throw usage(`OUTDIR ${outdir} exists and is not a folder`);
  const real = await fsp.realpath(outdir);
  const imageReal = await fsp.realpath(image).catch(() => path.resolve(image));
  if (inside(imageReal, real)) {
    throw usage(`the input ${image} is inside OUTDIR ${outdir}: toasty never writes where its input lives; choose another OUTDIR`);
  }
  // Leftovers of an interrupted tile-study into this folder (their process is gone).
  await sweepStaleTemporaries(real);
  const entries = await fsp.readdir(real, { withFileTypes: true });
  let previous: string[] = [];
  if (entries.length > 0) {
    const listed = await readMarker(real);
    if (listed === null) {
      throw usage(
        `OUTDIR ${outdir} is not empty and is not a toasty study (it holds ${describeEntries(entries)}): ` +
          'tile-study writes only into a new or empty folder, or replaces a previous study with --force',
      );
    }
    const known = new Set(listed);
    const foreign = entries.filter((e) => e.name !== STUDY_MARKER && !(e.isFile() && known.has(e.name)));
    if (foreign.length > 0) {
      throw usage(
        `OUTDIR ${outdir} holds a toasty study but also ${describeEntries(foreign)}, which toasty did not write: move them away or choose another OUTDIR`,
      );
    }
    if (!opts.force) throw usage(`OUTDIR ${outdir} holds a previous toasty study: add --force to replace it`);
    previous = entries.filter((e) => e.isFile() && known.has(e.name)).map((e) => e.name);
  }

  // Built inside OUTDIR, so the files can be renamed in and OUTDIR itself stays as it is.
  const tmp = tempDirName(path.join(real, 'study'));
  trackTemporary(tmp);
  await fsp.mkdir(tmp);
  return {
    path: outdir,
    dir: tmp,
    async commit() {
      const files = await studyFiles(tmp);
      const marker = path.join(real, STUDY_MARKER);
      // Old and new files until the swap is done: an interruption leaves a recognisable study.
      await writeFileAtomic(marker, markerText([...previous, ...files]));
      const keep = new Set(files);
      for (const name of previous) if (!keep.has(name)) await fsp.rm(path.join(real, name), { force: true });
      for (const name of files) await fsp.rename(path.join(tmp, name), path.join(real, name));
      await writeFileAtomic(marker, markerText(files));
      await removeTempDir(tmp);
    },
    abort: () => removeTempDir(tmp),
  };
}
