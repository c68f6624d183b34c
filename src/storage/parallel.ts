/**
 * Upload many items with a bounded number in flight. Publishing a study is thousands of small
 * tiles; on Azure each is a round trip, so a handful at once is what makes it fast.
 */
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
  const width = Math.max(1, Math.floor(concurrency));
  const iter: AsyncIterator<PutItem> | Iterator<PutItem> =
    Symbol.asyncIterator in items ? items[Symbol.asyncIterator]() : items[Symbol.iterator]();
  let failed: { error: unknown } | null = null;
  let done = 0;
  let exhausted = false;

  const next = async (): Promise<PutItem | null> => {
    if (exhausted || failed || opts.signal?.aborted) return null;
    const r = await iter.next();
    if (r.done) {
      exhausted = true;
      return null;
    }
    return r.value;
  };

  const worker = async () => {
    for (let item = await next(); item; item = await next()) {
      try {
        const { path, data, file, ...putOpts } = item;
        if ((data === undefined) === (file === undefined)) {
          throw new TypeError(`putMany item ${path}: give exactly one of data or file`);
        }
        if (file !== undefined) await repo.putFile(path, file, putOpts);
        else await repo.put(path, data!, putOpts);
        done++;
        await opts.onDone?.(item);
      } catch (e) {
        if (!failed) failed = { error: e };
        return;
      }
    }
  };

  await Promise.all(Array.from({ length: width }, worker));
  if (failed) throw (failed as { error: unknown }).error;
  opts.signal?.throwIfAborted();
  return done;
}
