/**
 * The Djangoplicity archives (ESA/Hubble, ESA/Webb, ESO, NOIRLab): their listing pages and
 * per-image JSON, as data. Fetching is the pipeline's business; everything here is pure.
 *
 * - Listing page N: `<base_url>archive/search/<search_page_name>/<N>/?type=Observation`, HTML
 *   with a `var images = [ ... ];` JavaScript literal (parsed, never evaluated); 404 = no more.
 * - Details: `<base_url><id>/api/json/`, AVM-style fields; some archives print text as Python
 *   byte-string reprs (`b'...'`), decoded here wherever they occur.
 */
import { ToastyError } from '../util/errors.js';
import { checkSafeId, quoteRaw } from './ids.js';
import { type JsValue, JsLiteralError, parseJsLiteral } from './js-literal.js';

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
