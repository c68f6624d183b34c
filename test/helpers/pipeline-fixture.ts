/**
 * End-to-end fixture: a loopback HTTP server serving the test images and a feed, a data
 * repository (a local folder, or a container in a real Azurite), a work dir, and a way to run
 * the real `toasty` binary against them. Results are read back through the Repository API.
 */
import { spawn } from 'node:child_process';
import { type Dirent, promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { BlobServiceClient } from '@azure/storage-blob';
import { AzureRepository } from '../../src/storage/azure.js';
import { LocalRepository } from '../../src/storage/local.js';
import type { Repository } from '../../src/storage/types.js';
import { temporaryOwner } from '../../src/util/temporaries.js';
import { startTestServer, type Handler, type TestServer, sendFile } from './http-server.js';
import { startAzurite, type AzuriteHandle } from './azurite.js';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const TESTDATA = path.join(ROOT, 'examples', 'images');
export const TOASTY = path.join(ROOT, 'bin', 'toasty.js');
export const PREFIX = 'http://data.example.org/feeds/astropix/';
export const IDS = { ngc253: 'nrao_nrao_gallery009', ngc7552: 'noirlab_geminiann11015a' } as const;

export type RepoKind = { kind: 'local' } | { kind: 'azure'; prefix: string };

export interface ToastyRun {
  code: number;
  stdout: string;
  stderr: string;
  /** Parsed stdout when --json was given. */
  json?: {
    nodes: Array<{ rule: string; image: string | null; reason: string; cause: { kind: string; changes?: Array<{ path: string }> } }>;
    [k: string]: unknown;
  };
}

let azurite: AzuriteHandle | null = null;
let containerSeq = 0;

/** One Azurite for the whole test file (stopped by `stopSharedAzurite`). */
export async function sharedAzurite(): Promise<AzuriteHandle> {
  azurite ??= await startAzurite();
  return azurite;
}

export async function stopSharedAzurite(): Promise<void> {
  await azurite?.stop();
  azurite = null;
}

export class Fixture {
  server!: TestServer;
  repo!: Repository;
  repoArgs: string[] = [];
  env: Record<string, string> = {};
  workdir = '';
  tmp = '';
  feedText = '';
  readonly routes: Record<string, Handler> = {};

  constructor(readonly kind: RepoKind) {}

  static async create(kind: RepoKind): Promise<Fixture> {
    const f = new Fixture(kind);
    f.tmp = await fsp.mkdtemp(path.join(os.tmpdir(), 'toasty-e2e-'));
    f.workdir = path.join(f.tmp, 'work');
    f.routes['/feed.json'] = (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(f.feedText);
    };
    f.server = await startTestServer({ root: TESTDATA, routes: f.routes });
    if (kind.kind === 'local') {
      const dir = path.join(f.tmp, 'repo');
      await fsp.mkdir(dir);
      f.repo = new LocalRepository(dir);
      f.repoArgs = [`--local=${dir}`];
    } else {
      const az = await sharedAzurite();
      const container = `e2e${process.pid}x${++containerSeq}`;
      await BlobServiceClient.fromConnectionString(az.connectionString).createContainer(container);
      f.repo = new AzureRepository({ connectionString: az.connectionString, container, pathPrefix: kind.prefix });
      f.env.TOASTY_TEST_AZ = az.connectionString;
      f.repoArgs = ['--azure-conn-env=TOASTY_TEST_AZ', `--azure-container=${container}`];
      if (kind.prefix) f.repoArgs.push(`--azure-path-prefix=${kind.prefix}`);
    }
    f.setRecords(await f.baseRecords());
    await f.writeConfig();
    return f;
  }

  get baseUrl(): string {
    return this.server.baseUrl;
  }

  /** The two testdata records, pointing at this fixture's server. */
  async baseRecords(): Promise<Array<Record<string, unknown>>> {
    const text = await fsp.readFile(path.join(ROOT, 'examples', 'astropix-feed.template.json'), 'utf8');
    return JSON.parse(text.replaceAll('{{BASE}}', this.server.baseUrl));
  }

  setRecords(records: unknown[]): void {
    this.feedText = JSON.stringify(records, null, 1);
  }

  /** Serve `file` (or a handler) at `/name` on the test server. */
  serve(name: string, what: string | Handler): string {
    this.routes[`/${name}`] = typeof what === 'string' ? sendFile(what) : what;
    return `${this.server.baseUrl}/${name}`;
  }

  async writeConfig(over: Record<string, string> = {}): Promise<void> {
    const c = {
      json_query_url: `${this.server.baseUrl}/feed.json`,
      publish_url_prefix: PREFIX,
      folder_name: 'AstroPix test feed',
      folder_thumbnail_url: 'http://data.example.org/feeds/astropix/thumb.jpg',
      ...over,
    };
    const yaml = [
      `source_type: ${over.source_type ?? 'astropix'}`,
      'astropix:',
      `  json_query_url: ${JSON.stringify(c.json_query_url)}`,
      `publish_url_prefix: ${JSON.stringify(c.publish_url_prefix)}`,
      `folder_name: ${JSON.stringify(c.folder_name)}`,
      `folder_thumbnail_url: ${JSON.stringify(c.folder_thumbnail_url)}`,
      '',
    ].join('\n');
    await this.repo.put('toasty-pipeline-config.yaml', yaml);
  }

  /** Run the real CLI (asynchronously: this process serves the feed meanwhile). */
  toasty(...args: string[]): Promise<ToastyRun> {
    return runToasty(args, this.env);
  }

  /** `toasty <cmd> {repo args} WORKDIR [...extra]`. */
  run(cmd: string, ...extra: string[]): Promise<ToastyRun> {
    return this.toasty(cmd, ...this.repoArgs, this.workdir, ...extra);
  }

  async text(itemPath: string): Promise<string | null> {
    const b = await this.repo.get(itemPath);
    return b ? b.toString('utf8') : null;
  }

  async close(): Promise<void> {
    await this.server.close();
    await fsp.rm(this.tmp, { recursive: true, force: true });
  }
}

export function runToasty(
  args: string[],
  env: Record<string, string> = {},
  opts: { onSpawn?: (pid: number) => void; cwd?: string; umask?: number /** Run through this command (e.g. setpriv ...). */; via?: string[] } = {},
): Promise<ToastyRun> {
  return new Promise((resolve, reject) => {
    // With a umask, through sh (Node can set its own umask, not a child's); exec keeps the pid.
    const [cmd, argv] = opts.via
      ? [opts.via[0], [...opts.via.slice(1), process.execPath, TOASTY, ...args]]
      : opts.umask === undefined
        ? [process.execPath, [TOASTY, ...args]]
        : ['/bin/sh', ['-c', `umask ${opts.umask.toString(8).padStart(3, '0')} && exec "$0" "$@"`, process.execPath, TOASTY, ...args]];
    const child = spawn(cmd, argv, {
      env: { ...process.env, CI: '1', ...env },
      cwd: opts.cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    opts.onSpawn?.(child.pid!);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      const r: ToastyRun = { code: code ?? (signal ? 128 : 1), stdout, stderr };
      if (args.includes('--json') && stdout.trim()) {
        try {
          r.json = JSON.parse(stdout);
        } catch {
          /* leave undefined: the test will say so */
        }
      }
      resolve(r);
    });
  });
}

/** `rule:image` for each node of a --json run, in order. */
export const ran = (r: ToastyRun): string[] => (r.json?.nodes ?? []).map((n) => `${n.rule}:${n.image ?? '-'}`);

/** Every entry below `dir` (a missing folder has none), depth first, with its path relative to `dir`. */
async function walkTree(dir: string, visit: (rel: string, entry: Dirent) => Promise<void> | void): Promise<void> {
  const walk = async (d: string) => {
    let entries: Dirent[];
    try {
      entries = await fsp.readdir(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const p = path.join(d, e.name);
      await visit(path.relative(dir, p), e);
      if (e.isDirectory()) await walk(p);
    }
  };
  await walk(dir);
}

/** Every toasty temporary (by its name) below `dir`, as paths relative to it, sorted. */
export async function temporariesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  await walkTree(dir, (rel, e) => {
    if (temporaryOwner(e.name) !== null) out.push(rel);
  });
  return out.sort();
}

/** Every file below `dir` with its bytes' hex SHA-256 (for byte-identity checks). */
export async function hashTree(dir: string): Promise<Record<string, string>> {
  const { createHash } = await import('node:crypto');
  const out: Record<string, string> = {};
  await walkTree(dir, async (rel, e) => {
    if (e.isDirectory()) return;
    out[rel] = createHash('sha256')
      .update(await fsp.readFile(path.join(dir, rel)))
      .digest('hex');
  });
  return out;
}
