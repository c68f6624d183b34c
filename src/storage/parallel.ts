/**
 * Upload many items with a bounded number in flight. Publishing a study is thousands of small
 * tiles; on Azure each is a round trip, so a handful at once is what makes it fast.
 */
import { forEachLimit } from '../util/pool.js';
import type { PutOptions, Repository } from './types.js';

export interface PutItem extends PutOptions {
  /** Item path in the repository. */
  path: string;
  /** Contents, or... */
  data?: Buffer | string;
  /** ...a local file to upload (exactly one of `data` / `file`). */
  file?: string;
}

export interface PutManyOptions {
  /** Called after each successful upload (progress, moving the file to out_done...). */
  onDone?: (item: PutItem) => void | Promise<void>;
  /** Stop starting new uploads when aborted. */
  signal?: AbortSignal;
}

/**
 * Upload `items` with at most `concurrency` at once. On the first failure no new upload starts;
 * the ones in flight finish, then that first error is thrown. Returns the number uploaded.
 */
export async function putMany(
  repo: Repository,
  items: Iterable<PutItem> | AsyncIterable<PutItem>,
  concurrency = 16,
  opts: PutManyOptions = {},
): Promise<number> {
  let done = 0;
  await forEachLimit(
    items,
    concurrency,
    async (item) => {
      const { path, data, file, ...putOpts } = item;
      if (file !== undefined && data === undefined) await repo.putFile(path, file, putOpts);
      else if (data !== undefined && file === undefined) await repo.put(path, data, putOpts);
      else throw new TypeError(`putMany item ${path}: give exactly one of data or file`);
      done++;
      await opts.onDone?.(item);
    },
    { signal: opts.signal },
  );
  return done;
}
