/**
 * A loopback HTTP server for tests: serves files from a folder and scripted routes that
 * simulate trouble (error statuses, failures then success, slow or trickling responses,
 * truncated bodies, redirects, HTML instead of an image, connection resets).
 *
 *   const srv = await startTestServer({
 *     root: '/work/shared/testdata',                          // GET /NGC253ALMA.jpg etc.
 *     routes: {
 *       '/flaky.jpg': failTimes(2, 500, sendFile(jpg)),      // 500, 500, then the file
 *       '/gone.jpg': status(404),
 *       '/moved.jpg': redirectTo('/NGC253ALMA.jpg'),
 *       '/away.jpg': redirectTo((ctx) => `${ctx.server.otherHostBaseUrl}/NGC253ALMA.jpg`),
 *     },
 *   });
 *   ... fetch(`${srv.baseUrl}/flaky.jpg`) ...; srv.hits.get('/flaky.jpg') === 3
 *   await srv.close();
 *
 * Listens on 127.0.0.1 with an ephemeral port. `otherHostBaseUrl` uses the host name
 * `localhost` for the same port: a different host string, for cross-host redirect tests (it is
 * not guaranteed to connect, since `localhost` may resolve to ::1). Routes match the request
 * path exactly (query ignored) and win over files. `close()` cancels pending timers and drops
 * open connections, so slow routes never keep a test process alive.
 */
import { createReadStream, promises as fsp } from 'node:fs';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import path from 'node:path';

export interface ServerInfo {
  /** `http://127.0.0.1:PORT` (no trailing slash). */
  baseUrl: string;
  /** `http://localhost:PORT`: same server, different host name. */
  otherHostBaseUrl: string;
  port: number;
}

export interface RouteContext {
  /** How many requests this path has received, this one included (1 on the first). */
  hit: number;
  /** The full request URL. */
  url: URL;
  server: ServerInfo;
  /** setTimeout that `close()` cancels; use it for every delay in a handler. */
  later(ms: number, fn: () => void): void;
}

export type Handler = (req: IncomingMessage, res: ServerResponse, ctx: RouteContext) => void | Promise<void>;

export interface TestServer extends ServerInfo {
  /** Requests per path (query ignored), counted for every request including 404s. */
  hits: Map<string, number>;
  /** Every request in arrival order. */
  requests: Array<{ method: string; path: string; headers: http.IncomingHttpHeaders }>;
  close(): Promise<void>;
}

const CONTENT_TYPES: Record<string, string> = {
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.png': 'image/png',
  '.tif': 'image/tiff',
  '.tiff': 'image/tiff',
  '.json': 'application/json',
  '.wtml': 'text/xml',
  '.xml': 'text/xml',
  '.html': 'text/html',
  '.txt': 'text/plain',
  '.yaml': 'text/yaml',
};

export function contentTypeFor(file: string): string {
  return CONTENT_TYPES[path.extname(file).toLowerCase()] ?? 'application/octet-stream';
}

// ---------------------------------------------------------------------------------------------
// Route building blocks

/** Serve a file (Content-Type from its extension unless given). */
export function sendFile(file: string, contentType = contentTypeFor(file)): Handler {
  return async (_req, res) => {
    const body = await fsp.readFile(file);
    res.writeHead(200, { 'content-type': contentType, 'content-length': body.length });
    res.end(body);
  };
}

/** Serve fixed bytes or text. */
export function sendBytes(body: Uint8Array | string, contentType = 'application/octet-stream'): Handler {
  const buf = typeof body === 'string' ? Buffer.from(body) : Buffer.from(body);
  return (_req, res) => {
    res.writeHead(200, { 'content-type': contentType, 'content-length': buf.length });
    res.end(buf);
  };
}

/** A fixed status with a short text body. */
export function status(code: number, body = `${code} ${http.STATUS_CODES[code] ?? ''}\n`, headers: http.OutgoingHttpHeaders = {}): Handler {
  return (_req, res) => {
    res.writeHead(code, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body), ...headers });
    res.end(body);
  };
}

/** An HTML page with status 200 (what a captive portal or a CMS error page looks like). */
export function html(body = '<!DOCTYPE html><html><body><h1>Not here</h1></body></html>\n'): Handler {
  return sendBytes(body, 'text/html; charset=utf-8');
}

/** The first `n` requests get `failure` (a status code or a handler), later ones `then`. */
export function failTimes(n: number, failure: number | Handler, then: Handler): Handler {
  const fail = typeof failure === 'number' ? status(failure) : failure;
  return (req, res, ctx) => (ctx.hit <= n ? fail(req, res, ctx) : then(req, res, ctx));
}

/** Wait `ms` before running `then` (nothing is sent meanwhile: no headers). */
export function delayHeaders(ms: number, then: Handler): Handler {
  return (req, res, ctx) =>
    new Promise<void>((resolve) => {
      ctx.later(ms, () => {
        if (res.destroyed) return resolve();
        Promise.resolve(then(req, res, ctx)).then(resolve, resolve);
      });
    });
}

/**
 * Send headers (with the full Content-Length) at once, then the body `chunkBytes` at a time
 * every `intervalMs`; `firstChunkBytes` go out immediately.
 */
export function trickle(body: Uint8Array | string, opts: { chunkBytes: number; intervalMs: number; firstChunkBytes?: number; contentType?: string }): Handler {
  const buf = Buffer.from(body);
  return (_req, res, ctx) =>
    new Promise<void>((resolve) => {
      res.writeHead(200, { 'content-type': opts.contentType ?? 'application/octet-stream', 'content-length': buf.length });
      let pos = Math.min(buf.length, opts.firstChunkBytes ?? 0);
      if (pos > 0) res.write(buf.subarray(0, pos));
      const step = () => {
        if (res.destroyed) return resolve();
        if (pos >= buf.length) {
          res.end();
          return resolve();
        }
        const next = Math.min(buf.length, pos + opts.chunkBytes);
        res.write(buf.subarray(pos, next));
        pos = next;
        ctx.later(opts.intervalMs, step);
      };
      ctx.later(opts.intervalMs, step);
    });
}

/** Announce the full Content-Length, send only `sendBytes`, then destroy the socket. */
export function truncated(body: Uint8Array | string, sendBytes: number, contentType = 'application/octet-stream'): Handler {
  const buf = Buffer.from(body);
  return (req, res, ctx) => {
    res.writeHead(200, { 'content-type': contentType, 'content-length': buf.length });
    res.write(buf.subarray(0, sendBytes));
    // Let the partial body leave before cutting the connection.
    ctx.later(20, () => req.socket.destroy());
  };
}

/** Redirect (302 by default) to an absolute or relative location, or one computed per request. */
export function redirectTo(location: string | ((ctx: RouteContext) => string), code = 302): Handler {
  return (_req, res, ctx) => {
    const to = typeof location === 'string' ? location : location(ctx);
    res.writeHead(code, { location: to, 'content-length': 0 });
    res.end();
  };
}

/** Drop the connection without any response (the client sees a reset / "other side closed"). */
export function resetConnection(): Handler {
  return (req) => {
    // A TCP RST where the platform supports it, else a plain close.
    if (typeof req.socket.resetAndDestroy === 'function') req.socket.resetAndDestroy();
    else req.socket.destroy();
  };
}

// ---------------------------------------------------------------------------------------------

async function serveFromRoot(root: string, pathname: string, res: ServerResponse): Promise<void> {
  let rel: string;
  try {
    rel = decodeURIComponent(pathname);
  } catch {
    res.writeHead(400, { 'content-type': 'text/plain' });
    res.end('400 Bad Request\n');
    return;
  }
  const full = path.resolve(root, `.${rel}`);
  const inside = full === path.resolve(root) || full.startsWith(path.resolve(root) + path.sep);
  const st = inside ? await fsp.stat(full).catch(() => null) : null;
  if (!st?.isFile()) {
    res.writeHead(404, { 'content-type': 'text/plain' });
    res.end('404 Not Found\n');
    return;
  }
  res.writeHead(200, { 'content-type': contentTypeFor(full), 'content-length': st.size });
  createReadStream(full).pipe(res);
}

/** Start the server; see the file comment. */
export async function startTestServer(opts: { root?: string; routes?: Record<string, Handler> } = {}): Promise<TestServer> {
  const routes = opts.routes ?? {};
  const hits = new Map<string, number>();
  const requests: TestServer['requests'] = [];
  const timers = new Set<NodeJS.Timeout>();
  const sockets = new Set<Socket>();
  let info: ServerInfo;

  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', info.baseUrl);
    const hit = (hits.get(url.pathname) ?? 0) + 1;
    hits.set(url.pathname, hit);
    requests.push({ method: req.method ?? 'GET', path: url.pathname, headers: req.headers });
    const ctx: RouteContext = {
      hit,
      url,
      server: info,
      later(ms, fn) {
        const t = setTimeout(() => {
          timers.delete(t);
          fn();
        }, ms);
        timers.add(t);
      },
    };
    const route = routes[url.pathname];
    const run = route
      ? Promise.resolve(route(req, res, ctx))
      : opts.root
        ? serveFromRoot(opts.root, url.pathname, res)
        : Promise.resolve(status(404)(req, res, ctx));
    run.catch((e: unknown) => {
      if (!res.headersSent) {
        res.writeHead(500, { 'content-type': 'text/plain' });
        res.end(`test server route failed: ${String(e)}\n`);
      } else {
        res.destroy();
      }
    });
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  info = { baseUrl: `http://127.0.0.1:${port}`, otherHostBaseUrl: `http://localhost:${port}`, port };

  return {
    ...info,
    hits,
    requests,
    async close() {
      for (const t of timers) clearTimeout(t);
      timers.clear();
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
