/**
 * Bounded concurrency: an async function over many items with at most `limit` calls in flight.
 * Uploads, repository probes and tile encodes all need it; one helper gives them the same
 * rules for pulling items and for stopping on failure.
 */

export interface ForEachLimitOptions {
  /** When aborted, no new call starts; the calls in flight finish, then the abort reason is thrown. */
  signal?: AbortSignal;
}

/**
 * Call `fn` on every item, at most `limit` (at least 1) at a time. Items are pulled one at a
 * time as a call finishes, so a generator is only read as fast as the work goes and may
 * produce items lazily. On the first failure, of `fn` or of the iterator, no new call starts;
 * the calls in flight finish, then that first error is thrown. An iterator left unfinished is
 * closed (`return()`), so a generator's `finally` runs.
 */
export async function forEachLimit<T>(
  items: Iterable<T> | AsyncIterable<T>,
  limit: number,
  fn: (item: T) => Promise<void> | void,
  opts: ForEachLimitOptions = {},
): Promise<void> {
  const iter: AsyncIterator<T> | Iterator<T> = Symbol.asyncIterator in items ? items[Symbol.asyncIterator]() : items[Symbol.iterator]();
  // The first error, if any. An array rather than a nullable variable: TypeScript's narrowing
  // does not see assignments made inside the workers.
  const failure: unknown[] = [];
  const fail = (e: unknown) => {
    if (failure.length === 0) failure.push(e);
  };
  const halted = () => failure.length > 0 || opts.signal?.aborted === true;
  let exhausted = false;

  const worker = async () => {
    while (!exhausted && !halted()) {
      let item: T;
      try {
        const r = await iter.next();
        if (r.done) {
          exhausted = true;
          return;
        }
        item = r.value;
      } catch (e) {
        fail(e);
        return;
      }
      // Another call may have failed while this one waited for its item (the end of the items
      // reached meanwhile is no reason to drop it).
      if (halted()) return;
      try {
        await fn(item);
      } catch (e) {
        fail(e);
        return;
      }
    }
  };

  await Promise.all(Array.from({ length: Math.max(1, Math.floor(limit)) }, worker));
  if (!exhausted) {
    try {
      await iter.return?.();
    } catch {
      // Already stopping for another reason, which is the one worth reporting.
    }
  }
  if (failure.length > 0) throw failure[0];
  opts.signal?.throwIfAborted();
}
