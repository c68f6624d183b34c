/**
 * What many paths are, found by a worker thread: an lstat per path, off the main thread. A run
 * over a large local repository checks two names in every image folder; on the main thread
 * those calls were a tenth of planning 10,000 images, while in a worker they overlap with the
 * main thread's own work (reading the manifest and the feed). Git's preloaded index does the
 * same with its lstats.
 */
import { Worker } from 'node:worker_threads';

export const PathKind = { missing: 0, file: 1, folder: 2, link: 3, other: 4, error: 5 } as const;
export type PathKind = (typeof PathKind)[keyof typeof PathKind];

// Plain JavaScript, evaluated in the worker (so it runs the same from sources and from dist).
const WORKER = `
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
  return new Promise((resolve, reject) => {
    const worker = new Worker(WORKER, { eval: true, workerData: paths });
    let answered = false;
    worker.once('message', (kinds: Uint8Array) => {
      answered = true;
      resolve(kinds);
    });
    worker.once('error', reject);
    worker.once('exit', (code) => {
      if (!answered) reject(new Error(`the lstat worker stopped (exit ${code}) without an answer`));
    });
  });
}
