/**
 * File-system calls in bulk, made by a worker thread, off the main thread. Planning a large
 * up-to-date run looks at two names in every image folder of a local repository; on the main
 * thread those calls were a tenth of planning 10,000 images, while a worker makes them during
 * the main thread's own work (reading the manifest and the feed). Git's preloaded index does
 * the same with its lstats. (Stats of the cached images the same way did not pay: with two
 * cores, a second worker only took time from the main thread.)
 */
import { Worker } from 'node:worker_threads';

export const PathKind = { missing: 0, file: 1, folder: 2, link: 3, other: 4, error: 5 } as const;
export type PathKind = (typeof PathKind)[keyof typeof PathKind];

/** Run `code` (plain CommonJS, evaluated in the worker: the same from sources and from dist). */
function inWorker<T>(code: string, data: unknown): Promise<T> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(code, { eval: true, workerData: data });
    let answered = false;
    worker.once('message', (answer: T) => {
      answered = true;
      resolve(answer);
    });
    worker.once('error', reject);
    worker.once('exit', (code) => {
      if (!answered) reject(new Error(`the file-system worker stopped (exit ${code}) without an answer`));
    });
  });
}

const LSTAT_KINDS = `
const { parentPort, workerData } = require('node:worker_threads');
const { lstatSync } = require('node:fs');
const paths = workerData;
const kinds = new Uint8Array(paths.length);
for (let i = 0; i < paths.length; i++) {
  try {
    const st = lstatSync(paths[i], { throwIfNoEntry: false });
    kinds[i] = !st ? ${PathKind.missing} : st.isFile() ? ${PathKind.file} : st.isDirectory() ? ${PathKind.folder} : st.isSymbolicLink() ? ${PathKind.link} : ${PathKind.other};
  } catch {
    kinds[i] = ${PathKind.error};
  }
}
parentPort.postMessage(kinds, [kinds.buffer]);
`;

/** The kind of each path (without following a final symbolic link), in order. */
export function lstatKinds(paths: readonly string[]): Promise<Uint8Array> {
  return inWorker(LSTAT_KINDS, paths);
}
