/**
 * The Djangoplicity archives (ESA/Hubble, ESA/Webb, ESO, NOIRLab): their listing pages and
 * per-image JSON, parsed as data, and `djangoplicitySource`, the adapter that fetches them.
 *
 * - Listing page N: `<base_url>archive/search/<search_page_name>/<N>/?type=Observation`, HTML
 *   with a `var images = [ ... ];` JavaScript literal (parsed, never evaluated); 404 = no more.
 * - Details: `<base_url><id>/api/json/`, AVM-style fields; some archives print text as Python
 *   byte-string reprs (`b'...'`), decoded here wherever they occur.
 */
import { ToastyError } from '../util/errors.js';
import { forEachLimit } from '../util/pool.js';
import { recordTimestamp } from '../wwt/datetime.js';
import type { StudyText } from '../wwt/metadata.js';
import { type AvmWcs, checkWcs } from '../wwt/wcs.js';
import { fetchPage } from './http.js';
import { checkSafeId, quoteRaw } from './ids.js';
import { type JsValue, JsLiteralError, parseJsLiteral } from './js-literal.js';
import type { Candidates, SourceDefinition, SourceIo, SourceRecord } from './source.js';

export interface DjangoplicitySettings {
  /** Ends with '/'. */
  baseUrl: string;
  /** Written into each Place's annotation. */
  channelName: string;
  /** Default "page". */
  searchPageName: string;
}

export function listingPageUrl(s: DjangoplicitySettings, page: number): string {
  return `${s.baseUrl}archive/search/${encodeURIComponent(s.searchPageName)}/${page}/?type=Observation`;
}

export function detailsUrl(s: DjangoplicitySettings, id: string): string {
  return `${s.baseUrl}${encodeURIComponent(id)}/api/json/`;
}

/** A Djangoplicity id is the repository folder name as it is: lower-case letters, digits, - and _. */
const DJANGO_ID = /^[a-z0-9][a-z0-9_-]*$/;

export interface ListingPage {
  ids: string[];
  /** Entries that cannot be used, each with why (the others go on). */
  rejected: Array<{ index: number; error: ToastyError }>;
}

/**
 * The image ids of one listing page. A page without the `var images` block (or with one that
 * does not parse) fails the whole listing, naming the URL.
 */
export function parseListingPage(html: string, url: string): ListingPage {
  const lines = html.split('\n');
  const start = lines.findIndex((l, i) => i > 0 && l.includes('var images = ['));
  const fail = (why: string) => new ToastyError('feed', `listing page ${url}: ${why}`);
  if (start < 0) throw fail('no "var images = [" block');
  const endOffset = lines.slice(start + 1).findIndex((l) => l.includes('];'));
  if (endOffset < 0) throw fail('the "var images" block never ends ("];")');
  const first = lines[start].slice(lines[start].indexOf('['));
  const last = lines[start + 1 + endOffset];
  const literal = [first, ...lines.slice(start + 1, start + 1 + endOffset), last.slice(0, last.indexOf('];') + 1)].join('\n');
  let images: JsValue;
  try {
    images = parseJsLiteral(literal);
  } catch (e) {
    throw fail(`the "var images" block does not parse (${e instanceof JsLiteralError ? e.message : String(e)})`);
  }
  if (!Array.isArray(images)) throw fail('"var images" is not an array');
  const out: ListingPage = { ids: [], rejected: [] };
  images.forEach((entry, index) => {
    const id = entry && typeof entry === 'object' && !Array.isArray(entry) ? entry.id : undefined;
    try {
      if (typeof id !== 'string') throw new ToastyError('record', `listing entry #${index} has no string id`, { field: 'id' });
      if (!DJANGO_ID.test(id)) throw new ToastyError('unsafe-id', `unsafe image id ${quoteRaw(id)}: only lower-case letters, digits, - and _`, { field: 'id' });
      out.ids.push(checkSafeId(id));
    } catch (e) {
      out.rejected.push({ index, error: e as ToastyError });
    }
  });
  return out;
}

/**
 * Python byte-string reprs (`b'caf\\xc3\\xa9'`) turned back into text: escapes to bytes, bytes
 * as UTF-8. Applied to every string in `v`; a string that does not decode is kept as it is.
 */
export function decodeByteStrings(v: unknown): unknown {
  if (typeof v === 'string') return decodeByteString(v);
  if (Array.isArray(v)) return v.map(decodeByteStrings);
  if (v && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[k] = decodeByteStrings(x);
    return out;
  }
  return v;
}

const PY_ESCAPES: Record<string, number> = { n: 10, t: 9, r: 13, '\\': 92, "'": 39, '"': 34, a: 7, b: 8, f: 12, v: 11, '0': 0 };

function decodeByteString(s: string): string {
  const m = /^b(['"])([\s\S]*)\1$/.exec(s);
  if (!m) return s;
  const body = m[2];
  const bytes: number[] = [];
  for (let i = 0; i < body.length; i++) {
    const c = body.charCodeAt(i);
    if (c > 127) return s; // a bytes repr is ASCII: this is not one
    if (body[i] !== '\\') {
      bytes.push(c);
      continue;
    }
    const e = body[++i];
    if (e === 'x' && /^[0-9a-fA-F]{2}$/.test(body.slice(i + 1, i + 3))) {
      bytes.push(Number.parseInt(body.slice(i + 1, i + 3), 16));
      i += 2;
    } else if (e !== undefined && e in PY_ESCAPES) bytes.push(PY_ESCAPES[e]);
    else return s;
  }
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(Uint8Array.from(bytes));
  } catch {
    return s;
  }
}

type Details = Record<string, unknown>;

const spatialOf = (d: Details) => (d.Spatial && typeof d.Spatial === 'object' ? (d.Spatial as Record<string, unknown>) : {});

/** Why this image cannot be placed on the sky (no full WCS), or null. */
export function notActionableReason(d: Details): string | null {
  const projection = spatialOf(d).CoordsystemProjection;
  return typeof projection === 'string' && projection !== '' ? null : 'no full WCS (Spatial.CoordsystemProjection is not set)';
}

/** The download: the URL of the first `Resources` entry whose ResourceType is "Original". */
export function originalUrl(d: Details): string {
  const resources = Array.isArray(d.Resources) ? d.Resources : [];
  for (const r of resources) {
    if (r && typeof r === 'object' && (r as Record<string, unknown>).ResourceType === 'Original') {
      const url = (r as Record<string, unknown>).URL;
      if (typeof url === 'string' && url.trim()) return url.trim();
    }
  }
  throw new ToastyError('record', 'Resources has no "Original" entry with a URL', { field: 'Resources' });
}

/** `image.<ext>`, with the extension of the URL's last path segment, lower-case. */
export function cachedImageNameFor(url: string): string {
  let pathname = url;
  try {
    pathname = new URL(url).pathname;
  } catch {
    /* not absolute: use it as it is */
  }
  const last = pathname.slice(pathname.lastIndexOf('/') + 1);
  const dot = last.lastIndexOf('.');
  const ext = dot >= 0 ? last.slice(dot + 1).toLowerCase() : '';
  return /^[a-z0-9]{1,8}$/.test(ext) ? `image.${ext}` : 'image.jpg';
}

/** A value that is a number, or a string holding one (Djangoplicity sends both). */
function num(v: unknown, field: string): number {
  const n = typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' ? Number(v) : Number.NaN;
  if (!Number.isFinite(n)) throw new ToastyError('record', `${field} is not a number: ${quoteRaw(String(v))}`, { field });
  return n;
}

function pair(v: unknown, field: string): [number, number] {
  if (!Array.isArray(v) || v.length < 2) throw new ToastyError('record', `${field} is not a pair of numbers`, { field });
  return [num(v[0], `${field}[0]`), num(v[1], `${field}[1]`)];
}

/** The AVM Spatial quantities of a placeable image, as numbers. */
export interface AvmSpatialNumbers {
  referenceValue: [number, number];
  referenceDimension: [number, number];
  referencePixel: [number, number];
  scale: [number, number];
  rotation: number;
  projection: string;
}

/** Spatial fields as numbers; an empty second scale means square pixels: abs(first). */
export function spatialNumbers(d: Details): AvmSpatialNumbers {
  const s = spatialOf(d);
  const scaleRaw = Array.isArray(s.Scale) ? s.Scale : [];
  const first = num(scaleRaw[0], 'Spatial.Scale[0]');
  const second = scaleRaw[1] === undefined || scaleRaw[1] === null || scaleRaw[1] === '' ? Math.abs(first) : num(scaleRaw[1], 'Spatial.Scale[1]');
  return {
    referenceValue: pair(s.ReferenceValue, 'Spatial.ReferenceValue'),
    referenceDimension: pair(s.ReferenceDimension, 'Spatial.ReferenceDimension'),
    referencePixel: pair(s.ReferencePixel, 'Spatial.ReferencePixel'),
    scale: [first, second],
    rotation: num(s.Rotation ?? 0, 'Spatial.Rotation'),
    projection: String(s.CoordsystemProjection),
  };
}

/** A text field (absent -> ''). */
export function text(d: Details, field: string): string {
  const v = d[field];
  return typeof v === 'string' ? v : '';
}

/** Python's `html.escape`: the archives' Credit and Description go into the WTML escaped. */
function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#x27;' })[c] as string);
}

/** The WCS of a placeable image, checked as every source's is (errors name the Spatial field). */
function djangoplicityWcs(d: Details): AvmWcs {
  return checkWcs(spatialNumbers(d), {
    projection: 'Spatial.CoordsystemProjection',
    referenceValue: 'Spatial.ReferenceValue',
    referencePixel: 'Spatial.ReferencePixel',
    referenceDimension: 'Spatial.ReferenceDimension',
    scale: 'Spatial.Scale',
    rotation: 'Spatial.Rotation',
  });
}

/**
 * The study's text: Name = Title (the id when there is none), Credits and Description
 * HTML-escaped as the reference pipeline writes them, CreditsUrl = ReferenceURL, and `Date`
 * (UTC when it has no zone) as both the update time and the annotation's publication date.
 */
function djangoplicityText(d: Details, id: string, channelName: string): StudyText {
  const published = recordTimestamp(d.Date, 'Date');
  return {
    title: text(d, 'Title') || id,
    description: escapeHtml(text(d, 'Description')),
    credits: escapeHtml(text(d, 'Credit')),
    creditsUrl: text(d, 'ReferenceURL'),
    lastUpdated: published,
    provenance: { channel: channelName, itemId: id, published },
  };
}

/** A listing that never answers 404 must not keep toasty busy forever. */
const MAX_LISTING_PAGES = 10_000;

const HTML_ACCEPT = 'text/html, */*;q=0.5';

/** Every image id of the archive, page after page until the first 404. */
async function listArchive(s: DjangoplicitySettings, io: SourceIo): Promise<Candidates<null>> {
  const out: Candidates<null> = { records: new Map(), rejected: [], notActionable: [] };
  for (let page = 1; page <= MAX_LISTING_PAGES; page++) {
    const url = listingPageUrl(s, page);
    const html = await fetchPage(url, { ...io, code: 'feed', what: 'listing page', accept: HTML_ACCEPT });
    if (html === null) {
      // No first page means a wrong base_url or search_page_name, not an empty archive.
      if (page === 1) throw new ToastyError('feed', `listing page ${url}: HTTP 404 (check base_url and search_page_name)`);
      return out;
    }
    const listed = parseListingPage(html, url);
    for (const r of listed.rejected) out.rejected.push({ id: null, error: r.error });
    // An image published while the pages are read pushes others onto the next page: a repeat
    // is the same image seen twice.
    for (const id of listed.ids) out.records.set(id, null);
  }
  throw new ToastyError('feed', `listing ${listingPageUrl(s, 1)} did not end (no 404) within ${MAX_LISTING_PAGES} pages`);
}

/** The details of each image, a few at a time (they all come from base_url's host). */
async function fetchDetails(s: DjangoplicitySettings, ids: readonly string[], requestsPerHost: number, io: SourceIo): Promise<Candidates<SourceRecord>> {
  const got = new Map<string, SourceRecord | ToastyError>();
  await forEachLimit(ids, requestsPerHost, async (id) => {
    try {
      got.set(id, await fetchDetailsOf(s, id, io));
    } catch (e) {
      got.set(id, (e instanceof ToastyError ? e : new ToastyError('feed', String(e), { cause: e })).forImage(id));
    }
  });
  const out: Candidates<SourceRecord> = { records: new Map(), rejected: [], notActionable: [] };
  for (const id of ids) {
    const d = got.get(id)!;
    if (d instanceof ToastyError) out.rejected.push({ id, error: d });
    else {
      const reason = notActionableReason(d);
      if (reason) out.notActionable.push({ id, reason });
      else out.records.set(id, d);
    }
  }
  return out;
}

async function fetchDetailsOf(s: DjangoplicitySettings, id: string, io: SourceIo): Promise<SourceRecord> {
  const url = detailsUrl(s, id);
  const body = await fetchPage(url, { ...io, code: 'feed', what: 'details', accept: 'application/json, */*;q=0.5' });
  const fail = (why: string) => new ToastyError('feed', `details ${url}: ${why}`, { imageId: id });
  if (body === null) throw fail('HTTP 404 Not Found');
  let d: unknown;
  try {
    d = JSON.parse(body);
  } catch (e) {
    throw fail(`not JSON (${(e as Error).message})`);
  }
  if (!d || typeof d !== 'object' || Array.isArray(d)) throw fail('not a JSON object');
  return decodeByteStrings(d) as SourceRecord;
}

/**
 * `source_type: djangoplicity`: an archive's listing pages name the images; each image's
 * details (fetched once per work directory, again with `--recheck`) are its record.
 */
export const djangoplicitySource: SourceDefinition = {
  type: 'djangoplicity',
  required: ['base_url', 'channel_name'],
  configure(section) {
    let baseUrl = section.string('base_url', true);
    if (!/^https?:\/\/[^/]/.test(baseUrl)) throw section.error('base_url', `base_url must be an http(s) URL, not ${quoteRaw(baseUrl)}`);
    if (!baseUrl.endsWith('/')) baseUrl += '/';
    const s: DjangoplicitySettings = {
      baseUrl,
      channelName: section.string('channel_name', true),
      searchPageName: section.string('search_page_name', false) || 'page',
    };
    const requestsPerHost = section.count('requests_per_host', 4);
    return {
      type: 'djangoplicity',
      recordFile: 'djangoplicity.json',
      allowFileImages: false,
      // The channel is written into every Place's annotation.
      studySettings: { channel_name: s.channelName },
      list: (io) => listArchive(s, io),
      describe: (ids, io) => fetchDetails(s, ids, requestsPerHost, io),
      download(record) {
        const url = originalUrl(record);
        return { url, cacheName: cachedImageNameFor(url), date: text(record, 'Date') || null };
      },
      study: (record, id) => ({ wcs: djangoplicityWcs(record), text: djangoplicityText(record, id, s.channelName) }),
      wcs: (record) => djangoplicityWcs(record),
    };
  },
};
