/**
 * Robust fetching of the AstroPix feed and of the images it lists, over `http:`, `https:` and
 * `file:` (offline runs), with Node's global fetch.
 *
 * - Idle timeouts: the clock restarts whenever headers or body bytes arrive, so a big image on
 *   a slow but live link is fine while a stalled server is not.
 * - A deadline for the whole download (every attempt and back-off), so a server that trickles a
 *   byte now and then cannot hold a run forever: by default 2 minutes plus the time the body
 *   takes at 128 KiB/s (its Content-Length, or the bytes received so far when it announces
 *   none); `deadlineMs` sets a fixed one. An optional per-attempt total timeout also exists.
 * - Retries with exponential backoff (jittered, `Retry-After` honoured up to a cap) for 5xx,
 *   408, 429, connection failures/resets, timeouts and truncated bodies. Never for other 4xx,
 *   for content that is not an image, for oversized bodies, for a request the HTTP client
 *   refuses to make, or past the deadline: repeating would not help.
 * - Redirects (at most 5) are followed by hand so every hop can be checked: a redirect to
 *   another origin (scheme, host and port) is refused unless `allowCrossHostRedirects`, because
 *   images must come from where the feed says; the one exception is http -> https on the same
 *   host with default ports. https -> http is refused.
 * - URLs carrying a user name or password are refused (nothing would send them safely).
 * - Bodies are streamed with a size cap: an image goes to a temp file next to `dest` and is
 *   renamed into place only when complete and plausible (JPEG/PNG/TIFF magic number), so `dest`
 *   is never partial; `dest`'s folder is created only once there are bytes to write, and removed
 *   again if the download fails. The feed is collected in memory only up to its cap.
 * - Every failure is a ToastyError (`download` for images, `feed` for the feed) naming the URL
 *   and the HTTP status. Its message, library error text included, has credentials and
 *   signature-like query parameters redacted, and the raw library error is not attached.
 */
import { createReadStream, promises as fsp } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { ToastyError, type ErrorCode } from '../util/errors.js';
import { sniffImageFormat, type ImageFormat } from '../util/image-format.js';
import { silentLog, type Log } from '../util/log.js';
import { redactSecrets, redactUrl } from '../util/redact.js';
import { tempFileName, trackTemporary, untrackTemporary } from '../util/temporaries.js';

export { redactUrl };

export interface HttpOptions {
  /** Idle timeout in ms: longest wait for the connection, the headers or the next body bytes. */
  timeoutMs?: number;
  /** Optional cap on one whole attempt (connect to last byte), in ms. Default: none. */
  totalTimeoutMs?: number;
  /** Fixed deadline for the whole download, every attempt and back-off included, in ms. */
  deadlineMs?: number;
  /** Without `deadlineMs`: the deadline's fixed part (default 2 minutes)... */
  deadlineFloorMs?: number;
  /** ...plus the time the body takes at this rate (default 128 KiB/s). */
  minBytesPerSecond?: number;
  /** Retries after the first attempt (default 3). */
  retries?: number;
  /** First backoff delay in ms (default 250); doubles per retry, jittered to 50-100 %. */
  retryBaseMs?: number;
  /** Longest single backoff, including a server's Retry-After (default 30 s). */
  maxRetryDelayMs?: number;
  /** Largest accepted body in bytes (default 2 GiB for images, 200 MiB for the feed). */
  maxBytes?: number;
  /** Redirect hops followed before giving up (default 5). */
  maxRedirects?: number;
  /** Follow redirects to other host names (default false). */
  allowCrossHostRedirects?: boolean;
  /**
   * Accept `file:` URLs (default true, for offline runs). A caller reading a feed from the
   * network should pass false for the images it lists, so a feed cannot make toasty publish
   * local files.
   */
  allowFileUrls?: boolean;
  /** Cancels the transfer (no retry). */
  signal?: AbortSignal;
  /** Extra request headers. */
  headers?: Record<string, string>;
  log?: Log;
}

export const GiB = 1024 ** 3;
export const MiB = 1024 ** 2;

export const IMAGE_DEFAULTS = { timeoutMs: 60_000, maxBytes: 2 * GiB } as const;
export const FEED_DEFAULTS = { timeoutMs: 30_000, maxBytes: 200 * MiB } as const;
export const RETRY_DEFAULTS = { retries: 3, retryBaseMs: 250, maxRetryDelayMs: 30_000, maxRedirects: 5 } as const;
export const DEADLINE_DEFAULTS = { deadlineFloorMs: 120_000, minBytesPerSecond: 128 * 1024 } as const;

const USER_AGENT = 'toasty (WorldWide Telescope image ingest)';

export interface DownloadResult {
  bytes: number;
  contentType: string | null;
  /** Format detected from the first bytes. */
  format: ImageFormat;
  /** URL the bytes finally came from (after redirects). */
  url: string;
  /** Attempts made (1 = no retry). */
  attempts: number;
}

// ---------------------------------------------------------------------------------------------
// Small pure helpers

function describeBytes(n: number): string {
  if (n >= GiB) return `${(n / GiB).toFixed(1)} GiB`;
  if (n >= MiB) return `${(n / MiB).toFixed(1)} MiB`;
  return `${n} bytes`;
}

function hexHead(b: Uint8Array): string {
  return [...b.subarray(0, 8)].map((x) => x.toString(16).padStart(2, '0')).join(' ');
}

// ---------------------------------------------------------------------------------------------
// One attempt

/** Failure of one attempt; `retryable` decides whether another attempt may help. */
class AttemptError extends Error {
  constructor(
    message: string,
    readonly retryable: boolean,
    readonly retryAfterMs?: number,
    cause?: unknown,
    /** The HTTP status that failed the attempt, if one did. */
    readonly status?: number,
    /** No answer came (connection refused, DNS, timeout): the server was not reached. */
    readonly unreached = false,
  ) {
    super(message, cause === undefined ? undefined : { cause });
  }
}

/** Receives the body of one attempt. */
interface BodySink {
  write(chunk: Uint8Array): Promise<void>;
  /** Called once the body ended normally. */
  end(): Promise<void>;
}

type SinkFactory = (contentType: string | null) => Promise<BodySink>;

interface Resolved {
  timeoutMs: number;
  totalTimeoutMs?: number;
  deadlineMs?: number;
  deadlineFloorMs: number;
  minBytesPerSecond: number;
  retries: number;
  retryBaseMs: number;
  maxRetryDelayMs: number;
  maxBytes: number;
  maxRedirects: number;
  allowCrossHostRedirects: boolean;
  allowFileUrls: boolean;
  signal?: AbortSignal;
  headers: Record<string, string>;
  log: Log;
}

interface AttemptResult {
  bytes: number;
  contentType: string | null;
  url: string;
}

const RETRYABLE_STATUS = (s: number) => s >= 500 || s === 429 || s === 408;
/**
 * The deadline of one download, across its attempts. Without a fixed `deadlineMs` it grows with
 * the body: the floor plus the announced length (or the bytes received so far) at the minimum
 * rate, so a big image on a decent link has time while a trickle runs out of it.
 */
class Deadline {
  private readonly start = Date.now();
  private bytes = 0;

  constructor(private readonly o: Pick<Resolved, 'deadlineMs' | 'deadlineFloorMs' | 'minBytesPerSecond'>) {}

  /** The body is (at least) this long. */
  expect(bytes: number): void {
    if (bytes > this.bytes) this.bytes = bytes;
  }

  private allowedMs(): number {
    return this.o.deadlineMs ?? this.o.deadlineFloorMs + (this.bytes / this.o.minBytesPerSecond) * 1000;
  }

  remainingMs(): number {
    return this.start + this.allowedMs() - Date.now();
  }

  describe(): string {
    const s = (ms: number) => (ms < 10_000 ? `${Number((ms / 1000).toFixed(2))} s` : `${Math.round(ms / 1000)} s`);
    if (this.o.deadlineMs !== undefined) return `the download deadline of ${s(this.o.deadlineMs)}`;
    return `the download deadline of ${s(this.allowedMs())} (${s(this.o.deadlineFloorMs)} plus ${describeBytes(this.bytes)} at ${describeBytes(this.o.minBytesPerSecond)}/s)`;
  }
}

/** Network failures that repeating will not cure. */
const PERMANENT_NET = /^(ENOTFOUND|ERR_INVALID_URL|CERT_|ERR_TLS_|DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_)/;

function retryAfterMs(res: Response): number | undefined {
  const v = res.headers.get('retry-after');
  if (!v) return undefined;
  if (/^\d+$/.test(v.trim())) return Number(v.trim()) * 1000;
  const when = Date.parse(v);
  return Number.isNaN(when) ? undefined : Math.max(0, when - Date.now());
}

function networkCode(e: unknown): { code: string; message: string } {
  const err = e as { code?: string; message?: string; cause?: unknown };
  let cause = err?.cause as { code?: string; message?: string; errors?: Array<{ code?: string; message?: string }> } | undefined;
  if (cause?.errors?.length && !cause.code) cause = cause.errors[0];
  const code = cause?.code ?? err?.code ?? '';
  const message = cause?.message ?? err?.message ?? String(e);
  return { code, message };
}

/**
 * Whether a redirect may go to `next`: the same origin (scheme, host and port) as the URL the
 * download started from, or its https upgrade on the default ports.
 */
function sameOrigin(next: URL, start: URL): boolean {
  if (next.origin === start.origin) return true;
  return start.protocol === 'http:' && next.protocol === 'https:' && next.hostname === start.hostname && start.port === '' && next.port === '';
}

async function attemptHttp(startUrl: string, o: Resolved, deadline: Deadline, makeSink: SinkFactory): Promise<AttemptResult> {
  const ac = new AbortController();
  const signal = o.signal ? AbortSignal.any([ac.signal, o.signal]) : ac.signal;
  let timedOut: string | null = null;
  let pastDeadline = false;
  let idle: NodeJS.Timeout | undefined;
  let deadlineTimer: NodeJS.Timeout | undefined;
  // Checked when it may have passed; the deadline can have moved on meanwhile (more bytes).
  const armDeadline = () => {
    const left = deadline.remainingMs();
    if (left <= 0) {
      pastDeadline = true;
      ac.abort();
      return;
    }
    deadlineTimer = setTimeout(armDeadline, Math.min(left, 2 ** 31 - 1));
  };
  const arm = () => {
    clearTimeout(idle);
    idle = setTimeout(() => {
      timedOut = `no response for ${o.timeoutMs} ms`;
      ac.abort();
    }, o.timeoutMs);
  };
  const total =
    o.totalTimeoutMs === undefined
      ? undefined
      : setTimeout(() => {
          timedOut = `transfer took longer than ${o.totalTimeoutMs} ms`;
          ac.abort();
        }, o.totalTimeoutMs);

  const origin = new URL(startUrl);
  let url = startUrl;
  let phase: 'connect' | 'body' = 'connect';
  let received = 0;
  let expected: number | null = null;
  try {
    armDeadline();
    arm();
    let res: Response;
    for (let hop = 0; ; hop++) {
      res = await fetch(url, { redirect: 'manual', signal, headers: o.headers });
      arm();
      if (![301, 302, 303, 307, 308].includes(res.status)) break;
      await res.body?.cancel().catch(() => {});
      const location = res.headers.get('location');
      if (!location) throw new AttemptError(`HTTP ${res.status} redirect without a Location header`, false);
      if (hop >= o.maxRedirects) throw new AttemptError(`more than ${o.maxRedirects} redirects`, false);
      const next = new URL(location, url);
      if (next.protocol !== 'http:' && next.protocol !== 'https:') {
        throw new AttemptError(`refused redirect to ${redactUrl(next.href)} (only http/https allowed)`, false);
      }
      if (new URL(url).protocol === 'https:' && next.protocol === 'http:') {
        throw new AttemptError(`refused redirect from https to plain http (${redactUrl(next.href)})`, false);
      }
      if (!o.allowCrossHostRedirects && next.hostname !== origin.hostname) {
        throw new AttemptError(
          `refused redirect to another host (${next.host}); images must come from the host the feed names (allowCrossHostRedirects permits this)`,
          false,
        );
      }
      if (!o.allowCrossHostRedirects && !sameOrigin(next, origin)) {
        throw new AttemptError(
          `refused redirect to another origin (${next.origin}): same host, but another port or scheme than the feed names (allowCrossHostRedirects permits this)`,
          false,
        );
      }
      o.log.debug(`redirect ${redactUrl(url)} -> ${redactUrl(next.href)}`);
      url = next.href;
    }

    const contentType = res.headers.get('content-type');
    if (!res.ok) {
      await res.body?.cancel().catch(() => {});
      const text = `HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ''}`;
      throw new AttemptError(text, RETRYABLE_STATUS(res.status), retryAfterMs(res), undefined, res.status);
    }
    const encoding = (res.headers.get('content-encoding') ?? 'identity').toLowerCase();
    const lengthHeader = res.headers.get('content-length');
    if (lengthHeader !== null && encoding === 'identity' && /^\d+$/.test(lengthHeader)) expected = Number(lengthHeader);
    if (expected !== null && expected > o.maxBytes) {
      throw new AttemptError(`body is ${describeBytes(expected)}, over the ${describeBytes(o.maxBytes)} limit`, false);
    }
    if (expected !== null) deadline.expect(expected);

    const sink = await makeSink(contentType);
    phase = 'body';
    if (res.body) {
      for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
        arm();
        received += chunk.byteLength;
        deadline.expect(received);
        if (received > o.maxBytes) {
          throw new AttemptError(`body exceeds the ${describeBytes(o.maxBytes)} limit`, false);
        }
        await sink.write(chunk);
      }
    }
    if (expected !== null && received < expected) {
      throw new AttemptError(`truncated download: got ${received} of ${expected} bytes`, true);
    }
    await sink.end();
    return { bytes: received, contentType, url };
  } catch (e) {
    if (e instanceof AttemptError) throw e;
    if (o.signal?.aborted) throw new AttemptError('cancelled', false, undefined, e);
    if (pastDeadline) {
      const of = expected === null ? '' : ` of ${expected}`;
      throw new AttemptError(`took longer than ${deadline.describe()}, after ${received}${of} bytes`, false, undefined, undefined, undefined, true);
    }
    if (timedOut) {
      const where = phase === 'body' ? ` after ${received} bytes` : '';
      throw new AttemptError(`timed out (${timedOut}${where})`, true, undefined, e, undefined, true);
    }
    // The HTTP client refused to make the request at all (a TypeError with no network cause):
    // the same request would be refused again.
    if (e instanceof TypeError && (e as { cause?: unknown }).cause === undefined) {
      throw new AttemptError(`request not made (${e.message})`, false);
    }
    const { code, message } = networkCode(e);
    if (phase === 'body') {
      const of = expected === null ? '' : ` of ${expected}`;
      throw new AttemptError(`truncated download: connection closed after ${received}${of} bytes (${message})`, true, undefined, e);
    }
    const detail = code ? `${code}: ${message}` : message;
    throw new AttemptError(`connection failed (${detail})`, !PERMANENT_NET.test(code) && message !== 'bad port', undefined, e, undefined, true);
  } finally {
    clearTimeout(idle);
    clearTimeout(total);
    clearTimeout(deadlineTimer);
    ac.abort(); // releases the socket if we stopped reading early
  }
}

async function attemptFile(url: string, o: Resolved, makeSink: SinkFactory): Promise<AttemptResult> {
  let file: string;
  try {
    file = fileURLToPath(url);
  } catch (e) {
    throw new AttemptError(`not a local file URL (${(e as Error).message})`, false, undefined, e);
  }
  let size: number;
  try {
    const st = await fsp.stat(file);
    if (!st.isFile()) throw new AttemptError(`${file} is not a regular file`, false);
    size = st.size;
  } catch (e) {
    if (e instanceof AttemptError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    throw new AttemptError(code === 'ENOENT' ? `file not found: ${file}` : `cannot read ${file} (${code ?? e})`, false, undefined, e);
  }
  if (size > o.maxBytes) {
    throw new AttemptError(`file is ${describeBytes(size)}, over the ${describeBytes(o.maxBytes)} limit`, false);
  }
  const sink = await makeSink(null);
  let received = 0;
  try {
    for await (const chunk of createReadStream(file, { signal: o.signal }) as AsyncIterable<Buffer>) {
      received += chunk.byteLength;
      if (received > o.maxBytes) throw new AttemptError(`file exceeds the ${describeBytes(o.maxBytes)} limit`, false);
      await sink.write(chunk);
    }
  } catch (e) {
    if (e instanceof AttemptError) throw e;
    if (o.signal?.aborted) throw new AttemptError('cancelled', false, undefined, e);
    throw new AttemptError(`cannot read ${file} (${(e as Error).message})`, false, undefined, e);
  }
  await sink.end();
  return { bytes: received, contentType: null, url };
}

// ---------------------------------------------------------------------------------------------
// Retry loop

function resolveOptions(opts: HttpOptions, kind: typeof IMAGE_DEFAULTS | typeof FEED_DEFAULTS, accept: string): Resolved {
  return {
    timeoutMs: opts.timeoutMs ?? kind.timeoutMs,
    totalTimeoutMs: opts.totalTimeoutMs,
    deadlineMs: opts.deadlineMs,
    deadlineFloorMs: opts.deadlineFloorMs ?? DEADLINE_DEFAULTS.deadlineFloorMs,
    minBytesPerSecond: opts.minBytesPerSecond ?? DEADLINE_DEFAULTS.minBytesPerSecond,
    retries: opts.retries ?? RETRY_DEFAULTS.retries,
    retryBaseMs: opts.retryBaseMs ?? RETRY_DEFAULTS.retryBaseMs,
    maxRetryDelayMs: opts.maxRetryDelayMs ?? RETRY_DEFAULTS.maxRetryDelayMs,
    maxBytes: opts.maxBytes ?? kind.maxBytes,
    maxRedirects: opts.maxRedirects ?? RETRY_DEFAULTS.maxRedirects,
    allowCrossHostRedirects: opts.allowCrossHostRedirects ?? false,
    allowFileUrls: opts.allowFileUrls ?? true,
    signal: opts.signal,
    headers: { 'user-agent': USER_AGENT, accept, ...opts.headers },
    log: opts.log ?? silentLog,
  };
}

/**
 * Run attempts until one succeeds or a failure is final. Each attempt asks `makeSink` for a
 * fresh body sink once it has a successful response (the image download starts a new temp file).
 */
async function withRetries(url: string, o: Resolved, code: ErrorCode, what: string, makeSink: SinkFactory): Promise<AttemptResult & { attempts: number }> {
  const shown = redactUrl(url);
  // Library error text can quote the URL with its secrets: the message is redacted as a whole,
  // and the raw error is not attached.
  const fail = (message: string, httpStatus?: number, unreachable?: boolean) =>
    new ToastyError(code, redactSecrets(`${what} ${shown}: ${message}`), { httpStatus, unreachable });
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw fail('not an absolute URL');
  }
  if (parsed.username || parsed.password) {
    throw fail('the URL carries a user name or password, which toasty does not send; give a URL without credentials');
  }
  const isFile = parsed.protocol === 'file:';
  if (isFile && !o.allowFileUrls) throw fail('file: URLs are not allowed here');
  if (!isFile && parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw fail(`unsupported URL scheme ${parsed.protocol} (use http, https or file)`);
  }

  const deadline = new Deadline(o);
  for (let attempt = 1; ; attempt++) {
    try {
      const r = isFile ? await attemptFile(url, o, makeSink) : await attemptHttp(url, o, deadline, makeSink);
      return { ...r, attempts: attempt };
    } catch (e) {
      const a = e instanceof AttemptError ? e : new AttemptError((e as Error)?.message ?? String(e), false, undefined, e);
      const retriesLeft = o.retries - (attempt - 1);
      const tries = attempt > 1 ? ` (gave up after ${attempt} attempts)` : '';
      // An error status or no answer at all: the URL could not be read (not: it said something wrong).
      const unreachable = a.status !== undefined || a.unreached;
      if (!a.retryable || retriesLeft <= 0 || o.signal?.aborted) throw fail(`${a.message}${tries}`, a.status, unreachable);
      const backoff = o.retryBaseMs * 2 ** (attempt - 1) * (0.5 + Math.random() / 2);
      const delay = Math.min(o.maxRetryDelayMs, Math.max(backoff, a.retryAfterMs ?? 0));
      if (!isFile && delay >= deadline.remainingMs()) throw fail(`${a.message}${tries}; no time left before ${deadline.describe()}`, a.status, unreachable);
      o.log.debug(redactSecrets(`${what} ${shown}: ${a.message}; retrying in ${Math.round(delay)} ms (${retriesLeft} left)`));
      try {
        await sleep(delay, undefined, { signal: o.signal });
      } catch {
        throw fail('cancelled');
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Public API

/** Fetch the feed as text (UTF-8), streamed with a size cap. Errors are ToastyError `feed`. */
export async function fetchFeedText(url: string, opts: HttpOptions = {}): Promise<string> {
  const o = resolveOptions(opts, FEED_DEFAULTS, 'application/json, */*;q=0.5');
  let chunks: Uint8Array[] = [];
  const r = await withRetries(url, o, 'feed', 'feed', async () => {
    chunks = [];
    return {
      write: async (c) => void chunks.push(c),
      end: async () => {},
    };
  });
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(Buffer.concat(chunks));
  } catch {
    throw new ToastyError('feed', `feed ${redactUrl(r.url)}: body is not valid UTF-8 text`);
  }
}

/**
 * Fetch a page as UTF-8 text (streamed with the feed's size cap, gzip accepted), or null when
 * the server answers 404: the end of a paged listing, or an item that is not there. Other
 * failures are ToastyError `code` starting `<what> <url>:`.
 */
export async function fetchPage(url: string, opts: HttpOptions & { code: ErrorCode; what: string; accept: string }): Promise<string | null> {
  const o = resolveOptions(opts, FEED_DEFAULTS, opts.accept);
  let chunks: Uint8Array[] = [];
  let r: AttemptResult;
  try {
    r = await withRetries(url, o, opts.code, opts.what, async () => {
      chunks = [];
      return {
        write: async (c) => void chunks.push(c),
        end: async () => {},
      };
    });
  } catch (e) {
    if (e instanceof ToastyError && e.httpStatus === 404) return null;
    throw e;
  }
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(Buffer.concat(chunks));
  } catch (e) {
    throw new ToastyError(opts.code, `${opts.what} ${redactUrl(r.url)}: body is not valid UTF-8 text`, { cause: e });
  }
}

/**
 * Download an image to `dest`. The body goes to a temp file beside `dest`, must start with a
 * JPEG, PNG or TIFF magic number, and is renamed into place only when complete; on any failure
 * `dest` is left as it was and the temp file is removed. `dest`'s folder is created when the
 * first response worth writing arrives, and removed again if the download then fails, so a
 * feed of records that all fail leaves no empty folders behind.
 */
export async function downloadImage(url: string, dest: string, opts: HttpOptions = {}): Promise<DownloadResult> {
  const o = resolveOptions(opts, IMAGE_DEFAULTS, 'image/jpeg, image/png, image/tiff, image/*;q=0.8, */*;q=0.1');
  // Ask for the bytes as stored, so Content-Length can detect truncation.
  o.headers = { 'accept-encoding': 'identity', ...o.headers };
  const dir = path.dirname(dest);
  const tmp = tempFileName(dest, 'part');
  let madeDir = false;

  let fh: fsp.FileHandle | null = null;
  let format: ImageFormat | null = null;
  const closeTmp = async () => {
    const h = fh;
    fh = null;
    await h?.close().catch(() => {});
  };

  const makeSink: SinkFactory = async (contentType) => {
    await closeTmp();
    if (!madeDir) madeDir = (await fsp.mkdir(dir, { recursive: true })) !== undefined;
    trackTemporary(tmp);
    fh = await fsp.open(tmp, 'w');
    format = null;
    let head = Buffer.alloc(0);
    const check = (final: boolean) => {
      if (format !== null || (head.length < 8 && !final)) return;
      format = sniffImageFormat(head);
      if (format !== null) return;
      const ct = contentType ? ` (Content-Type ${contentType})` : '';
      const text = head.toString('latin1').trimStart();
      let why: string;
      if (head.length === 0) why = `server returned an empty body, not an image${ct}`;
      else if (text.startsWith('<')) why = `server returned HTML, not an image${ct}`;
      else if (text.startsWith('{') || text.startsWith('[')) why = `server returned JSON, not an image${ct}`;
      else why = `content is not a JPEG, PNG or TIFF image${ct}; first bytes ${hexHead(head)}`;
      throw new AttemptError(why, false);
    };
    return {
      async write(chunk) {
        if (format === null) {
          head = Buffer.concat([head, chunk.subarray(0, 16)]);
          check(false);
        }
        await fh!.write(chunk);
      },
      async end() {
        check(true);
        await fh!.sync();
      },
    };
  };

  let done = false;
  try {
    const r = await withRetries(url, o, 'download', 'download', makeSink);
    await closeTmp();
    await fsp.rename(tmp, dest);
    done = true;
    return { bytes: r.bytes, contentType: r.contentType, format: format!, url: r.url, attempts: r.attempts };
  } finally {
    await closeTmp();
    await fsp.rm(tmp, { force: true }).catch(() => {});
    untrackTemporary(tmp);
    // Only the folder this download created, and only if nothing else was put there meanwhile.
    if (!done && madeDir) await fsp.rmdir(dir).catch(() => {});
  }
}
