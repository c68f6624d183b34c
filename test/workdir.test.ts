// The work dir's cheap answers stay true: the todo-area listing a run takes once, and the stat
// fingerprint that spares re-hashing an unchanged cached image.
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { TileMeta } from '../rules/tile.js';
import { Manifest } from '../src/engine/manifest.js';
import { PARSED_CONFIG } from '../src/pipeline/config.js';
import { MANIFEST_NAME, Workdir } from '../src/pipeline/workdir.js';
import { Fixture, IDS, ran, runToasty } from './helpers/pipeline-fixture.js';

async function tempWorkdir(): Promise<string> {
  return fsp.mkdtemp(path.join(os.tmpdir(), 'toasty-workdir-'));
}

test('the todo listing: folders made through dir() after it, and folders gone since, are seen', async () => {
  const root = await tempWorkdir();
  try {
    await fsp.mkdir(path.join(root, 'cache_done', 'a'), { recursive: true });
    await fsp.writeFile(path.join(root, 'cache_done', 'a', 'image.jpg'), 'done bytes');
    await fsp.mkdir(path.join(root, 'cache_todo', 'b'), { recursive: true });
    await fsp.writeFile(path.join(root, 'cache_todo', 'b', 'image.jpg'), 'todo bytes');
    const w = new Workdir(root);
    await w.listTodoAreas();
    assert.is(await w.cacheDir('a'), path.join(root, 'cache_done', 'a'));
    assert.is(await w.cacheDir('b'), path.join(root, 'cache_todo', 'b'));
    assert.equal(await w.pendingOutputs('a'), []);

    // A fetch of `a` after the listing: cache_todo/a now exists and wins over cache_done.
    const todo = w.dir('cache_todo', 'a');
    await fsp.mkdir(todo, { recursive: true });
    await fsp.writeFile(path.join(todo, 'image.jpg'), 'new bytes');
    assert.is(await w.cacheDir('a'), todo);
    assert.is(w.cachedFileStat('a', 'image.jpg').file, path.join(todo, 'image.jpg'));
    assert.is(w.cachedFileStat('a', 'image.jpg').stat?.size, 'new bytes'.length);
    assert.ok(await w.has('cache', 'a', 'image.jpg'));

    // Tiling `a`'s output after the listing: out_todo/a is pending, then found as an output.
    const out = w.dir('out_todo', 'a');
    await fsp.mkdir(out, { recursive: true });
    await fsp.writeFile(path.join(out, 'index.wtml'), '<Folder/>');
    assert.equal(await w.pendingOutputs('a'), ['index.wtml']);
    assert.is(await w.outFile('a', 'index.wtml'), path.join(out, 'index.wtml'));
    assert.ok(await w.has('out', 'a', 'index.wtml'));

    // `b` listed in cache_todo, then moved to cache_done: the listing does not keep it there.
    await fsp.mkdir(path.join(root, 'cache_done'), { recursive: true });
    await fsp.rename(path.join(root, 'cache_todo', 'b'), path.join(root, 'cache_done', 'b'));
    assert.is(await w.cacheDir('b'), path.join(root, 'cache_done', 'b'));
    assert.is(w.cachedFileStat('b', 'image.jpg').stat?.size, 'todo bytes'.length);
    assert.is(w.cachedFileStat('c', 'image.jpg').stat, undefined, 'an image with no folder is not cached');
  } finally {
    await fsp.rm(root, { recursive: true, force: true });
  }
});

test('a cached image edited in place (same size, same inode) is hashed again; one touched or copied is not re-tiled and its new fingerprint is recorded', async () => {
  const f = await Fixture.create({ kind: 'local' });
  try {
    let r = await f.run('make', '--json');
    assert.is(r.code, 0, r.stderr);
    const cached = path.join(f.workdir, 'cache_done', IDS.ngc7552, 'image.jpg');
    const before = await fsp.stat(cached);

    // New mtime, same bytes: the fingerprint differs, the digest does not: nothing to do.
    await fsp.utimes(cached, before.atime, new Date(before.mtimeMs + 5000));
    r = await f.run('make', '--json');
    assert.is(r.code, 0, r.stderr);
    assert.equal(ran(r), []);
    // ... and the new fingerprint is recorded, so the next run need not hash the file again.
    const source = async () => ((await Manifest.load(f.workdir, MANIFEST_NAME)).get(`tile:${IDS.ngc7552}`)!.result.meta as TileMeta).source;
    assert.is((await source()).mtimeMs, (await fsp.stat(cached)).mtimeMs);

    // A copy (a work dir restored from a backup or a CI cache): same bytes, a new inode.
    const copy = `${cached}.copy`;
    await fsp.copyFile(cached, copy);
    await fsp.rename(copy, cached);
    const copied = await fsp.stat(cached);
    assert.is.not(copied.ino, before.ino);
    r = await f.run('make', '--json');
    assert.is(r.code, 0, r.stderr);
    assert.equal(ran(r), []);
    assert.equal(await source(), { ...(await source()), ino: copied.ino, mtimeMs: copied.mtimeMs, size: copied.size });
    // A dry run records nothing.
    await fsp.utimes(cached, copied.atime, new Date(copied.mtimeMs + 5000));
    r = await f.run('make', '--dry-run', '--json');
    assert.is(r.code, 0, r.stderr);
    assert.is((await source()).mtimeMs, copied.mtimeMs);

    // One byte changed in the middle (a JPEG's entropy-coded data): same size, same inode.
    const fh = await fsp.open(cached, 'r+');
    try {
      const at = Math.floor(before.size / 2);
      const b = Buffer.alloc(1);
      await fh.read(b, 0, 1, at);
      b[0] = b[0]! ^ 0x01;
      await fh.write(b, 0, 1, at);
    } finally {
      await fh.close();
    }
    const after = await fsp.stat(cached);
    assert.is(after.size, before.size);
    assert.is(after.ino, copied.ino);
    r = await f.run('make', '--dry-run', '--json');
    assert.is(r.code, 0, r.stderr);
    assert.equal(ran(r), [`tile:${IDS.ngc7552}`, `wtml:${IDS.ngc7552}`, `upload:${IDS.ngc7552}`, 'index:-']);
    assert.is(r.json!.nodes[0].reason, 'image bytes changed');
  } finally {
    await f.close();
  }
});

test('a moved repository and a new prefix, from an empty work dir: the re-tiling an upload asks for keeps the WTML already written', async () => {
  const f = await Fixture.create({ kind: 'local' });
  try {
    let r = await f.run('make');
    assert.is(r.code, 0, r.stderr);
    // The repository, copied elsewhere, with a new prefix: every upload must send every file,
    // so each tiling is rebuilt (the work dir is empty) after its WTML was written.
    const moved = path.join(f.tmp, 'moved-repo');
    await fsp.cp(path.join(f.tmp, 'repo'), moved, { recursive: true });
    const config = path.join(moved, 'toasty-pipeline-config.yaml');
    await fsp.writeFile(config, (await fsp.readFile(config, 'utf8')).replace(/^publish_url_prefix: .*$/m, 'publish_url_prefix: "https://moved.example.org/"'));
    const work = path.join(f.tmp, 'work-empty');
    r = await runToasty(['make', '--json', `--local=${moved}`, work], f.env);
    assert.is(r.code, 0, r.stderr);
    assert.ok(ran(r).includes(`upload:${IDS.ngc253}`), 'uploaded again');
    for (const id of Object.values(IDS)) {
      const rel = await fsp.readFile(path.join(moved, id, 'index_rel.wtml'), 'utf8');
      assert.ok(rel.length > 0, `${id}: index_rel.wtml published`);
      assert.match(await fsp.readFile(path.join(moved, id, 'index.wtml'), 'utf8'), /https:\/\/moved\.example\.org\//);
    }
    r = await runToasty(['verify', `--local=${moved}`, work], f.env);
    assert.is(r.code, 0, r.stdout + r.stderr);
    r = await runToasty(['make', '--json', `--local=${moved}`, work], f.env);
    assert.equal(ran(r), [], 'then up to date');
  } finally {
    await f.close();
  }
});

test('the config a work dir keeps as JSON is the one the repository has: an edit, or a kept text that differs, is read as YAML', async () => {
  const f = await Fixture.create({ kind: 'local' });
  try {
    let r = await f.run('make');
    assert.is(r.code, 0, r.stderr);
    const keptFile = path.join(f.workdir, PARSED_CONFIG);
    const repoConfig = path.join(f.tmp, 'repo', 'toasty-pipeline-config.yaml');
    const kept = JSON.parse(await fsp.readFile(keptFile, 'utf8'));
    assert.is(kept.text, await fsp.readFile(repoConfig, 'utf8'));
    assert.is(kept.document.folder_name, 'AstroPix test feed');
    // An up-to-date run rewrites neither (nor anything else of the work dir's own files).
    const stamps = async () =>
      Object.fromEntries(
        await Promise.all(
          ['toasty-pipeline-config.yaml', PARSED_CONFIG, 'toasty-manifest.json'].map(async (n) => [n, (await fsp.stat(path.join(f.workdir, n))).mtimeMs]),
        ),
      );
    const before = await stamps();
    r = await f.run('make', '--json');
    assert.equal(ran(r), []);
    assert.equal(await stamps(), before, 'nothing rewritten');

    // An edit in the repository: the new text is read (here: the WTML is rewritten), and kept.
    await f.writeConfig({ publish_url_prefix: 'https://edited.example.org/wwt/' });
    r = await f.run('make', '--json');
    assert.is(r.code, 0, r.stderr);
    assert.ok(ran(r).includes(`wtml:${IDS.ngc253}`), ran(r).join(' '));
    assert.match(await fsp.readFile(path.join(f.tmp, 'repo', IDS.ngc253, 'index.wtml'), 'utf8'), /https:\/\/edited\.example\.org\/wwt\//);
    assert.is(JSON.parse(await fsp.readFile(keptFile, 'utf8')).document.publish_url_prefix, 'https://edited.example.org/wwt/');

    // A kept document whose text is not the repository's is not used.
    await fsp.writeFile(keptFile, JSON.stringify({ text: 'source_type: astropix\n', document: { ...kept.document, folder_name: 'Stale' } }));
    r = await f.run('make', '--json');
    assert.is(r.code, 0, r.stderr);
    assert.equal(ran(r), [], 'the same config: nothing to do');
    assert.not.match(await fsp.readFile(path.join(f.tmp, 'repo', 'index.wtml'), 'utf8'), /Stale/);
    assert.is(JSON.parse(await fsp.readFile(keptFile, 'utf8')).document.folder_name, 'AstroPix test feed', 'kept anew');
  } finally {
    await f.close();
  }
});

test.run();
