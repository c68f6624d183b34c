/**
 * Repository in an Azure Blob Storage container (`--azure-conn-env=VAR --azure-container=NAME
 * [--azure-path-prefix=P]`). Blob name = prefix segments + item path, joined with '/', with no
 * leading '/' (the 2020 code wrote one for an empty prefix).
 *
 * Secrets: SDK errors can carry request URLs with SAS query strings and the connection string
 * holds the account key. Every error leaving this file is a fresh ToastyError built from
 * scrubbed text; the raw SDK error is never attached.
 */
import { createHash } from 'node:crypto';
import { BlobServiceClient, type ContainerClient, type StoragePipelineOptions } from '@azure/storage-blob';
import { ToastyError } from '../util/errors.js';
import { contentTypeFor } from './content-type.js';
import { md5OfFile } from './local.js';
import {
  byName,
  checkMeta,
  folderSegments,
  itemPathSegments,
  type ProbeOptions,
  probeEachFolder,
  probeNames,
  type PutOptions,
  type RepoEntry,
  type Repository,
  type RepoStat,
  LOCK_WAIT_MS,
} from './types.js';

export interface AzureRetryOptions {
  /** Attempts per request, including the first (default 4). */
  maxTries?: number;
  /** Base delay of the exponential back-off (default 500 ms). */
  retryDelayInMs?: number;
  /** Longest single back-off (default 4 s). */
  maxRetryDelayInMs?: number;
}

export interface AzureRepositoryOptions {
  connectionString: string;
  container: string;
  /** Folder inside the container, e.g. `feeds/nrao` (slashes normalised); default ''. */
  pathPrefix?: string;
  /** Where the connection string came from, for messages (e.g. `$AZURE_CONN`); never its value. */
  connectionSource?: string;
  retry?: AzureRetryOptions;
  /** Bound on `check()` as a whole: an unreachable endpoint fails within this (default 10 s). */
  checkTimeoutMs?: number;
  /** Bound on any other single operation, retries included (default 5 min). */
  opTimeoutMs?: number;
  /** `putFile`: files above this go up as parallel blocks (default 8 MiB). */
  maxSingleShotSize?: number;
  /** `putFile` block size (default 4 MiB). */
  blockSize?: number;
  /** `putFile` blocks in flight at once (default 4). */
  blockConcurrency?: number;
}

/** Parse `k=v;k=v` connection-string pairs (values may contain '='). */
function connectionStringParts(cs: string): Map<string, string> {
  const parts = new Map<string, string>();
  for (const piece of cs.split(';')) {
    const eq = piece.indexOf('=');
    if (eq > 0) parts.set(piece.slice(0, eq).trim().toLowerCase(), piece.slice(eq + 1).trim());
  }
  return parts;
}

/**
 * Remove anything secret-looking from text that may come from the SDK: known secret values,
 * URL query strings (SAS tokens), `AccountKey=`/`SharedAccessSignature=`/`sig=` pairs and
 * SharedKey authorization headers.
 */
export function scrubSecrets(text: string, secrets: readonly string[] = []): string {
  let t = text;
  for (const s of secrets) if (s.length >= 8) t = t.split(s).join('[redacted]');
  t = t.replace(/(\b[a-z][a-z0-9+.-]*:\/\/[^\s?#"'<>]*)\?[^\s"'<>]*/gi, '$1');
  t = t.replace(/\b(?:AccountKey|SharedAccessSignature)\s*=\s*[^;\s"']*/gi, '[redacted]');
  t = t.replace(/\bsig=[^&;\s"']*/gi, '[redacted]');
  t = t.replace(/\bSharedKey(?:Lite)?\s+[^\s:]+:\S+/g, '[redacted]');
  return t;
}

/** Normalise an Azure path prefix: '\\' -> '/', no empty, leading or trailing segments. */
function normalizePathPrefix(prefix: string | undefined): string[] {
  if (!prefix) return [];
  const segs = prefix
    .replace(/\\/g, '/')
    .split('/')
    .filter((s) => s !== '');
  for (const s of segs) {
    if (s === '.' || s === '..') {
      throw new ToastyError('usage', `invalid Azure path prefix ${JSON.stringify(prefix)}: '${s}' segment`, {
        field: 'azure-path-prefix',
      });
    }
  }
  return segs;
}

interface SdkErrorFacts {
  status?: number;
  code?: string;
  name?: string;
  message: string;
}

const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EPIPE',
  'REQUEST_SEND_ERROR',
]);

export class AzureRepository implements Repository {
  readonly description: string;
  readonly keepsMeta = true;
  readonly container: string;
  /** Normalised prefix ('' or e.g. `feeds/nrao`). */
  readonly pathPrefix: string;
  /** Service endpoint without query string, e.g. `https://acct.blob.core.windows.net`. */
  readonly endpoint: string;

  private readonly client: ContainerClient;
  private readonly checkClient: ContainerClient;
  private readonly secrets: string[];
  private readonly prefixSegs: string[];
  private readonly opts: Required<Pick<AzureRepositoryOptions, 'checkTimeoutMs' | 'opTimeoutMs' | 'maxSingleShotSize' | 'blockSize' | 'blockConcurrency'>>;

  constructor(o: AzureRepositoryOptions) {
    this.container = o.container;
    if (!o.container || (!/^[a-z0-9](?:[a-z0-9]|-(?!-)){1,61}[a-z0-9]$/.test(o.container) && o.container !== '$root')) {
      throw new ToastyError('usage', `invalid Azure container name ${JSON.stringify(o.container)}: 3-63 lower-case letters, digits and single '-'`, {
        field: 'azure-container',
      });
    }
    this.prefixSegs = normalizePathPrefix(o.pathPrefix);
    this.pathPrefix = this.prefixSegs.join('/');
    const source = o.connectionSource ?? 'the Azure connection string';
    const parts = connectionStringParts(o.connectionString ?? '');
    this.secrets = [o.connectionString, parts.get('accountkey'), parts.get('sharedaccesssignature')].filter((s): s is string => !!s);
    this.opts = {
      checkTimeoutMs: o.checkTimeoutMs ?? 10_000,
      opTimeoutMs: o.opTimeoutMs ?? 300_000,
      maxSingleShotSize: o.maxSingleShotSize ?? 8 * 1024 * 1024,
      blockSize: o.blockSize ?? 4 * 1024 * 1024,
      blockConcurrency: o.blockConcurrency ?? 4,
    };
    const retry = o.retry ?? {};
    const main: StoragePipelineOptions = {
      retryOptions: {
        maxTries: retry.maxTries ?? 4,
        retryDelayInMs: retry.retryDelayInMs ?? 500,
        maxRetryDelayInMs: retry.maxRetryDelayInMs ?? 4_000,
      },
    };
    // check() must answer in seconds: two quick tries, then a clear message.
    const quick: StoragePipelineOptions = {
      retryOptions: { maxTries: 2, retryDelayInMs: 200, maxRetryDelayInMs: 200 },
    };
    let mainSvc: BlobServiceClient;
    let quickSvc: BlobServiceClient;
    try {
      mainSvc = BlobServiceClient.fromConnectionString(o.connectionString, main);
      quickSvc = BlobServiceClient.fromConnectionString(o.connectionString, quick);
    } catch (e) {
      const why = scrubSecrets(e instanceof Error ? e.message : String(e), this.secrets);
      throw new ToastyError('usage', `${source} is not a valid Azure Storage connection string (${why})`, {
        field: 'azure-conn-env',
      });
    }
    this.client = mainSvc.getContainerClient(o.container);
    this.checkClient = quickSvc.getContainerClient(o.container);
    this.endpoint = stripQuery(mainSvc.url).replace(/\/+$/, '');
    this.description = `Azure container ${o.container} at ${this.endpoint}${this.pathPrefix ? ` (prefix ${this.pathPrefix})` : ''}`;
  }

  /** Blob name for an item path: prefix segments + path segments joined with '/'. */
  blobName(itemPath: string): string {
    return [...this.prefixSegs, ...itemPathSegments(itemPath)].join('/');
  }

  private signal(): AbortSignal {
    return AbortSignal.timeout(this.opts.opTimeoutMs);
  }

  private facts(e: unknown): SdkErrorFacts {
    const o = (e ?? {}) as { statusCode?: unknown; code?: unknown; name?: unknown; message?: unknown; details?: unknown };
    const details = (o.details ?? {}) as { errorCode?: unknown };
    const code = typeof details.errorCode === 'string' ? details.errorCode : typeof o.code === 'string' ? o.code : undefined;
    const firstLine = typeof o.message === 'string' ? o.message.split('\n')[0] : String(e);
    return {
      status: typeof o.statusCode === 'number' ? o.statusCode : undefined,
      code,
      name: typeof o.name === 'string' ? o.name : undefined,
      message: scrubSecrets(firstLine ?? '', this.secrets).trim(),
    };
  }

  private where(): string {
    return `container ${this.container} at ${this.endpoint}`;
  }

  /** One clear, secret-free message for a failed operation. */
  private fail(op: string, target: string, e: unknown): ToastyError {
    const f = this.facts(e);
    let why: string;
    if (f.name === 'AbortError') why = `no answer within ${Math.round(this.opts.opTimeoutMs / 1000)} s`;
    else if (f.status === 403 || f.status === 401) why = `access denied (HTTP ${f.status}${f.code ? ` ${f.code}` : ''}): check the account key or SAS`;
    else if (f.code === 'ContainerNotFound') why = 'the container does not exist';
    else if (f.code && NETWORK_CODES.has(f.code)) why = `endpoint unreachable (${f.code})`;
    else {
      const bits = [f.status ? `HTTP ${f.status}` : '', f.code ?? '', f.message].filter(Boolean);
      why = bits.join(' ') || 'unknown error';
    }
    return new ToastyError('storage', `Azure ${op} ${scrubSecrets(target)} in ${this.where()} failed: ${why}`);
  }

  async check(opts: { write?: boolean } = {}): Promise<void> {
    const timeoutMs = this.opts.checkTimeoutMs;
    try {
      await this.checkClient.getProperties({ abortSignal: AbortSignal.timeout(timeoutMs) });
    } catch (e) {
      const f = this.facts(e);
      let msg: string;
      if (f.name === 'AbortError' || f.code === 'ETIMEDOUT' || f.code === 'TIMEOUT') {
        msg = `cannot reach Azure storage endpoint ${this.endpoint} for container ${this.container}: no answer within ${Math.round(timeoutMs / 1000)} s`;
      } else if (f.code && NETWORK_CODES.has(f.code)) {
        msg = `cannot reach Azure storage endpoint ${this.endpoint} for container ${this.container} (${f.code})`;
      } else if (f.status === 404) {
        msg = `Azure container ${this.container} does not exist at ${this.endpoint} (create it, or check --azure-container)`;
      } else if (f.status === 403 || f.status === 401) {
        msg =
          `Azure storage at ${this.endpoint} refused access to container ${this.container} ` +
          `(HTTP ${f.status}${f.code ? ` ${f.code}` : ''}): check the account key or SAS in the connection string`;
      } else {
        const bits = [f.status ? `HTTP ${f.status}` : '', f.code ?? '', f.message].filter(Boolean).join(' ');
        msg = `Azure container ${this.container} at ${this.endpoint} is not usable: ${bits || 'unknown error'}`;
      }
      throw new ToastyError('storage', msg, { field: 'azure-container' });
    }
    if (opts.write !== false) await this.checkWritable(timeoutMs);
  }

  /**
   * A read-only SAS passes the check above, and a run would then download and tile everything
   * before every upload failed: write a probe blob under the prefix now, then remove it. Its
   * name is fixed, so a SAS that may write but not delete leaves at most this one empty blob.
   */
  private async checkWritable(timeoutMs: number): Promise<void> {
    const name = this.blobName(WRITE_PROBE);
    try {
      await this.checkClient.getBlockBlobClient(name).uploadData(Buffer.alloc(0), { abortSignal: AbortSignal.timeout(timeoutMs) });
    } catch (e) {
      const f = this.facts(e);
      const why =
        f.status === 403 || f.status === 401
          ? 'the credentials allow reading but not writing (a read-only SAS?)'
          : [f.status ? `HTTP ${f.status}` : '', f.code ?? '', f.message].filter(Boolean).join(' ');
      throw new ToastyError(
        'storage',
        `cannot write to Azure container ${this.container} at ${this.endpoint}${this.pathPrefix ? ` under ${this.pathPrefix}/` : ''}: ${why}`,
        {
          field: 'azure-conn-env',
        },
      );
    }
    await this.checkClient
      .getBlobClient(name)
      .deleteIfExists({ abortSignal: AbortSignal.timeout(timeoutMs) })
      .catch(() => {});
  }

  async get(itemPath: string): Promise<Buffer | null> {
    const name = this.blobName(itemPath);
    try {
      const res = await this.client.getBlobClient(name).download(0, undefined, {
        abortSignal: this.signal(),
        maxRetryRequests: 3,
      });
      const body = res.readableStreamBody;
      if (!body) return Buffer.alloc(0);
      const chunks: Buffer[] = [];
      for await (const c of body) chunks.push(typeof c === 'string' ? Buffer.from(c) : (c as Buffer));
      return Buffer.concat(chunks);
    } catch (e) {
      if (this.isBlobMissing(e)) return null;
      throw this.fail('read', name, e);
    }
  }

  async exists(itemPath: string): Promise<boolean> {
    return (await this.stat(itemPath)) !== null;
  }

  async probeFolder(folder: string, names: readonly string[], opts: ProbeOptions = {}): Promise<Map<string, { md5?: string }>> {
    probeNames(names, opts);
    const segs = [...this.prefixSegs, ...folderSegments(folder)];
    const prefix = segs.length ? `${segs.join('/')}/` : '';
    const wanted = new Set(names);
    const found = new Map<string, { md5?: string }>();
    if (!wanted.size) return found;
    // One listing answers every name. With the bulk string as the delimiter, each run of names
    // sharing it comes back as one prefix (all of an image's tiles: one entry), not page after
    // page of blobs; the wanted names, which lack it, come back as blobs with their MD5.
    try {
      for await (const item of this.client.listBlobsByHierarchy(opts.bulk ?? '/', { prefix, abortSignal: this.signal() })) {
        if (item.kind === 'prefix') continue;
        const name = item.name.slice(prefix.length);
        if (!wanted.has(name)) continue;
        const md5 = item.properties.contentMD5?.length ? Buffer.from(item.properties.contentMD5).toString('base64') : undefined;
        found.set(name, md5 ? { md5 } : {});
        if (found.size === wanted.size) break;
      }
    } catch (e) {
      throw this.fail('list', prefix || '(root)', e);
    }
    return found;
  }

  probeFolders(folders: readonly string[], names: readonly string[], opts: ProbeOptions = {}): Promise<Map<string, Map<string, { md5?: string }>>> {
    // A listing per folder, many in flight (each is a round trip).
    return probeEachFolder(this, folders, names, opts);
  }

  async stat(itemPath: string): Promise<RepoStat | null> {
    const name = this.blobName(itemPath);
    try {
      const p = await this.client.getBlobClient(name).getProperties({ abortSignal: this.signal() });
      const st: RepoStat = { size: p.contentLength ?? 0 };
      if (p.contentMD5?.length) st.md5 = Buffer.from(p.contentMD5).toString('base64');
      if (p.metadata && Object.keys(p.metadata).length) st.meta = { ...p.metadata };
      return st;
    } catch (e) {
      if (this.isBlobMissing(e)) return null;
      throw this.fail('stat', name, e);
    }
  }

  /** A missing blob (not a missing container, which is an error). */
  private isBlobMissing(e: unknown): boolean {
    const f = this.facts(e);
    return f.status === 404 && f.code !== 'ContainerNotFound';
  }

  /** Headers, metadata and block settings shared by every upload. */
  private uploadOptions(itemPath: string, opts: PutOptions, meta: Record<string, string> | undefined, md5: Buffer) {
    return {
      abortSignal: this.signal(),
      blobHTTPHeaders: { blobContentType: opts.contentType ?? contentTypeFor(itemPath), blobContentMD5: md5 },
      metadata: meta,
      maxSingleShotSize: this.opts.maxSingleShotSize,
      blockSize: this.opts.blockSize,
      concurrency: this.opts.blockConcurrency,
    };
  }

  async put(itemPath: string, data: Buffer | string, opts: PutOptions = {}): Promise<void> {
    const name = this.blobName(itemPath);
    const meta = checkMeta(opts.meta);
    const buf = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    try {
      await this.client.getBlockBlobClient(name).uploadData(buf, this.uploadOptions(itemPath, opts, meta, createHash('md5').update(buf).digest()));
    } catch (e) {
      throw this.fail('upload', name, e);
    }
  }

  async putFile(itemPath: string, localFile: string, opts: PutOptions = {}): Promise<void> {
    const name = this.blobName(itemPath);
    const meta = checkMeta(opts.meta);
    let md5: string;
    try {
      md5 = opts.md5 ?? (await md5OfFile(localFile));
    } catch (e) {
      throw new ToastyError('storage', `cannot read ${localFile} to upload it: ${(e as Error).message}`);
    }
    try {
      // Block uploads store no MD5 of their own: record the whole-file MD5 we computed.
      await this.client.getBlockBlobClient(name).uploadFile(localFile, this.uploadOptions(itemPath, opts, meta, Buffer.from(md5, 'base64')));
    } catch (e) {
      throw this.fail('upload', name, e);
    }
  }

  async list(folder: string): Promise<RepoEntry[]> {
    const segs = [...this.prefixSegs, ...folderSegments(folder)];
    const prefix = segs.length ? `${segs.join('/')}/` : '';
    const out: RepoEntry[] = [];
    try {
      for await (const item of this.client.listBlobsByHierarchy('/', { prefix, abortSignal: this.signal() })) {
        if (item.kind === 'prefix') {
          const name = item.name.slice(prefix.length).replace(/\/$/, '');
          if (name) out.push({ name, isFolder: true });
        } else {
          const name = item.name.slice(prefix.length);
          // The listing carries each blob's MD5: a check of many files needs no round trip each.
          const md5 = item.properties.contentMD5?.length ? Buffer.from(item.properties.contentMD5).toString('base64') : undefined;
          if (name) out.push({ name, isFolder: false, ...(md5 ? { md5 } : {}) });
        }
      }
    } catch (e) {
      throw this.fail('list', prefix || '(root)', e);
    }
    return out.sort(byName);
  }

  async delete(itemPath: string): Promise<void> {
    const name = this.blobName(itemPath);
    try {
      await this.client.getBlobClient(name).deleteIfExists({ deleteSnapshots: 'include', abortSignal: this.signal() });
    } catch (e) {
      throw this.fail('delete', name, e);
    }
  }
  async exclusive<T>(name: string, fn: () => Promise<T>, opts: { waitMs?: number } = {}): Promise<T> {
    const blobName = this.blobName(`.${itemPathSegments(name).join('-')}.lock`);
    const blob = this.client.getBlockBlobClient(blobName);
    // The lease needs a blob: create it once (another run may create it at the same time).
    try {
      await blob.upload('', 0, { conditions: { ifNoneMatch: '*' }, abortSignal: this.signal() });
    } catch (e) {
      const f = this.facts(e);
      if (f.status !== 409 && f.status !== 412) throw this.fail('lock', blobName, e);
    }
    const lease = blob.getBlobLeaseClient();
    const deadline = Date.now() + (opts.waitMs ?? LOCK_WAIT_MS);
    for (let pause = 100; ; pause = Math.min(pause * 2, 2000)) {
      try {
        await lease.acquireLease(LEASE_SECONDS, { abortSignal: this.signal() });
        break;
      } catch (e) {
        if (this.facts(e).status !== 409) throw this.fail('lock', blobName, e);
        if (Date.now() + pause > deadline) {
          throw new ToastyError('lock', `${this.description}: ${name} is held by another run (blob lease on ${blobName}); gave up waiting`);
        }
      }
      await new Promise((r) => setTimeout(r, pause / 2 + Math.random() * pause));
    }
    // Renewed while `fn` runs; if this process dies the lease simply expires.
    const renew = setInterval(() => void lease.renewLease({ abortSignal: this.signal() }).catch(() => {}), (LEASE_SECONDS * 1000) / 3);
    try {
      return await fn();
    } finally {
      clearInterval(renew);
      await lease.releaseLease({ abortSignal: this.signal() }).catch(() => {});
    }
  }
}

/** A held lease lasts this long without renewal (Azure allows 15-60 s). */
const LEASE_SECONDS = 30;

/** The blob `check()` writes and removes to prove write access (an item path). */
export const WRITE_PROBE = '.toasty-write-probe';

function stripQuery(url: string): string {
  const q = url.search(/[?#]/);
  return q < 0 ? url : url.slice(0, q);
}
