/**
 * Typed errors used at module edges.
 *
 * Every failure that a curator may see carries a stable `code`, and where it applies the
 * image id and the record/config field at fault, so messages can name both. Messages never
 * carry a secret: URLs in them lose their user:password and signature-like parameters.
 */
import { redactSecrets } from './redact.js';

export type ErrorCode =
  | 'usage' // bad command line
  | 'config' // toasty-pipeline-config.yaml missing or invalid
  | 'feed' // the feed (a listing page, an image's details) could not be fetched or parsed
  | 'record' // one feed record is invalid (missing/non-numeric field, bad date...)
  | 'not-actionable' // a record the pipeline deliberately skips (image_id with "/", non-TAN projection)
  | 'unsafe-id' // an id that cannot be used as a path segment
  | 'download' // fetching an image failed (HTTP status, timeout, wrong content)
  | 'image' // the image could not be decoded or is unsupported / too large
  | 'wcs' // the WCS cannot be expressed in WWT (non-TAN, non-square pixels...)
  | 'avm' // an image's embedded AVM metadata is missing, malformed or cannot place it
  | 'wtml' // a WTML document could not be parsed
  | 'storage' // the repository (local folder or Azure) failed
  | 'lock' // another toasty run holds the work directory
  | 'state' // the work directory's build state cannot be read
  | 'internal';

/** Codes that stop a whole command before or instead of per-image work: exit status 2. */
const WHOLE_RUN: ReadonlySet<ErrorCode> = new Set(['usage', 'config', 'storage', 'lock', 'state']);

export class ToastyError extends Error {
  readonly code: ErrorCode;
  /** Unique image id this error is about, if any. */
  readonly imageId?: string;
  /** Record, config or image field at fault, if any (e.g. `wcs_scale`, `publish_url_prefix`). */
  readonly field?: string;
  /** The HTTP status that ended a download or page fetch, if one did (404: nothing there). */
  readonly httpStatus?: number;
  /** A URL could not be read at all: no answer (refused, DNS, timeout) or an error status. */
  readonly unreachable?: boolean;

  constructor(code: ErrorCode, message: string, opts: { imageId?: string; field?: string; cause?: unknown; httpStatus?: number; unreachable?: boolean } = {}) {
    super(redactSecrets(message), opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'ToastyError';
    this.code = code;
    this.imageId = opts.imageId;
    this.field = opts.field;
    this.httpStatus = opts.httpStatus;
    if (opts.unreachable) this.unreachable = true;
  }

  /** 2 for usage, configuration, repository and work-directory problems; 1 otherwise. */
  get exitStatus(): 1 | 2 {
    return WHOLE_RUN.has(this.code) ? 2 : 1;
  }

  /** Copy of this error bound to an image id (keeps code, field and message). */
  forImage(imageId: string): ToastyError {
    if (this.imageId === imageId) return this;
    return new ToastyError(this.code, this.message, {
      imageId,
      field: this.field,
      cause: this.cause,
      httpStatus: this.httpStatus,
      unreachable: this.unreachable,
    });
  }

  /** One line for a person: `[image id] field: message`. */
  describe(): string {
    const parts: string[] = [];
    if (this.imageId) parts.push(`${this.imageId}:`);
    if (this.field && !this.message.includes(this.field)) parts.push(`${this.field}:`);
    parts.push(this.message);
    return parts.join(' ');
  }
}

export function isToastyError(e: unknown): e is ToastyError {
  return e instanceof ToastyError;
}

/** Wrap anything thrown into a ToastyError (unknown throws become `internal`). */
export function toToastyError(e: unknown, fallback: ErrorCode = 'internal'): ToastyError {
  if (e instanceof ToastyError) return e;
  const msg = e instanceof Error ? e.message : String(e);
  return new ToastyError(fallback, msg, { cause: e });
}
