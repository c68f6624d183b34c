/**
 * A Djangoplicity archive on the test server: listing pages with a `var images` JavaScript
 * literal (gzipped when the client accepts it, 404 after the last page), each image's
 * `api/json/` details, and the Original files. Everything is read at request time, so a test
 * may change a record between runs; counters say what was asked for.
 *
 *   const archive = new FakeArchive('/images/', pages);    // pages: ArchiveImage[][]
 *   archive.install(fixture.routes);
 *   ... `${fixture.baseUrl}/images/` is the config's base_url
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { gzipSync } from 'node:zlib';
import type { Handler } from './http-server.js';

export interface ArchiveImage {
  /** The id the listing gives (may be unsafe: then it has no details). */
  id: string;
  /** The `api/json/` object (Resources included). */
  details: Record<string, unknown>;
  /** Bytes of the Original, served at `originalPath`; null: the URL answers 404. */
  original: Buffer | null;
  /** Where the details' Original resource points on the test server. */
  originalPath: string;
}

export class FakeArchive {
  /** Requests per kind, by id (details, original) or page number (listing). */
  readonly hits = { listing: new Map<number, number>(), details: new Map<string, number>(), original: new Map<string, number>() };
  /** Responses sent gzipped. */
  gzipped = 0;
  /** Most details requests in flight at once. */
  maxDetailsInFlight = 0;
  /** A page number served as HTML without the `var images` block. */
  brokenPage: number | null = null;
  /** Details requests answered 503 before the details, by id. */
  readonly unavailable = new Map<string, number>();
  private inFlight = 0;

  constructor(
    readonly base: string,
    readonly pages: ArchiveImage[][],
    /** Delay before each details answer, so concurrent requests overlap. */
    readonly detailsDelayMs = 15,
  ) {}

  image(id: string): ArchiveImage {
    const found = this.pages.flat().find((i) => i.id === id);
    if (!found) throw new Error(`no image ${id} in the archive`);
    return found;
  }

  /** Add the archive's routes to a test server's route table. */
  install(routes: Record<string, Handler>): void {
    // A few pages past the end: every one of them must answer 404.
    for (let n = 1; n <= this.pages.length + 3; n++) {
      routes[`${this.base}archive/search/page/${n}/`] = (req, res) => this.listing(n, req, res);
    }
    for (const img of this.pages.flat()) {
      routes[`${this.base}${img.id}/api/json/`] = (req, res, ctx) => this.details(img.id, req, res, ctx.later);
      routes[img.originalPath] = (_req, res) => {
        count(this.hits.original, img.id);
        const current = this.image(img.id).original;
        if (!current) {
          notFound(res);
          return;
        }
        res.writeHead(200, { 'content-type': 'image/jpeg', 'content-length': current.length });
        res.end(current);
      };
    }
  }

  private listing(n: number, req: IncomingMessage, res: ServerResponse): void {
    count(this.hits.listing, n);
    const page = this.pages[n - 1];
    if (!page) notFound(res);
    else if (n === this.brokenPage) this.send(req, res, '<!DOCTYPE html><html><body><h1>Search</h1><p>Maintenance</p></body></html>\n', 'text/html');
    else this.send(req, res, listingHtml(page), 'text/html; charset=utf-8');
  }

  private details(id: string, req: IncomingMessage, res: ServerResponse, later: (ms: number, fn: () => void) => void): Promise<void> {
    count(this.hits.details, id);
    const busy = this.unavailable.get(id) ?? 0;
    if (busy > 0) {
      this.unavailable.set(id, busy - 1);
      res.writeHead(503, { 'content-type': 'text/html', 'retry-after': '0' });
      res.end('<h1>Service unavailable</h1>\n');
      return Promise.resolve();
    }
    this.inFlight++;
    this.maxDetailsInFlight = Math.max(this.maxDetailsInFlight, this.inFlight);
    return new Promise((resolve) =>
      later(this.detailsDelayMs, () => {
        this.inFlight--;
        this.send(req, res, JSON.stringify(this.image(id).details, null, 1), 'application/json');
        resolve();
      }),
    );
  }

  private send(req: IncomingMessage, res: ServerResponse, body: string, type: string): void {
    const gzip = /\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''));
    const data = gzip ? gzipSync(body) : Buffer.from(body);
    if (gzip) this.gzipped++;
    res.writeHead(200, { 'content-type': type, 'content-length': data.length, ...(gzip ? { 'content-encoding': 'gzip' } : {}) });
    res.end(data);
  }
}

function count<K>(m: Map<K, number>, k: K): void {
  m.set(k, (m.get(k) ?? 0) + 1);
}

function notFound(res: ServerResponse): void {
  res.writeHead(404, { 'content-type': 'text/html' });
  res.end('<h1>Page not found</h1>\n');
}

/** A listing page as the archives print it: HTML around a JavaScript literal, not JSON. */
function listingHtml(images: ArchiveImage[]): string {
  const entries = images.map((img, i) => {
    // Both quote styles occur; bare keys always.
    const q = (s: string) => (i % 2 ? JSON.stringify(s) : `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`);
    const title = typeof img.details.Title === 'string' ? img.details.Title : img.id;
    return `{\n    id: ${q(img.id)},\n    title: ${q(title)},\n    width: 3000,\n    height: 2000,\n    src: ${q(`https://cdn.example/thumb300y/${img.id}.jpg`)},\n    url: ${q(`/images/${img.id}/`)},\n    potw: ''\n}`;
  });
  return [
    '<!DOCTYPE html>',
    '<html lang="en"><head><title>Images | Test archive</title>',
    '<script type="text/javascript">',
    'var images = [',
    `${entries.join(',\n')},`,
    '];',
    '</script></head><body><div id="gallery"></div></body></html>',
    '',
  ].join('\n');
}

/** An AstroPix record's WCS under the AVM Spatial names Djangoplicity uses (values as sent). */
export function spatialFromAstropix(r: Record<string, unknown>): Record<string, unknown> {
  return {
    CoordinateFrame: r.wcs_coordinate_frame,
    Equinox: r.wcs_equinox,
    ReferenceValue: r.wcs_reference_value,
    ReferenceDimension: r.wcs_reference_dimension,
    ReferencePixel: r.wcs_reference_pixel,
    Scale: r.wcs_scale,
    Rotation: r.wcs_rotation,
    CoordsystemProjection: r.wcs_projection,
  };
}
