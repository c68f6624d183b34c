/**
 * The AstroPix source: parse the JSON feed into candidates, decide which records
 * are actionable, and work out where each image is downloaded from and cached as.
 *
 * Records are kept as loose JSON objects (AstroPix sends every number as a string); the WCS
 * and WTML code read the fields they need and report missing ones by name.
 */
import { ToastyError } from '../util/errors.js';
import { type AstroPixRecord, astropixStudy, parseAstropixWcs } from './astropix-record.js';
import { fetchFeedText } from './http.js';
import { caseFoldKey, quoteRaw, requireStringField, uniqueId } from './ids.js';
import type { SourceDefinition } from './source.js';

// The record type belongs to the WCS code that reads it; callers of the feed parser get it here too.
export type { AstroPixRecord };

/** Where AstroPix keeps downsampled copies when a record has no `resource_url`. */
export const ASTROPIX_ARCHIVE_BASE = 'http://astropix.ipac.caltech.edu/archive/';

/** URL schemes an image or feed may come from (`file:` for offline runs). */
export const SUPPORTED_URL_SCHEMES: ReadonlySet<string> = new Set(['http:', 'https:', 'file:']);

/** Why this record is skipped before download (wording from the reference), or null. */
export function notActionableReason(record: AstroPixRecord): string | null {
  const imageId = record.image_id;
  if (typeof imageId === 'string' && imageId.includes('/')) {
    return 'AstroPix images with "/" in their IDs are not retrievable';
  }
  const projection = record.wcs_projection;
  if (projection === undefined || projection === null || projection === '') {
    return 'cannot ingest images in non-TAN projections (wcs_projection is missing)';
  }
  if (projection !== 'TAN') return 'cannot ingest images in non-TAN projections';
  return null;
}

/**
 * AstroPix archive size for `image_max_boundry` (sic: the feed's spelling). Accepts a number
 * or a decimal string such as `"4958.0"`; the value is truncated to an integer first.
 */
export function sizeLadder(imageMaxBoundry: unknown): number {
  const field = 'image_max_boundry';
  let n: number;
  if (typeof imageMaxBoundry === 'number') {
    n = imageMaxBoundry;
  } else if (typeof imageMaxBoundry === 'string' && /^\s*\+?\d+(\.\d*)?([eE][+-]?\d+)?\s*$/.test(imageMaxBoundry)) {
    n = Number(imageMaxBoundry);
  } else {
    const shown = typeof imageMaxBoundry === 'string' ? quoteRaw(imageMaxBoundry) : String(imageMaxBoundry);
    throw new ToastyError('record', `${field} is not a number: ${shown}`, { field });
  }
  if (!Number.isFinite(n) || n < 0) throw new ToastyError('record', `${field} is not a usable size: ${n}`, { field });
  const size = Math.trunc(n);
  if (size >= 24000) return 24000;
  if (size >= 12000) return 12000;
  if (size >= 6000) return 6000;
  if (size >= 3000) return 3000;
  if (size >= 1600) return 1600;
  if (size > 1024) return 1280;
  if (size > 500) return 1024;
  if (size > 320) return 500;
  return 320;
}

/** RFC 3986 strict percent-encoding (like Python's `quote(s, safe='')`). */
function encodePart(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/**
 * Where to download the image: `resource_url` when it is a non-empty string (surrounding
 * whitespace ignored), else the AstroPix archive copy sized by the ladder. A `resource_url`
 * must be an absolute http(s) or file URL.
 */
export function downloadUrl(record: AstroPixRecord): string {
  const raw = record.resource_url;
  if (raw !== undefined && raw !== null && typeof raw !== 'string') {
    throw new ToastyError('record', `resource_url is not a string (got ${typeof raw})`, { field: 'resource_url' });
  }
  const resource = (raw ?? '').trim();
  if (resource !== '') {
    let url: URL;
    try {
      url = new URL(resource);
    } catch {
      throw new ToastyError('record', `resource_url is not an absolute URL: ${quoteRaw(resource)}`, { field: 'resource_url' });
    }
    if (!SUPPORTED_URL_SCHEMES.has(url.protocol)) {
      throw new ToastyError('record', `resource_url has unsupported scheme ${url.protocol} (use http, https or file)`, {
        field: 'resource_url',
      });
    }
    return resource;
  }
  const pub = requireStringField(record, 'publisher_id');
  const lowerId = requireStringField(record, 'image_id').toLowerCase();
  const size = sizeLadder(record.image_max_boundry);
  return `${ASTROPIX_ARCHIVE_BASE}${encodePart(pub)}/${encodePart(lowerId)}/${encodePart(`${pub}_${lowerId}_${size}.jpg`)}`;
}

/** Name used when the URL path has no usable extension (AstroPix images are mostly JPEG). */
export const DEFAULT_CACHED_IMAGE_NAME = 'image.jpg';

/**
 * Cache file name `image.{ext}`: the lower-cased extension of the URL *path* (never the query
 * string), `jpeg` -> `jpg`. A path without an extension, or with one that is not 1-8 ASCII
 * letters/digits, gives `image.jpg` (the processor decodes by content, not by name).
 */
export function cachedImageName(url: string): string {
  let pathname: string;
  try {
    pathname = new URL(url).pathname;
  } catch {
    pathname = url.split(/[?#]/, 1)[0] ?? '';
  }
  const last = pathname.slice(pathname.lastIndexOf('/') + 1);
  const dot = last.lastIndexOf('.');
  if (dot < 0) return DEFAULT_CACHED_IMAGE_NAME;
  let ext = last.slice(dot + 1).toLowerCase();
  if (!/^[a-z0-9]{1,8}$/.test(ext)) return DEFAULT_CACHED_IMAGE_NAME;
  if (ext === 'jpeg') ext = 'jpg';
  return `image.${ext}`;
}

/** An actionable candidate: safe unique id, the record, and where its image comes from. */
export interface FeedEntry {
  id: string;
  /** Position in the feed array (0-based). */
  index: number;
  record: AstroPixRecord;
  url: string;
  cachedImageName: string;
}

/** A feed entry; its cache name is worked out when asked (a second URL parse per record). */
class Entry implements FeedEntry {
  constructor(
    readonly id: string,
    readonly index: number,
    readonly record: AstroPixRecord,
    readonly url: string,
  ) {}

  get cachedImageName(): string {
    return cachedImageName(this.url);
  }
}

export interface FeedParse {
  entries: FeedEntry[];
  /** Records deliberately skipped (an `image_id` with "/", a projection other than TAN), with the reason. */
  notActionable: Array<{ id: string; index: number; reason: string; record: AstroPixRecord }>;
  /** Records that could not be used: bad shape, missing/unsafe id, duplicate, bad URL. */
  rejected: Array<{ id: string | null; index: number; error: ToastyError }>;
}

function describeJsonType(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return typeof v === 'object' ? 'an object' : `a ${typeof v}`;
}

/**
 * Parse an AstroPix feed. `source` (URL or path) is only used in messages. A feed that is not a
 * JSON array throws ToastyError `feed`; problems with single records are collected in
 * `rejected` so one bad record never blocks the others. Duplicate ids (exactly, or differing
 * only by letter case, which would share a folder on case-insensitive disks) keep the first.
 */
export function parseFeed(text: string, source: string): FeedParse {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (e) {
    const looksHtml = /^\s*</.test(text) ? ' (it looks like HTML)' : '';
    const why = e instanceof Error ? e.message : String(e);
    throw new ToastyError('feed', `feed ${source} is not valid JSON${looksHtml}: ${why}`, { cause: e });
  }
  if (!Array.isArray(data)) {
    throw new ToastyError('feed', `feed ${source} is not a JSON array of records (got ${describeJsonType(data)})`);
  }

  const out: FeedParse = { entries: [], notActionable: [], rejected: [] };
  const seen = new Map<string, { id: string; index: number }>();
  data.forEach((item: unknown, index) => {
    if (item === null || typeof item !== 'object' || Array.isArray(item)) {
      out.rejected.push({
        id: null,
        index,
        error: new ToastyError('record', `feed item #${index} is not a JSON object (got ${describeJsonType(item)})`),
      });
      return;
    }
    const record = item as AstroPixRecord;
    let id: string;
    try {
      id = uniqueId(record);
    } catch (e) {
      const error = e instanceof ToastyError ? e : new ToastyError('record', String(e), { cause: e });
      out.rejected.push({ id: null, index, error: withItemIndex(error, index) });
      return;
    }

    const first = seen.get(caseFoldKey(id));
    if (first) {
      const error =
        first.id === id
          ? new ToastyError('record', `duplicate id: feed item #${index} repeats item #${first.index}; the first is kept`, {
              imageId: id,
              field: 'image_id',
            })
          : new ToastyError(
              'unsafe-id',
              `id differs only by letter case from ${JSON.stringify(first.id)} (feed item #${first.index}); ` +
                'both would share one folder on a case-insensitive disk, so the first is kept',
              { imageId: id, field: 'image_id' },
            );
      out.rejected.push({ id, index, error });
      return;
    }
    seen.set(caseFoldKey(id), { id, index });

    const reason = notActionableReason(record);
    if (reason !== null) {
      out.notActionable.push({ id, index, reason, record });
      return;
    }
    try {
      const url = downloadUrl(record);
      out.entries.push(new Entry(id, index, record, url));
    } catch (e) {
      const error = e instanceof ToastyError ? e : new ToastyError('record', String(e), { cause: e });
      out.rejected.push({ id, index, error: error.forImage(id) });
    }
  });
  return out;
}

/** Prefix a record error (which has no id yet) with the feed position, keeping code and field. */
function withItemIndex(error: ToastyError, index: number): ToastyError {
  return new ToastyError(error.code, `feed item #${index}: ${error.message}`, { field: error.field, cause: error.cause });
}

/**
 * `source_type: astropix`: one saved search (`json_query_url`, http(s) or file) whose JSON
 * carries every record whole.
 */
export const astropixSource: SourceDefinition = {
  type: 'astropix',
  required: ['json_query_url'],
  configure(section) {
    const feedUrl = section.string('json_query_url', true);
    return {
      type: 'astropix',
      // The name existing work directories already have.
      recordFile: 'astropix.json',
      allowFileImages: feedUrl.startsWith('file:'),
      async list(io) {
        const feed = parseFeed(await fetchFeedText(feedUrl, io), feedUrl);
        return {
          records: new Map(feed.entries.map((e) => [e.id, e.record])),
          rejected: feed.rejected.map(({ id, error }) => ({ id, error })),
          notActionable: feed.notActionable.map(({ id, reason }) => ({ id, reason })),
        };
      },
      download(record) {
        const url = downloadUrl(record);
        return { url, cacheName: cachedImageName(url), date: typeof record.last_updated === 'string' ? record.last_updated : null };
      },
      study: (record) => astropixStudy(record),
      wcs: (record) => parseAstropixWcs(record),
    };
  },
};
