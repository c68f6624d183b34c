// Errors that stop a command, through the real CLI: one `error:` line naming the thing at
// fault, the right exit status, and never a stack trace unless --verbose asks for one.
// Adding a case is one row.
import { promises as fsp } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { status } from './helpers/http-server.js';
import { Fixture, runToasty } from './helpers/pipeline-fixture.js';

interface Row {
  name: string;
  /** Prepare the fixture; may return the work dir to use (default: the fixture's). */
  setup?: (f: Fixture) => Promise<string | undefined>;
  /** The command line after `make`: default the repository arguments and the work dir. */
  args?: (f: Fixture, workdir: string) => string[];
  /** Run as an unprivileged user (root may write anywhere). */
  unprivileged?: boolean;
  exit: number;
  /** The one `error:` line. */
  error: RegExp;
  /** Text that must not appear in the output. */
  secrets?: string[];
  /** With --verbose: the stack is wanted. */
  stack?: boolean;
}

/** A loopback port nothing listens on. */
async function closedPort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise((r) => srv.close(r));
  return port;
}

const ROWS: Row[] = [
  {
    name: 'work directory is a file',
    setup: async (f) => {
      await fsp.writeFile(f.workdir, 'not a folder');
      return undefined;
    },
    exit: 2,
    error: /^error: work directory \/.*\/work is a file, not a folder$/,
  },
  {
    name: 'work directory is read-only',
    setup: async (f) => {
      await fsp.mkdir(f.workdir, { mode: 0o555 });
      await fsp.chmod(f.workdir, 0o555);
      return undefined;
    },
    unprivileged: true,
    exit: 2,
    error: /^error: work directory \/.*\/work is not writable \(permission denied\)$/,
  },
  {
    name: 'feed refuses connections (URL redacted)',
    setup: async (f) => {
      await f.writeConfig({ json_query_url: `http://127.0.0.1:${await closedPort()}/feed.json?sig=s3cretSignature` });
      return undefined;
    },
    exit: 2,
    error: /^error: feed http:\/\/127\.0\.0\.1:\d+\/feed\.json\?sig=[^ ]*: connection failed \(ECONNREFUSED/,
    secrets: ['s3cretSignature'],
  },
  {
    name: 'feed answers with an error status',
    setup: async (f) => {
      f.routes['/feed.json'] = status(403);
      return undefined;
    },
    exit: 2,
    error: /^error: feed http:\/\/127\.0\.0\.1:\d+\/feed\.json: HTTP 403 Forbidden$/,
  },
  {
    name: 'feed never answers (timeout)',
    setup: async (f) => {
      f.routes['/feed.json'] = () => {}; // holds the request open
      return undefined;
    },
    args: (f, w) => [...f.repoArgs, '--download-timeout', '0.5', w],
    exit: 2,
    error: /^error: feed http:\/\/127\.0\.0\.1:\d+\/feed\.json: (took longer than|timed out)/,
  },
  {
    name: 'no config file in the repository',
    setup: async (f) => {
      await f.repo.delete('toasty-pipeline-config.yaml');
      return undefined;
    },
    exit: 2,
    error: /^error: toasty-pipeline-config\.yaml not found at the root of local folder /,
  },
  {
    name: 'repository folder does not exist',
    args: (f, w) => [`--local=${path.join(f.tmp, 'no-such-repo')}`, w],
    exit: 2,
    error: /^error: local repository folder \/.*\/no-such-repo does not exist/,
  },
  {
    name: 'unknown source_type',
    setup: async (f) => {
      await f.writeConfig({ source_type: 'flickr' });
      return undefined;
    },
    exit: 2,
    error: /^error: toasty-pipeline-config\.yaml: unknown source_type "flickr"/,
  },
  { name: 'bad --shard', args: (f, w) => [...f.repoArgs, '--shard', '3/2', w], exit: 2, error: /^error: shard 3\/2: need I\/N/ },
  {
    name: 'bad -j (not a number)',
    args: (f, w) => [...f.repoArgs, '-j', 'many', w],
    exit: 2,
    error: /^error: -j\/--jobs must be a whole number of 1 or more, not "many"$/,
  },
  { name: 'bad -j (zero)', args: (f, w) => [...f.repoArgs, '-j', '0', w], exit: 2, error: /^error: -j\/--jobs must be a whole number of 1 or more, not "0"$/ },
  {
    // Something toasty has no words for: one line, and the hint where the stack is.
    name: 'unexpected failure',
    setup: async (f) => {
      await fsp.mkdir(path.join(f.workdir, 'toasty-manifest.json'), { recursive: true });
      return undefined;
    },
    exit: 1,
    error: /^error: unexpected failure: EISDIR: .* \(run with --verbose for the stack\)$/,
  },
  {
    name: 'unexpected failure with --verbose shows the stack',
    setup: async (f) => {
      await fsp.mkdir(path.join(f.workdir, 'toasty-manifest.json'), { recursive: true });
      return undefined;
    },
    args: (f, w) => [...f.repoArgs, '--verbose', w],
    exit: 1,
    error: /^error: unexpected failure: Error: EISDIR/,
    stack: true,
  },
];

const asRoot = process.getuid?.() === 0;

for (const row of ROWS) {
  test(`${row.name}: exit ${row.exit}, one error line`, async () => {
    const f = await Fixture.create({ kind: 'local' });
    try {
      const workdir = (await row.setup?.(f)) ?? f.workdir;
      const args = ['make', ...(row.args ? row.args(f, workdir) : [...f.repoArgs, workdir])];
      let r: Awaited<ReturnType<typeof runToasty>>;
      if (row.unprivileged && asRoot) {
        // The fixture's folders are private (mkdtemp): let the unprivileged user reach them.
        await fsp.chmod(f.tmp, 0o755);
        await fsp.chmod(path.join(f.tmp, 'repo'), 0o777);
        r = await runUnprivileged(args, f);
      } else {
        r = await runToasty(args, f.env);
      }
      const lines = r.stderr.split('\n');
      const errors = lines.filter((l) => l.startsWith('error:'));
      assert.is(r.code, row.exit, r.stderr);
      assert.is(errors.length, 1, `exactly one error line:\n${r.stderr}`);
      assert.match(errors[0], row.error);
      const frames = lines.filter((l) => /^\s+at /.test(l));
      if (row.stack) assert.ok(frames.length > 0, `--verbose shows the stack:\n${r.stderr}`);
      else assert.equal(frames, [], 'no stack frames');
      for (const s of row.secrets ?? []) assert.not.ok(`${r.stdout}${r.stderr}`.includes(s), `${s} leaked`);
    } finally {
      await f.close();
    }
  });
}

/** The CLI as user nobody (through setpriv), for permission checks that root would pass. */
function runUnprivileged(args: string[], f: Fixture): Promise<Awaited<ReturnType<typeof runToasty>>> {
  return runToasty(args, f.env, { via: ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'] });
}

test.run();
