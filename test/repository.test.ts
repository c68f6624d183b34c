import { promises as fsp } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { BUILD_RECORD } from '../src/pipeline/build-record.js';
import { digestBytes, digestOutputs } from '../src/engine/key.js';
import type { Repository } from '../src/storage/types.js';
import { tileFileName } from '../src/wwt/study-files.js';
import { tilesPerLevel } from '../src/wwt/tiling.js';
import { parseWtml } from '../src/wwt/wtml.js';
import { Fixture, IDS, PREFIX, TESTDATA, hashTree, ran, runToasty, stopSharedAzurite, type RepoKind } from './helpers/pipeline-fixture.js';

const KINDS: Array<[string, RepoKind]> = [
  ['local', { kind: 'local' }],
  ['azure', { kind: 'azure', prefix: 'feeds/x' }],
];

const imageHits = (f: Fixture) => ['/NGC253ALMA.jpg', '/geminiann11015a.jpg'].map((p) => f.server.hits.get(p) ?? 0);

/** Point the fixture at a new, empty work directory (another machine, a CI runner, a pod). */
function freshWorkdir(f: Fixture, name: string) {
  f.workdir = path.join(f.tmp, name);
}

for (const [label, kind] of KINDS) {
  const s = suite(`repository carries the build [${label}]`);

  s('an empty work dir trusts the build records: no download, no tiling, no upload', async () => {
    const f = await Fixture.create(kind);
    try {
      let r = await f.run('make', '--json');
      assert.is(r.code, 0, r.stderr);
      for (const id of Object.values(IDS)) assert.ok(await f.repo.exists(`${id}/${BUILD_RECORD}`), `${id} has its build record`);
      assert.ok(await f.repo.exists(BUILD_RECORD), 'the root index has its build record');
      // The feed record travels in the build record; the work dir's manifest keeps no copy of
      // a record the feed lists whole (it is cached beside the image).
      const feedRecord = (await f.baseRecords()).find((x) => x.image_id === 'NRAO_Gallery009')!;
      const built = JSON.parse((await f.text(`${IDS.ngc253}/${BUILD_RECORD}`))!);
      assert.equal(built.nodes.fetch.result.meta.record, feedRecord);
      const fetchLine = (await fsp.readFile(path.join(f.workdir, 'toasty-manifest.json'), 'utf8'))
        .split('\n')
        .find((l) => l.startsWith(`"fetch:${IDS.ngc253}"`))!;
      assert.equal(Object.keys(JSON.parse(fetchLine.split('\t')[1]!).result.meta).sort(), ['image', 'lastUpdated', 'url']);
      const hits = imageHits(f);

      freshWorkdir(f, 'work-empty');
      r = await f.run('make', '--json');
      assert.is(r.code, 0, r.stderr);
      assert.equal(ran(r), [], 'nothing runs');
      assert.equal(imageHits(f), hits, 'no image request reaches the server');
      r = await f.run('make', '--dry-run', '--json');
      assert.equal(ran(r), [], 'and the adopted state plans nothing');

      // A new prefix, from yet another empty work dir: the WTML (and only the WTML) again.
      freshWorkdir(f, 'work-prefix');
      await f.writeConfig({ publish_url_prefix: 'https://cdn.example.net/wwt/' });
      const before = kind.kind === 'local' ? await hashTree(f.repoArgs[0].slice('--local='.length)) : null;
      r = await f.run('make', '--json');
      assert.is(r.code, 0, r.stderr);
      assert.equal(ran(r).sort(), ['index:-', ...Object.values(IDS).flatMap((id) => [`wtml:${id}`, `upload:${id}`])].sort());
      assert.equal(imageHits(f), hits, 'still no image request');
      const place = parseWtml((await f.text(`${IDS.ngc253}/index.wtml`))!).children[0];
      assert.ok(place.imageSet.url.startsWith(`https://cdn.example.net/wwt/${IDS.ngc253}/`), place.imageSet.url);
      if (before) {
        const after = await hashTree(f.repoArgs[0].slice('--local='.length));
        const changed = Object.keys(after).filter((p) => after[p] !== before[p]);
        const allowed = /^(index\.wtml|toasty-build\.json|[^/]+\/(index\.wtml|index_rel\.wtml|toasty-build\.json))$/;
        assert.ok(changed.length > 0 && changed.every((p) => allowed.test(p)), `only WTML and records rewritten: ${changed.join(', ')}`);
        assert.equal(Object.keys(after).sort(), Object.keys(before).sort(), 'no file added or removed');
      }

      // New bytes for one image (a newer release), from an empty work dir: that image alone.
      freshWorkdir(f, 'work-bytes');
      const brighter = path.join(f.tmp, 'brighter.jpg');
      await sharp(path.join(TESTDATA, 'geminiann11015a.jpg')).modulate({ brightness: 1.3 }).jpeg().toFile(brighter);
      const recs = await f.baseRecords();
      recs[1].resource_url = f.serve('brighter.jpg', brighter);
      recs[1].last_updated = '2024-01-01T00:00:00';
      f.setRecords(recs);
      await f.writeConfig({ publish_url_prefix: 'https://cdn.example.net/wwt/' });
      r = await f.run('make', '--json');
      assert.is(r.code, 0, r.stderr);
      assert.equal(
        ran(r).filter((n) => !n.startsWith('index')),
        ['fetch', 'tile', 'wtml', 'upload'].map((x) => `${x}:${IDS.ngc7552}`),
      );
      assert.equal(imageHits(f), hits, 'the unchanged image is not downloaded');
      assert.is(f.server.hits.get('/brighter.jpg'), 1);
      // Published before: its new pixels went to a folder of their own, the old ones are gone.
      const gemini = parseWtml((await f.text(`${IDS.ngc7552}/index.wtml`))!).children[0];
      const dir = /\/([0-9a-f]{16})\/image\.jpg$/.exec(gemini.imageSet.url)?.[1];
      assert.ok(dir, `content-addressed pixel folder in ${gemini.imageSet.url}`);
      assert.ok(await f.repo.exists(`${IDS.ngc7552}/${dir}/image.jpg`));
      assert.ok(await f.repo.exists(`${IDS.ngc7552}/${dir}/thumb.jpg`));
      assert.is(await f.repo.exists(`${IDS.ngc7552}/image.jpg`), false, 'the old pixels were removed after the switch');
      // The folder is named by what is in it.
      const files: Record<string, string> = {};
      for (const n of ['image.jpg', 'thumb.jpg']) files[n] = await digestBytes((await f.repo.get(`${IDS.ngc7552}/${dir}/${n}`))!);
      assert.is(await digestOutputs(files), dir);
    } finally {
      await f.close();
    }
  });

  s('four shards at once from empty work dirs, then one reindex', async () => {
    const f = await Fixture.create(kind);
    try {
      const base = (await f.baseRecords())[1];
      const ids = Array.from({ length: 16 }, (_, i) => `shard${String(i).padStart(2, '0')}`);
      f.setRecords(ids.map((id) => ({ ...base, image_id: id, title: `Image ${id}` })));
      const runs = await Promise.all(
        [0, 1, 2, 3].map((i) => runToasty(['make', ...f.repoArgs, path.join(f.tmp, `shard-work-${i}`), '--json', '--shard', `${i}/4`], f.env)),
      );
      const tiled: string[] = [];
      for (const r of runs) {
        assert.is(r.code, 0, r.stderr);
        tiled.push(...ran(r).filter((n) => n.startsWith('tile:')));
        assert.ok(!ran(r).includes('index:-'), 'a shard never writes the root index');
      }
      const expected = ids.map((id) => `tile:noirlab_${id}`).sort();
      assert.equal(tiled.sort(), expected, 'every image tiled by exactly one shard');
      assert.ok(
        runs.every((r) => ran(r).length < 64),
        'work is split',
      );
      assert.is(await f.repo.exists('index.wtml'), false);
      const r = await f.run('pipeline-reindex');
      assert.is(r.code, 0, r.stderr);
      const root = parseWtml((await f.text('index.wtml'))!);
      assert.is(root.children.length, 16);
    } finally {
      await f.close();
    }
  });

  s('the root index has one writer at a time: concurrent read-modify-writes lose nothing', async () => {
    const f = await Fixture.create(kind);
    try {
      // Eight read-modify-writes at once under the lock (a lock file / a blob lease).
      await f.repo.put('counter.txt', '0');
      const bump = (repo: Repository) =>
        repo.exclusive('counter', async () => {
          const n = Number((await repo.get('counter.txt'))!.toString());
          await new Promise((res) => setTimeout(res, 20));
          await repo.put('counter.txt', String(n + 1));
        });
      await Promise.all(Array.from({ length: 8 }, () => bump(f.repo)));
      assert.is((await f.repo.get('counter.txt'))!.toString(), '8');

      // Two reindexers at once, from two work dirs: one well-formed index with every image.
      assert.is((await f.run('make')).code, 0);
      await f.repo.delete('index.wtml');
      const both = await Promise.all(['a', 'b'].map((w) => runToasty(['pipeline-reindex', ...f.repoArgs, path.join(f.tmp, `reindex-${w}`)], f.env)));
      for (const r of both) assert.is(r.code, 0, r.stderr);
      const root = parseWtml((await f.text('index.wtml'))!);
      assert.equal(root.children.map((p) => p.imageSet.url.split('/').at(-2)).sort(), Object.values(IDS).sort());
    } finally {
      await f.close();
    }
  });

  s.after(async () => {
    if (kind.kind === 'azure') await stopSharedAzurite();
  });
  s.run();
}

const crash = suite('atomic re-publish');

crash('a changed image killed mid-publish: the visible index.wtml always names a complete pyramid', async () => {
  const f = await Fixture.create({ kind: 'local' });
  try {
    const id = IDS.ngc253;
    const [w, h] = [2166, 2129];
    const tiles: string[] = ['thumb.jpg'];
    for (const [level, list] of tilesPerLevel(w, h)) for (const [x, y] of list) tiles.push(tileFileName(level, x, y));
    const versions = [path.join(TESTDATA, 'NGC253ALMA.jpg'), path.join(f.tmp, 'v2.jpg')];
    await sharp(versions[0]).modulate({ brightness: 0.7 }).jpeg().toFile(versions[1]);
    const recs = await f.baseRecords();
    const publish = (v: number, stamp: number) => {
      recs[0].resource_url = f.serve(`v${v}-${stamp}.jpg`, versions[v]);
      recs[0].last_updated = `2024-01-01T00:00:${String(stamp).padStart(2, '0')}`;
      f.setRecords(recs);
    };
    publish(0, 0);
    const t0 = performance.now();
    assert.is((await f.run('make')).code, 0);
    const full = performance.now() - t0;
    const flatDigest = await pyramidDigest(f, id, '', tiles);

    /** The visible index.wtml points at a folder holding a whole pyramid of one version. */
    const checkVisible = async () => {
      const place = parseWtml((await f.text(`${id}/index.wtml`))!).children[0];
      const rel = place.imageSet.url.slice(`${PREFIX}${id}/`.length);
      const dir = rel.slice(0, rel.lastIndexOf('/') + 1);
      const digest = await pyramidDigest(f, id, dir, tiles);
      assert.ok(digest !== null, `every file of the pyramid in '${dir}' is there`);
      assert.is(digest, dir ? dir.slice(0, -1) : flatDigest, `the files in '${dir}' are one version's`);
      assert.ok(place.thumbnail.includes(`/${id}/${dir}thumb.jpg`), 'the thumbnail too');
      return dir;
    };

    const seen = new Set<string>();
    for (let i = 1; i <= 10; i++) {
      publish(i % 2, i);
      let timer: NodeJS.Timeout | undefined;
      // Kill times spread over a whole re-publish, so some land while tiles are uploaded.
      const at = (full * (0.35 + (0.65 * i) / 10)) | 0;
      await runToasty(['make', ...f.repoArgs, f.workdir], f.env, {
        onSpawn: (pid) => {
          timer = setTimeout(() => {
            try {
              process.kill(pid, 'SIGKILL');
            } catch {
              /* finished first */
            }
          }, at);
        },
      });
      clearTimeout(timer);
      seen.add(await checkVisible());
      const r = await f.run('make');
      assert.is(r.code, 0, r.stderr);
      const dir = await checkVisible();
      seen.add(dir);
      assert.ok(dir !== '' || i % 2 === 0, 'after the rerun the new version is visible');
    }
    assert.ok(seen.size >= 2, `more than one pyramid was seen: ${[...seen].join(', ')}`);
  } finally {
    await f.close();
  }
});

/** Digest of the pixel set in `<id>/<dir>` (as the tile rule names it), or null if incomplete. */
async function pyramidDigest(f: Fixture, id: string, dir: string, names: string[]): Promise<string | null> {
  const files: Record<string, string> = {};
  for (const n of names) {
    const data = await f.repo.get(`${id}/${dir}${n}`);
    if (!data) return null;
    files[n] = await digestBytes(data);
  }
  return digestOutputs(files);
}

crash.run();
