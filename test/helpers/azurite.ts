/**
 * Run a private Azurite blob server for a test: a child process on a free 127.0.0.1 port with
 * its own data folder. The child also exits when this process goes away (exit handler plus an
 * IPC channel whose disconnect ends it), so a crashed test never leaves Azurite running.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const AZURITE_MAIN = path.join(REPO_ROOT, 'node_modules', 'azurite', 'dist', 'src', 'blob', 'main.js');

/**
 * Well-known Azurite development account and key (public; same value as Azurite's
 * EMULATOR_ACCOUNT_KEY_STR). A different key is rejected with 403 AuthorizationFailure.
 */
export const DEV_ACCOUNT = 'devstoreaccount1';
export const DEV_ACCOUNT_KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

/** Azurite's metadata files: written every 5 s and on a clean stop, not on each request. */
const LOKI_FILES = ['__azurite_db_blob__.json', '__azurite_db_blob_extent__.json'];

export function devConnectionString(blobEndpoint: string, accountKey = DEV_ACCOUNT_KEY): string {
  return `DefaultEndpointsProtocol=http;AccountName=${DEV_ACCOUNT};AccountKey=${accountKey};BlobEndpoint=${blobEndpoint};`;
}

export interface AzuriteHandle {
  connectionString: string;
  blobEndpoint: string;
  port: number;
  location: string;
  /** Clean stop (SIGTERM; Azurite saves its metadata). Removes a temp location. */
  stop(): Promise<void>;
  /** SIGKILL at once, like a crash (no metadata save). The location is kept for restart(). */
  kill(): void;
  /** Start again on the same location and port (after stop-less kill() or while running). */
  restart(): Promise<void>;
  /**
   * Wait until Azurite has saved its metadata to disk after time `since` (ms epoch; default
   * now). Azurite autosaves every 5 s, so a SIGKILL loses the last few seconds of writes;
   * call this before kill() when a test needs earlier writes to survive.
   */
  waitPersisted(since?: number): Promise<void>;
}

const live = new Set<ChildProcess>();
let exitHookInstalled = false;

function installExitHook() {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const c of live) {
      try {
        c.kill('SIGKILL');
      } catch {
        /* already gone */
      }
    }
  });
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// Preloaded into the Azurite process: leave when the parent's IPC channel closes (parent died).
// The channel is unref'd so it does not keep Azurite alive after a SIGTERM shutdown.
const ORPHAN_GUARD = `data:text/javascript,process.on('disconnect',()=>process.exit(0));process.channel&&process.channel.unref();`;

function launch(location: string, port: number, stderrTail: string[]): ChildProcess {
  const child = spawn(
    process.execPath,
    [
      '--import',
      ORPHAN_GUARD,
      AZURITE_MAIN,
      '--silent',
      '--disableTelemetry',
      '--skipApiVersionCheck',
      '--location',
      location,
      '--blobHost',
      '127.0.0.1',
      '--blobPort',
      String(port),
    ],
    { stdio: ['ignore', 'ignore', 'pipe', 'ipc'], cwd: location },
  );
  child.stderr?.on('data', (d: Buffer) => {
    stderrTail.push(d.toString());
    if (stderrTail.length > 20) stderrTail.shift();
  });
  // Do not keep the test process alive for Azurite; the exit hook kills it.
  child.unref();
  (child.stderr as unknown as { unref?: () => void } | null)?.unref?.();
  (child.channel as unknown as { unref?: () => void } | undefined)?.unref?.();
  live.add(child);
  child.once('exit', () => live.delete(child));
  installExitHook();
  return child;
}

function waitExit(child: ChildProcess, ms: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(false), ms);
    child.once('exit', () => {
      clearTimeout(t);
      resolve(true);
    });
  });
}

async function waitReady(child: ChildProcess, port: number, stderrTail: string[], ms = 15_000): Promise<void> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`Azurite exited early (${child.exitCode ?? child.signalCode}): ${stderrTail.join('').slice(-800)}`);
    }
    if (await canConnect(port)) return;
    await sleep(50);
  }
  child.kill('SIGKILL');
  throw new Error(`Azurite did not listen on 127.0.0.1:${port} within ${ms} ms: ${stderrTail.join('').slice(-800)}`);
}

export async function startAzurite(opts: { location?: string } = {}): Promise<AzuriteHandle> {
  const ownLocation = !opts.location;
  const location = opts.location ?? (await fsp.mkdtemp(path.join(os.tmpdir(), 'toasty-azurite-')));
  await fsp.mkdir(location, { recursive: true });
  const stderrTail: string[] = [];
  let port = 0;
  let child: ChildProcess | null = null;
  // A port picked free can be grabbed by someone else before Azurite binds it: retry a few times.
  for (let attempt = 0; ; attempt++) {
    port = await freePort();
    child = launch(location, port, stderrTail);
    try {
      await waitReady(child, port, stderrTail);
      break;
    } catch (e) {
      if (attempt >= 2) {
        if (ownLocation) await fsp.rm(location, { recursive: true, force: true });
        throw e;
      }
    }
  }
  const blobEndpoint = `http://127.0.0.1:${port}/${DEV_ACCOUNT}`;

  const handle: AzuriteHandle = {
    connectionString: devConnectionString(blobEndpoint),
    blobEndpoint,
    port,
    location,
    async stop() {
      const c = child;
      child = null;
      if (c) {
        c.kill('SIGTERM');
        if (!(await waitExit(c, 5_000))) {
          c.kill('SIGKILL');
          await waitExit(c, 5_000);
        }
      }
      if (ownLocation) await fsp.rm(location, { recursive: true, force: true });
    },
    kill() {
      child?.kill('SIGKILL');
    },
    async restart() {
      const old = child;
      if (old && old.exitCode === null && old.signalCode === null) {
        old.kill('SIGTERM');
        if (!(await waitExit(old, 5_000))) old.kill('SIGKILL');
      }
      if (old) await waitExit(old, 5_000);
      // The old listener is gone; wait until the port is really free before rebinding it.
      for (let i = 0; i < 100 && (await canConnect(port)); i++) await sleep(50);
      child = launch(location, port, stderrTail);
      await waitReady(child, port, stderrTail);
    },
    async waitPersisted(since = Date.now()) {
      const until = Date.now() + 15_000;
      while (Date.now() < until) {
        const times = await Promise.all(
          LOKI_FILES.map((f) =>
            fsp.stat(path.join(location, f)).then(
              (s) => s.mtimeMs,
              () => 0,
            ),
          ),
        );
        if (times.every((t) => t > since)) return;
        await sleep(100);
      }
      throw new Error('Azurite did not save its metadata within 15 s');
    },
  };
  return handle;
}
