/**
 * `toasty preview`: a loopback HTTP server for reviewing a work directory's studies in the
 * real WWT engine before (or after) publishing them.
 *
 *   GET /                          the review page (page.html, page.js, page.css)
 *   GET /engine/wwtlib.js          @wwtelescope/engine, served from node_modules
 *   GET /engine-assets/<name>      the data files the engine fetches at start: constellation
 *                                  boundaries and their name positions from the repository's
 *                                  IAU table (sky-assets.ts), empty moon and figure lists, and a
 *                                  transparent placeholder for its planet and pin sprites (the
 *                                  preview draws no solar system); anything else is 404
 *   GET /api/images                JSON: the studies waiting in out_todo and published in out_done
 *   GET /wtml/<area>/<id>.wtml     the image's index_rel.wtml with its URLs made absolute
 *                                  (the engine resolves relative URLs as host names)
 *   GET /files/<area>/<id>/<name>  one file of out_todo/<id>/ or out_done/<id>/
 *
 * Only plain names are served (no "/", no leading dot, no ".."): a request cannot leave the
 * image folder, and the resolved real path is checked again to rule out symlinks pointing out.
 *
 * Requests must name this server in their Host header (127.0.0.1 or localhost, with or without
 * its port); others get 421. Binding to 127.0.0.1 keeps other machines out, but a web page the
 * browser loaded from elsewhere could still reach the server through a host name it points at
 * 127.0.0.1 (DNS rebinding); such requests carry that host name and are refused.
 */
import { createReadStream, promises as fsp } from 'node:fs';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo, Socket } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { CONFIG_NAME, parseConfig, type PipelineConfig } from '../pipeline/config.js';
import { Workdir } from '../pipeline/workdir.js';
import { ToastyError } from '../util/errors.js';
import { silentLog, type Log } from '../util/log.js';
import { INDEX_REL_WTML, PIXEL_FOLDER, UNTILED_IMAGE_NAME } from '../wwt/study-files.js';
import { absolutizeStudyUrls, parseWtml, writeWtml } from '../wwt/wtml.js';
import { engineBoundaryFile, engineNamePositionsFile, readBoundaryTable } from './sky-assets.js';

export type PreviewArea = 'out_todo' | 'out_done';
const AREAS: readonly PreviewArea[] = ['out_todo', 'out_done'];

/** One study as the page lists it. */
export interface PreviewImage {
  id: string;
  area: PreviewArea;
  title: string;
  /** URL of the thumbnail on this server, or '' when the study has none. */
  thumbUrl: string;
  /** URL of the absolutised WTML on this server. */
  wtmlUrl: string;
  kind: 'tiled' | 'single';
  /** Image size in pixels when known: the downloaded file's own (or the single image's). */
  width: number | null;
  height: number | null;
  /**
   * The size the feed record gives (its WCS reference dimension) when the work dir's copy of
   * the config can read the cached record; feeds often describe a larger original than the
   * file they serve.
   */
  recordWidth: number | null;
  recordHeight: number | null;
  /** For a waiting image: the command that rejects it, to copy (see PreviewCommands). */
  rejectCommand?: string;
  /** For a rejected image: the command that takes the rejection back, to copy. */
  undoCommand?: string;
  ra: number; // hours
  dec: number; // degrees
  zoomLevel: number;
  rotation: number; // ImageSet rotation, degrees
  tileLevels: number;
  baseDegreesPerTile: number;
  projection: string;
  bottomsUp: boolean;
  /** Set when the study's WTML cannot be read: the page shows it instead of the image. */
  error?: string;
  /** Set when the repository has `<id>/skip.flag` (`toasty reject`): not to be published; reason null when the flag gives none. */
  rejected?: { reason: string | null };
}

/**
 * The repository arguments the preview was started with (`--local=DIR`, `--azure-conn-env=NAME`
 * ..., never a secret's value) and the work directory as given: the page shows the reject and
 * publish commands with them.
 */
export interface PreviewCommandArgs {
  repoArgs: string[];
  workdir: string;
}

/** Which of `ids` the repository marks rejected (skip.flag), with the reason. */
export type RejectionLookup = (ids: string[]) => Promise<ReadonlyMap<string, { reason: string | null }>>;

export interface PreviewServerOptions {
  workdir: string;
  /** Without it the page shows no commands. */
  commandArgs?: PreviewCommandArgs;
  /** 0 (default) picks a free port. */
  port?: number;
  log?: Log;
  /** Marks rejected images (when the command knows the repository); none without it. */
  rejections?: RejectionLookup;
}

export interface PreviewServer {
  /** `http://127.0.0.1:PORT/` */
  url: string;
  port: number;
  close(): Promise<void>;
}

const HOST = '127.0.0.1';
const SAFE_ID = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/;
const SAFE_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/;

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.wtml': 'application/xml; charset=utf-8',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
};

/** True for a plain path segment that cannot climb out of its folder. */
export function isSafeSegment(s: string, re: RegExp = SAFE_NAME): boolean {
  return re.test(s) && !s.includes('..');
}

/**
 * The page's static files are not compiled by tsc: look next to this module (tsx runs the
 * source) and in src/preview/ relative to the compiled dist/src/preview/server.js.
 */
async function findStaticDir(): Promise<string> {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const candidates = [here, path.resolve(here, '../../../src/preview')];
  for (const dir of candidates) {
    try {
      await fsp.access(path.join(dir, 'page.html'));
      return dir;
    } catch {
      // try the next place
    }
  }
  throw new ToastyError('internal', `preview page not found (looked in ${candidates.join(', ')})`);
}

function findEngineScript(): string {
  const require = createRequire(import.meta.url);
  const pkg = require.resolve('@wwtelescope/engine/package.json');
  return path.join(path.dirname(pkg), 'src', 'index.js');
}

/** Sprites the engine loads at start whatever is shown: planets, moons, pins, star profile. */
const PLACEHOLDER_SPRITES = new Set(
  [
    'sun',
    'mercury',
    'venus',
    'mars',
    'jupiter',
    'saturn',
    'uranus',
    'neptune',
    'pluto',
    'moon',
    'io',
    'europa',
    'ganymede',
    'callisto',
    'moonshadow',
    'sunCorona',
    'earth',
    'pins',
    'StarProfileAlpha',
  ].map((n) => `${n}.png`),
);

/** The engine's asset folder, answered locally (built on first use). */
function engineAssets(): (name: string) => Promise<{ body: string | Buffer; type: string } | null> {
  let text: Record<string, string> | null = null;
  let sprite: Buffer | null = null;
  return async (name) => {
    if (PLACEHOLDER_SPRITES.has(name)) {
      sprite ??= await sharp({ create: { width: 1, height: 1, channels: 4, background: { r: 0, g: 0, b: 0, alpha: 0 } } })
        .png()
        .toBuffer();
      return { body: sprite, type: CONTENT_TYPES['.png'] };
    }
    if (!text) {
      const polygons = readBoundaryTable();
      text = {
        'constellations.txt': engineBoundaryFile(polygons),
        'ConstellationNamePositions_v2_EN.txt': engineNamePositionsFile(polygons),
        'moons.txt': '',
        // Requested before the page turns figures off; empty, the engine draws none.
        'figures.txt': '',
      };
    }
    return Object.hasOwn(text, name) ? { body: text[name], type: 'text/plain; charset=utf-8' } : null;
  };
}

function send(res: ServerResponse, status: number, body: string | Buffer, type = 'text/plain; charset=utf-8') {
  res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
  res.end(body);
}

async function sendFile(req: IncomingMessage, res: ServerResponse, file: string, within: string): Promise<void> {
  let real: string;
  try {
    real = await fsp.realpath(file);
    const root = await fsp.realpath(within);
    if (real !== root && !real.startsWith(root + path.sep)) return send(res, 403, 'forbidden\n');
    const st = await fsp.stat(real);
    if (!st.isFile()) return send(res, 404, 'not found\n');
    res.writeHead(200, {
      'content-type': CONTENT_TYPES[path.extname(file).toLowerCase()] ?? 'application/octet-stream',
      'content-length': String(st.size),
      'cache-control': 'no-store',
    });
  } catch {
    return send(res, 404, 'not found\n');
  }
  if (req.method === 'HEAD') {
    res.end();
    return;
  }
  await new Promise<void>((resolve) => {
    const s = createReadStream(real);
    s.on('error', () => {
      res.destroy();
      resolve();
    });
    s.on('end', resolve);
    s.pipe(res);
  });
}

/** Width and height of the downloaded image (its header only), or of the single image itself. */
async function imageSize(wd: Workdir, id: string, dir: string): Promise<{ width: number | null; height: number | null }> {
  for (const file of [await wd.cachedImage(id), path.join(dir, UNTILED_IMAGE_NAME)]) {
    if (!file) continue;
    try {
      const m = await sharp(file).metadata();
      if (m.width && m.height) return { width: m.width, height: m.height };
    } catch {
      // not readable: try the next, or the size stays unknown
    }
  }
  return { width: null, height: null };
}

/** A word for a POSIX shell: as is when plain, else single-quoted. */
export function shellQuote(word: string): string {
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(word)) return word;
  return `'${word.replaceAll("'", `'\\''`)}'`;
}

const shellLine = (words: string[]) => words.map(shellQuote).join(' ');

/** `toasty reject ...` for one waiting image, the reason left for the reviewer to write. */
export function rejectCommand(args: PreviewCommandArgs, id: string): string {
  return `${shellLine(['toasty', 'reject', ...args.repoArgs, args.workdir, id])} --reason "..."`;
}

/** `toasty reject --undo ...`: takes one image's rejection back. */
export function undoRejectCommand(args: PreviewCommandArgs, id: string): string {
  return shellLine(['toasty', 'reject', '--undo', ...args.repoArgs, args.workdir, id]);
}

/** `toasty pipeline-publish-todos ...`: uploads everything waiting. */
export function publishCommand(args: PreviewCommandArgs): string {
  return shellLine(['toasty', 'pipeline-publish-todos', ...args.repoArgs, args.workdir]);
}

/**
 * The claimed size of each image, from the record cached with its download, read by the
 * source the work dir's copy of the config names; null when any of that is missing.
 */
async function recordSizeReader(wd: Workdir): Promise<(id: string) => Promise<{ recordWidth: number | null; recordHeight: number | null }>> {
  const none = { recordWidth: null, recordHeight: null };
  let source: PipelineConfig['source'];
  try {
    source = parseConfig(await fsp.readFile(path.join(wd.root, CONFIG_NAME), 'utf8')).source;
  } catch {
    return async () => none;
  }
  return async (id) => {
    try {
      const record = await wd.cachedRecord(id, source.recordFile);
      if (!record) return none;
      const [w, h] = source.study(record, id).wcs.referenceDimension;
      return Number.isFinite(w) && Number.isFinite(h) && w > 0 && h > 0 ? { recordWidth: Math.round(w), recordHeight: Math.round(h) } : none;
    } catch {
      return none;
    }
  };
}

export interface PreviewListing {
  todo: PreviewImage[];
  done: PreviewImage[];
  /** The command that publishes the waiting images, when the server knows the arguments. */
  publishCommand?: string;
}

/** Everything the page needs to know about the studies of a work directory. */
export async function listPreviewImages(
  workdir: string,
  { commandArgs, rejections }: { commandArgs?: PreviewCommandArgs; rejections?: RejectionLookup } = {},
): Promise<PreviewListing> {
  const wd = new Workdir(workdir);
  const out: PreviewListing = { todo: [], done: [] };
  if (commandArgs) out.publishCommand = publishCommand(commandArgs);
  const recordSize = await recordSizeReader(wd);
  for (const area of AREAS) {
    for (const id of await wd.ids(area)) {
      if (!isSafeSegment(id, SAFE_ID)) continue;
      const dir = wd.dir(area, id);
      const base: PreviewImage = {
        id,
        area,
        title: id,
        thumbUrl: '',
        wtmlUrl: `/wtml/${area}/${encodeURIComponent(id)}.wtml`,
        kind: 'tiled',
        width: null,
        height: null,
        recordWidth: null,
        recordHeight: null,
        ra: 0,
        dec: 0,
        zoomLevel: 0,
        rotation: 0,
        tileLevels: 0,
        baseDegreesPerTile: 0,
        projection: '',
        bottomsUp: false,
      };
      try {
        const place = parseWtml(await fsp.readFile(path.join(dir, INDEX_REL_WTML))).children[0];
        if (!place) throw new ToastyError('wtml', `${INDEX_REL_WTML} has no Place`);
        const s = place.imageSet;
        Object.assign(base, {
          title: place.name || id,
          thumbUrl: s.thumbnailUrl && isSafeSegment(s.thumbnailUrl) ? `/files/${area}/${encodeURIComponent(id)}/${s.thumbnailUrl}` : '',
          kind: s.projection === 'SkyImage' ? 'single' : 'tiled',
          ra: place.ra,
          dec: place.dec,
          zoomLevel: place.zoomLevel,
          rotation: s.rotation,
          tileLevels: s.tileLevels,
          baseDegreesPerTile: s.baseDegreesPerTile,
          projection: s.projection,
          bottomsUp: s.bottomsUp,
          ...(await imageSize(wd, id, dir)),
          ...(await recordSize(id)),
        });
      } catch (e) {
        base.error = e instanceof Error ? e.message : String(e);
      }
      if (area === 'out_todo' && commandArgs) base.rejectCommand = rejectCommand(commandArgs, id);
      (area === 'out_todo' ? out.todo : out.done).push(base);
    }
  }
  if (rejections) {
    const all = [...out.todo, ...out.done];
    const marked = await rejections([...new Set(all.map((i) => i.id))]);
    for (const image of all) {
      const r = marked.get(image.id);
      if (!r) continue;
      image.rejected = r;
      // Rejecting it again is no action; taking the rejection back is.
      delete image.rejectCommand;
      if (commandArgs) image.undoCommand = undoRejectCommand(commandArgs, image.id);
    }
  }
  return out;
}

/** Start the preview server on 127.0.0.1. */
export async function startPreviewServer(opts: PreviewServerOptions): Promise<PreviewServer> {
  const log = opts.log ?? silentLog;
  const workdir = path.resolve(opts.workdir);
  const staticDir = await findStaticDir();
  const engineScript = findEngineScript();
  const engineAsset = engineAssets();
  const statics: Record<string, string> = {
    '/': 'page.html',
    '/index.html': 'page.html',
    '/page.js': 'page.js',
    '/page.css': 'page.css',
  };
  let origin = '';
  let allowedHosts = new Set<string>();

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (!allowedHosts.has((req.headers.host ?? '').toLowerCase()))
      return send(res, 421, 'misdirected request: this server answers only to 127.0.0.1 and localhost\n');
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, 'method not allowed\n');
    let pathname: string;
    try {
      pathname = decodeURIComponent(new URL(req.url ?? '/', origin).pathname);
    } catch {
      return send(res, 400, 'bad request\n');
    }
    const staticName = statics[pathname];
    if (staticName) return sendFile(req, res, path.join(staticDir, staticName), staticDir);
    if (pathname === '/engine/wwtlib.js') return sendFile(req, res, engineScript, path.dirname(engineScript));
    if (pathname === '/favicon.ico') return send(res, 204, '');
    if (pathname.startsWith('/engine-assets/')) {
      const asset = await engineAsset(pathname.slice('/engine-assets/'.length));
      return asset ? send(res, 200, asset.body, asset.type) : send(res, 404, 'not found\n');
    }
    if (pathname === '/api/images') {
      return send(res, 200, JSON.stringify(await listPreviewImages(workdir, opts)), CONTENT_TYPES['.json']);
    }
    const parts = pathname.split('/');
    // ['', 'wtml', area, '<id>.wtml']
    if (parts.length === 4 && parts[1] === 'wtml' && parts[3].endsWith('.wtml')) {
      const area = parts[2] as PreviewArea;
      const id = parts[3].slice(0, -'.wtml'.length);
      if (!AREAS.includes(area) || !isSafeSegment(id, SAFE_ID)) return send(res, 404, 'not found\n');
      let text: string;
      try {
        text = await fsp.readFile(path.join(workdir, area, id, INDEX_REL_WTML), 'utf8');
      } catch {
        return send(res, 404, 'not found\n');
      }
      const folder = absolutizeStudyUrls(parseWtml(text), `${origin}/files/${area}/${encodeURIComponent(id)}/`);
      return send(res, 200, writeWtml(folder), CONTENT_TYPES['.wtml']);
    }
    // ['', 'files', area, id, name], or [..., id, pixelFolder, name] for a re-published study
    // (its WTML addresses the pixels in a folder named by their digest; the work dir keeps
    // them flat).
    if (parts.length === 6 && parts[1] === 'files' && PIXEL_FOLDER.test(parts[4])) parts.splice(4, 1);
    if (parts.length === 5 && parts[1] === 'files') {
      const [, , area, id, name] = parts;
      if (!AREAS.includes(area as PreviewArea) || !isSafeSegment(id, SAFE_ID) || !isSafeSegment(name)) {
        return send(res, 404, 'not found\n');
      }
      const areaDir = path.join(workdir, area);
      return sendFile(req, res, path.join(areaDir, id, name), areaDir);
    }
    return send(res, 404, 'not found\n');
  }

  const sockets = new Set<Socket>();
  const server = http.createServer((req, res) => {
    res.on('finish', () => log.debug(`preview: ${req.method} ${req.url} ${res.statusCode}`));
    handle(req, res).catch((e: unknown) => {
      log.warn(`preview: ${req.url}: ${e instanceof Error ? e.message : String(e)}`);
      if (!res.headersSent) send(res, 500, 'internal error\n');
      else res.destroy();
    });
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) =>
      reject(new ToastyError('usage', `cannot listen on ${HOST}:${opts.port ?? 0}: ${e.code ?? e.message}`, { field: 'port', cause: e })),
    );
    server.listen(opts.port ?? 0, HOST, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  origin = `http://${HOST}:${port}`;
  allowedHosts = new Set([HOST, 'localhost'].flatMap((h) => [h, `${h}:${port}`]));
  return {
    url: `${origin}/`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
