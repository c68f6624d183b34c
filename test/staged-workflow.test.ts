// The staged workflow as curators use it, through the real CLI: `toasty init` records the
// repository once (never a secret), the stage commands then take just WORKDIR, and
// `toasty reject` keeps reviewed-out images from being published and out of the root index.
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { LocalRepository } from '../src/storage/local.js';
import { parseWtml } from '../src/wwt/wtml.js';
import { listPreviewImages, shellQuote } from '../src/preview/server.js';
import { readRejections } from '../src/pipeline/reject.js';
import { DEV_ACCOUNT_KEY } from './helpers/azurite.js';
import { Fixture, IDS, PREFIX, hashTree, runToasty, stopSharedAzurite, type ToastyRun } from './helpers/pipeline-fixture.js';

const s = suite('staged workflow');

const ls = async (dir: string) => (await fsp.readdir(dir).catch(() => [] as string[])).sort();
const ok = (r: ToastyRun, what: string) => assert.is(r.code, 0, `${what}: exit ${r.code}\n${r.stderr}`);

/** Ids the repository's root index lists, in order. */
async function indexed(f: Fixture): Promise<string[]> {
  const text = await f.text('index.wtml');
  assert.ok(text, 'root index.wtml exists');
  return parseWtml(text!).children.map((p) => p.imageSet.url.slice(PREFIX.length).split('/')[0]!);
}

/** Every file of a folder, as text (to look for secrets). */
async function allText(dir: string): Promise<string> {
  const files = Object.keys(await hashTree(dir));
  const parts = await Promise.all(files.map((f) => fsp.readFile(path.join(dir, f), 'latin1')));
  return parts.join('\n');
}

s('init, then the four stage commands with only WORKDIR', async () => {
  const f = await Fixture.create({ kind: 'local' });
  try {
    const repoDir = path.join(f.tmp, 'repo');
    // Relative --local: recorded absolute, so the work dir works from any directory.
    let r = await f.toasty('init', '--local=repo', 'work');
    assert.is(r.code, 2, 'the cwd is not the fixture folder: no ./repo there');
    r = await runIn(f, f.tmp, 'init', '--local=repo', 'work');
    ok(r, 'init');
    assert.match(r.stdout, /recorded in .*toasty-workdir\.yaml: local folder /);
    assert.match(r.stdout, /next: toasty pipeline-fetch-inputs work/);
    const recording = await fsp.readFile(path.join(f.workdir, 'toasty-workdir.yaml'), 'utf8');
    assert.match(recording, new RegExp(`local: ${repoDir.replace(/[/.]/g, '\\$&')}\\n`));

    for (const cmd of ['pipeline-fetch-inputs', 'pipeline-process-todos', 'pipeline-publish-todos', 'pipeline-reindex']) {
      ok(await f.toasty(cmd, f.workdir), cmd);
    }
    assert.equal((await indexed(f)).sort(), Object.values(IDS).sort());
    assert.ok(await f.repo.exists(`${IDS.ngc253}/L4X3Y3.png`), 'tiles published through the recorded repository');
    ok(await f.toasty('verify', f.workdir), 'verify with only WORKDIR');

    // init again with the same repository: fine; with another: refused unless --force.
    r = await f.toasty('init', `--local=${repoDir}`, f.workdir);
    ok(r, 'same init');
    assert.match(r.stdout, /already recorded/);
    const other = path.join(f.tmp, 'other');
    await fsp.mkdir(other);
    r = await f.toasty('init', `--local=${other}`, f.workdir);
    assert.is(r.code, 2, r.stderr);
    assert.match(r.stderr, /already records another repository \(local folder .*repo\).*--force/);
    assert.is(await fsp.readFile(path.join(f.workdir, 'toasty-workdir.yaml'), 'utf8'), recording, 'the recording is left alone');
    r = await f.toasty('init', `--local=${other}`, f.workdir, '--force');
    ok(r, 'init --force');
    assert.match(r.stderr, /has no toasty-pipeline-config\.yaml/, 'warns of a repository without a config');
    assert.match(await fsp.readFile(path.join(f.workdir, 'toasty-workdir.yaml'), 'utf8'), /other/);

    // A damaged recording stops the run (exit 2) and says how to mend it.
    await fsp.writeFile(path.join(f.workdir, 'toasty-workdir.yaml'), 'repository: [1, 2]\n');
    r = await f.toasty('pipeline-reindex', f.workdir);
    assert.is(r.code, 2, r.stderr);
    assert.match(r.stderr, /toasty-workdir\.yaml: no repository mapping \(run `toasty init --force`/);

    // No options and no recording: the usage error says how to record them.
    r = await f.toasty('make', path.join(f.tmp, 'fresh-work'));
    assert.is(r.code, 2);
    assert.match(r.stderr, /no data repository given: .*toasty init/);
    r = await f.toasty('init', path.join(f.tmp, 'fresh-work'));
    assert.is(r.code, 2, 'init needs repository options');
  } finally {
    await f.close();
  }
});

/** Run the CLI with a working directory. */
const runIn = (f: Fixture, cwd: string, ...args: string[]): Promise<ToastyRun> => runToasty(args, f.env, { cwd });

s('options on the command line override the recording (said at debug level)', async () => {
  const f = await Fixture.create({ kind: 'local' });
  try {
    const other = path.join(f.tmp, 'other');
    await fsp.mkdir(other);
    const otherRepo = new LocalRepository(other);
    await otherRepo.put('toasty-pipeline-config.yaml', (await f.text('toasty-pipeline-config.yaml'))!);
    ok(await f.toasty('init', `--local=${other}`, f.workdir), 'init');
    const r = await f.toasty('make', ...f.repoArgs, f.workdir, '-v');
    ok(r, 'make with explicit --local');
    assert.match(r.stderr, /debug: repository options on the command line override the ones recorded in .*toasty-workdir\.yaml \(local folder .*other\)/);
    assert.equal((await indexed(f)).sort(), Object.values(IDS).sort(), 'published where the command line said');
    assert.equal(await otherRepo.list(''), [{ name: 'toasty-pipeline-config.yaml', isFolder: false }], 'the recorded repository untouched');
  } finally {
    await f.close();
  }
});

s('Azure: the recording names the variable, never the connection string', async () => {
  const f = await Fixture.create({ kind: 'azure', prefix: 'feeds/astropix' });
  try {
    const conn = f.env.TOASTY_TEST_AZ!;
    const r = await f.toasty('init', ...f.repoArgs, f.workdir);
    ok(r, 'init');
    assert.match(r.stdout, /Azure container e2e\S+, prefix feeds\/astropix, connection string from \$TOASTY_TEST_AZ/);
    ok(await f.toasty('make', f.workdir), 'make with only WORKDIR');
    assert.equal((await indexed(f)).sort(), Object.values(IDS).sort());
    const text = await allText(f.workdir);
    assert.ok(text.includes('azure-conn-env: TOASTY_TEST_AZ'), 'the variable name is recorded');
    for (const secret of [conn, DEV_ACCOUNT_KEY, 'AccountKey']) assert.not.ok(text.includes(secret), `no ${secret.slice(0, 12)}... in the work dir`);

    // The variable holds whatever the environment says at each run: a sentinel there fails the
    // run (exit 2) without reaching the work dir or the output.
    const sentinel = 'DefaultEndpointsProtocol=http;AccountName=sentinel;AccountKey=U0VOVElORUwtU0VDUkVU;BlobEndpoint=http://127.0.0.1:9/x;';
    const r2 = await runToasty(['pipeline-reindex', f.workdir], { TOASTY_TEST_AZ: sentinel });
    assert.is(r2.code, 2, r2.stderr);
    assert.not.ok((r2.stdout + r2.stderr).includes('U0VOVElORUwtU0VDUkVU'), 'the sentinel key is not printed');
    assert.not.ok((await allText(f.workdir)).includes('U0VOVElORUwtU0VDUkVU'), 'nor written to the work dir');
  } finally {
    await f.close();
    await stopSharedAzurite();
  }
});

s('reject: pending outputs go, skip.flag written, make and the root index leave it out; --undo brings it back', async () => {
  const f = await Fixture.create({ kind: 'local' });
  try {
    ok(await f.toasty('init', ...f.repoArgs, f.workdir), 'init');
    ok(await f.toasty('pipeline-fetch-inputs', f.workdir), 'fetch');
    ok(await f.toasty('pipeline-process-todos', f.workdir), 'process');
    assert.equal(await ls(path.join(f.workdir, 'out_todo', IDS.ngc7552)), ['image.jpg', 'index.wtml', 'index_rel.wtml', 'thumb.jpg']);
    // A file toasty did not write stays.
    await fsp.writeFile(path.join(f.workdir, 'out_todo', IDS.ngc7552, 'curator-notes.txt'), 'mine');

    let r = await f.toasty('reject', f.workdir, IDS.ngc7552, '--reason', 'colours wrong');
    ok(r, 'reject');
    assert.match(r.stdout, new RegExp(`${IDS.ngc7552}: rejected; removed 4 pending file\\(s\\)`));
    assert.match(r.stderr, /left 1 file\(s\) toasty's records do not name: .*curator-notes\.txt/);
    assert.equal(await ls(path.join(f.workdir, 'out_todo', IDS.ngc7552)), ['curator-notes.txt']);
    const flag = JSON.parse((await f.text(`${IDS.ngc7552}/skip.flag`))!);
    assert.is(flag.toasty, 'reject');
    assert.is(flag.reason, 'colours wrong');
    assert.type(flag.by, 'string');
    assert.ok(Math.abs(Date.parse(flag.at) - Date.now()) < 60_000, `a recent time: ${flag.at}`);

    r = await f.toasty('make', f.workdir, '--json');
    ok(r, 'make after reject');
    assert.ok(
      (r.json!.skipped as Array<{ image: string; reason: string }>).some((x) => x.image === IDS.ngc7552 && /skip\.flag/.test(x.reason)),
      'the report says why',
    );
    assert.not.ok(
      (r.json!.nodes as Array<{ image: string | null }>).some((n) => n.image === IDS.ngc7552),
      'no node ran for it',
    );
    assert.is(await f.repo.exists(`${IDS.ngc7552}/index.wtml`), false, 'not published');
    assert.equal(await indexed(f), [IDS.ngc253]);
    ok(await f.toasty('verify', f.workdir), 'verify: skip.flag is no stray');

    // Rejecting a published image: its files stay, the root index drops it at the next make.
    r = await f.toasty('reject', f.workdir, IDS.ngc253, '--reason', 'duplicate of another image');
    ok(r, 'reject published');
    assert.match(r.stderr, /already published: its files stay in the repository/);
    ok(await f.toasty('make', f.workdir), 'make after rejecting a published image');
    assert.ok(await f.repo.exists(`${IDS.ngc253}/index.wtml`), 'published files are never deleted');
    assert.equal(await indexed(f), []);
    ok(await f.toasty('verify', f.workdir), 'verify: a rejected image is not expected in the index');
    // The preview's data marks it (it stays in out_done).
    const preview = await listPreviewImages(f.workdir, {
      rejections: (ids) => readRejections(f.repo, ids),
      commandArgs: { repoArgs: [], workdir: f.workdir },
    });
    assert.equal(
      preview.done.map((i) => [i.id, i.rejected]),
      [[IDS.ngc253, { reason: 'duplicate of another image' }]],
    );
    // The page offers to take it back, not to reject it again.
    assert.is(preview.done[0]!.undoCommand, `toasty reject --undo ${shellQuote(f.workdir)} ${IDS.ngc253}`);
    assert.is(preview.done[0]!.rejectCommand, undefined);

    r = await f.toasty('reject', '--undo', f.workdir, IDS.ngc7552, IDS.ngc253);
    ok(r, 'undo');
    assert.match(r.stdout, /rejection removed/);
    assert.is(await f.repo.exists(`${IDS.ngc7552}/skip.flag`), false);
    ok(await f.toasty('make', f.workdir), 'make after undo');
    assert.ok(await f.repo.exists(`${IDS.ngc7552}/index.wtml`), 'published after undo');
    assert.equal((await indexed(f)).sort(), Object.values(IDS).sort());
  } finally {
    await f.close();
  }
});

s('reject: unknown id, missing --reason, another tool’s flag -> exit 2, nothing changed', async () => {
  const f = await Fixture.create({ kind: 'local' });
  try {
    ok(await f.toasty('init', ...f.repoArgs, f.workdir), 'init');
    ok(await f.toasty('pipeline-fetch-inputs', f.workdir), 'fetch');
    const before = await hashTree(f.workdir);

    let r = await f.toasty('reject', f.workdir, 'noirlab_geminiann11015b', '--reason', 'x');
    assert.is(r.code, 2, r.stderr);
    assert.match(r.stderr, new RegExp(`no image noirlab_geminiann11015b .*closest: ${IDS.ngc7552}`));
    r = await f.toasty('reject', f.workdir, IDS.ngc7552);
    assert.is(r.code, 2, r.stderr);
    assert.match(r.stderr, /--reason TEXT is required/);
    r = await f.toasty('reject', f.workdir, IDS.ngc7552, '--reason', '  ');
    assert.is(r.code, 2, 'a blank reason is no reason');
    assert.equal(await hashTree(f.workdir), before, 'the work dir is unchanged');
    assert.is(await f.repo.exists(`${IDS.ngc7552}/skip.flag`), false);

    // An id only the feed knows (nothing fetched for it) can be rejected too.
    await f.setRecords([...(await f.baseRecords()), { ...(await f.baseRecords())[0], image_id: 'Gallery010' }]);
    r = await f.toasty('reject', f.workdir, 'nrao_gallery010', '--reason', 'not an astronomical image');
    ok(r, 'reject an id of the feed');

    // --undo removes only flags toasty reject wrote.
    await f.repo.put(`${IDS.ngc253}/skip.flag`, '{}');
    r = await f.toasty('reject', '--undo', f.workdir, IDS.ngc253);
    assert.is(r.code, 2, r.stderr);
    assert.match(r.stderr, /skip\.flag was not written by toasty reject/);
    assert.is(await f.text(`${IDS.ngc253}/skip.flag`), '{}');
  } finally {
    await f.close();
  }
});

s.run();
