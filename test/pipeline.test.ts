// The pipeline end to end through the real CLI: the four stages, `make` and its incremental
// behaviour, against a local folder and a real Azure endpoint (Azurite), with and without a
// path prefix. Outputs are read back from the repository and parsed.
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { parseSnapshot } from '../src/engine/manifest.js';
import { parseWtml } from '../src/wwt/wtml.js';
import { Fixture, IDS, PREFIX, ROOT, hashTree, ran, stopSharedAzurite, type RepoKind } from './helpers/pipeline-fixture.js';

const KINDS: Array<[string, RepoKind]> = [
  ['local', { kind: 'local' }],
  ['azure', { kind: 'azure', prefix: '' }],
  ['azure+prefix', { kind: 'azure', prefix: 'feeds/nrao' }],
];

const ls = async (dir: string) => (await fsp.readdir(dir).catch(() => [] as string[])).sort();

async function assertPublished(f: Fixture, id: string, prefix = PREFIX) {
  const wtml = await f.text(`${id}/index.wtml`);
  assert.ok(wtml, `${id}/index.wtml published`);
  const folder = parseWtml(wtml!);
  const place = folder.children[0];
  const url = place.imageSet.url;
  assert.ok(url.startsWith(`${prefix}${id}/`), `absolute Url under the prefix: ${url}`);
  // Every file index.wtml refers to is there.
  if (place.imageSet.tileLevels > 0) assert.ok(await f.repo.exists(`${id}/L0X0Y0.png`));
  else assert.ok(await f.repo.exists(`${id}/image.jpg`));
  assert.ok(await f.repo.exists(`${id}/thumb.jpg`));
  assert.ok(await f.repo.exists(`${id}/index_rel.wtml`));
  return place;
}

for (const [label, kind] of KINDS) {
  const s = suite(`pipeline [${label}]`);

  s('the four stage commands in sequence', async () => {
    const f = await Fixture.create(kind);
    try {
      let r = await f.run('pipeline-fetch-inputs');
      assert.is(r.code, 0, r.stderr);
      for (const id of Object.values(IDS)) {
        assert.equal(await ls(path.join(f.workdir, 'cache_todo', id)), ['astropix.json', 'image.jpg']);
        const rec = JSON.parse(await fsp.readFile(path.join(f.workdir, 'cache_todo', id, 'astropix.json'), 'utf8'));
        assert.is(rec.toasty_cached_image_name, 'image.jpg');
      }
      assert.is(await f.repo.exists(`${IDS.ngc253}/index.wtml`), false, 'fetch publishes nothing');

      r = await f.run('pipeline-process-todos');
      assert.is(r.code, 0, r.stderr);
      assert.equal(await ls(path.join(f.workdir, 'cache_todo')), []);
      assert.equal(await ls(path.join(f.workdir, 'cache_done')), [IDS.ngc7552, IDS.ngc253].sort());
      const tiled = await ls(path.join(f.workdir, 'out_todo', IDS.ngc253));
      assert.is(tiled.filter((n) => /^L\d+X\d+Y\d+\.png$/.test(n)).length, 157);
      assert.ok(tiled.includes('thumb.jpg') && tiled.includes('index.wtml') && tiled.includes('index_rel.wtml'));
      assert.equal(await ls(path.join(f.workdir, 'out_todo', IDS.ngc7552)), ['image.jpg', 'index.wtml', 'index_rel.wtml', 'thumb.jpg']);
      assert.is(await f.repo.exists(`${IDS.ngc253}/index.wtml`), false, 'process publishes nothing');

      r = await f.run('pipeline-publish-todos');
      assert.is(r.code, 0, r.stderr);
      assert.equal(await ls(path.join(f.workdir, 'out_todo')), []);
      assert.is((await ls(path.join(f.workdir, 'out_done', IDS.ngc253))).length, 160);
      await assertPublished(f, IDS.ngc253);
      await assertPublished(f, IDS.ngc7552);
      const tile = await f.repo.get(`${IDS.ngc253}/L4X3Y3.png`);
      const meta = await sharp(tile!).metadata();
      assert.equal([meta.width, meta.height, meta.channels], [256, 256, 4]);

      r = await f.run('pipeline-reindex');
      assert.is(r.code, 0, r.stderr);
      const root = parseWtml((await f.text('index.wtml'))!);
      assert.is(root.name, 'AstroPix test feed');
      // Newest first: NGC 7552 (2021) before NGC 253 (2018).
      assert.equal(
        root.children.map((p) => p.name),
        ['Gemini GMOS image of the barred spiral galaxy NGC 7552', 'ALMA Sees Starbursting Clouds Inside NGC 253'],
      );

      r = await f.run('pipeline-fetch-inputs');
      assert.is(r.code, 0, r.stderr);
      assert.equal(await ls(path.join(f.workdir, 'cache_todo')), [], 'a second fetch caches nothing');

      // The stage commands and make agree on every node, the root index included.
      r = await f.run('make', '--dry-run', '--json');
      assert.is(r.code, 0, r.stderr);
      assert.equal(ran(r), [], 'make plans nothing after the four stages');
    } finally {
      await f.close();
    }
  });

  s('make: minimal rebuilds, reasons, dry run', async () => {
    const f = await Fixture.create(kind);
    try {
      let r = await f.run('make', '--json');
      assert.is(r.code, 0, r.stderr);
      assert.is(ran(r).length, 9);
      assert.is(r.json!.nodes[0].reason, 'new image');
      await assertPublished(f, IDS.ngc253);

      r = await f.run('make', '--json');
      assert.is(r.code, 0, r.stderr);
      assert.equal(ran(r), [], 'second make runs nothing');

      // Dry run after a config change: a plan, and not one byte changes.
      await f.writeConfig({ publish_url_prefix: 'https://cdn.example.net/wwt' });
      const before = await hashTree(f.workdir);
      const repoBefore = kind.kind === 'local' ? await hashTree(f.repoArgs[0].slice('--local='.length)) : null;
      r = await f.run('make', '--dry-run', '--json');
      assert.is(r.code, 0, r.stderr);
      assert.ok(ran(r).includes(`wtml:${IDS.ngc253}`));
      assert.is(r.json!.nodes.find((n) => n.rule === 'wtml')!.reason, 'publish_url_prefix changed');
      for (const n of r.json!.nodes.filter((x) => x.rule === 'wtml')) {
        assert.is(n.cause.kind, 'inputs-changed');
        assert.equal(
          n.cause.changes?.map((c) => c.path),
          ['publish_url_prefix'],
        );
      }
      assert.equal(await hashTree(f.workdir), before, 'dry run leaves the work dir byte-identical');
      if (repoBefore) assert.equal(await hashTree(f.repoArgs[0].slice('--local='.length)), repoBefore);

      // The prefix change: WTML and uploads only (no download, no tiling), then the index.
      r = await f.run('make', '--json');
      assert.is(r.code, 0, r.stderr);
      assert.equal(ran(r).sort(), [`upload:${IDS.ngc7552}`, `upload:${IDS.ngc253}`, `wtml:${IDS.ngc7552}`, `wtml:${IDS.ngc253}`, 'index:-'].sort());
      await assertPublished(f, IDS.ngc253, 'https://cdn.example.net/wwt/');
      assert.match((await f.text('index.wtml'))!, 'https://cdn.example.net/wwt/nrao_nrao_gallery009/thumb.jpg');

      // Changed image bytes in the cache: that image's tile, wtml, upload, and the index.
      const cached = path.join(f.workdir, 'cache_done', IDS.ngc7552, 'image.jpg');
      await fsp.writeFile(cached, await sharp(cached).modulate({ brightness: 0.8 }).jpeg().toBuffer());
      r = await f.run('make', '--json');
      assert.is(r.code, 0, r.stderr);
      assert.equal(ran(r), [`tile:${IDS.ngc7552}`, `wtml:${IDS.ngc7552}`, `upload:${IDS.ngc7552}`, 'index:-']);
      assert.is(r.json!.nodes[0].reason, 'image bytes changed');

      // --force: the image's whole chain plus the index.
      r = await f.run('make', '--json', '--force', 'nrao_*');
      assert.equal(ran(r), [`fetch:${IDS.ngc253}`, `tile:${IDS.ngc253}`, `wtml:${IDS.ngc253}`, `upload:${IDS.ngc253}`, 'index:-']);
      assert.ok(r.json!.nodes.every((n) => n.reason === 'forced' && n.cause.kind === 'forced'));

      // A changed record field: fetch (no re-download) and wtml, upload, index.
      const recs = await f.baseRecords();
      recs[0].title = 'ALMA & NGC 253: "starbursts" <new>';
      // A new record: exactly its four nodes and the index.
      recs.push({ ...recs[1], image_id: 'geminiann11015b', title: 'A second look' });
      f.setRecords(recs);
      const hitsBefore = f.server.hits.get('/NGC253ALMA.jpg') ?? 0;
      r = await f.run('make', '--json');
      assert.is(r.code, 0, r.stderr);
      const nodes = ran(r);
      assert.equal(
        nodes.filter((n) => n.endsWith('noirlab_geminiann11015b')),
        ['fetch', 'tile', 'wtml', 'upload'].map((x) => `${x}:noirlab_geminiann11015b`),
      );
      assert.equal(
        nodes.filter((n) => n.endsWith(IDS.ngc253)),
        ['fetch', 'wtml', 'upload'].map((x) => `${x}:${IDS.ngc253}`),
      );
      assert.is(r.json!.nodes.find((n) => n.rule === 'fetch' && n.image === IDS.ngc253)!.reason, 'feed record changed (title)');
      assert.is(f.server.hits.get('/NGC253ALMA.jpg') ?? 0, hitsBefore, 'no re-download for a title change');
      assert.ok(nodes.includes('index:-'));
      const place = await assertPublished(f, IDS.ngc253, 'https://cdn.example.net/wwt/');
      assert.is(place.name, 'ALMA & NGC 253: "starbursts" <new>');
      const root = parseWtml((await f.text('index.wtml'))!);
      assert.is(root.children.length, 3);
    } finally {
      await f.close();
    }
  });

  s.after(async () => {
    if (kind.kind === 'azure') await stopSharedAzurite();
  });
  s.run();
}

const local = suite('pipeline [local]: index and keys');

local('alternating --only runs with plain runs never rewrite an unchanged root index', async () => {
  const f = await Fixture.create({ kind: 'local' });
  try {
    let r = await f.run('make', '--json');
    assert.is(r.code, 0, r.stderr);
    const index = await f.text('index.wtml');
    for (const args of [['--only', 'nrao_*'], [], ['--only', IDS.ngc7552]]) {
      r = await f.run('make', '--json', ...args);
      assert.is(r.code, 0, r.stderr);
      assert.equal(ran(r), [], `make ${args.join(' ')} runs nothing`);
    }
    assert.is(await f.text('index.wtml'), index);
    // --only still limits the work: a changed title reruns only the selected image.
    const recs = await f.baseRecords();
    recs[0].title = 'Retitled';
    recs[1].title = 'Retitled too';
    f.setRecords(recs);
    r = await f.run('make', '--json', '--only', 'nrao_*');
    assert.equal(ran(r), [`fetch:${IDS.ngc253}`, `wtml:${IDS.ngc253}`, `upload:${IDS.ngc253}`, 'index:-']);
    const skipped = (r.json!.skipped as Array<{ image: string }>).map((x) => x.image);
    assert.ok(!skipped.includes(IDS.ngc7552), `nothing is reported about the image --only left out: ${r.stdout}`);
  } finally {
    await f.close();
  }
});

local('the tile key holds the pixel toolchain; a different one re-tiles and says which', async () => {
  const f = await Fixture.create({ kind: 'local' });
  try {
    let r = await f.run('make');
    assert.is(r.code, 0, r.stderr);
    const manifestFile = path.join(f.workdir, 'toasty-manifest.json');
    // As plain format-1 data (which toasty still reads), to edit it below.
    const manifest = { format: 1, nodes: JSON.parse(JSON.stringify(Object.fromEntries(parseSnapshot(await fsp.readFile(manifestFile, 'utf8'))))) };
    const tile = manifest.nodes[`tile:${IDS.ngc253}`];
    assert.is(tile.leaves['toolchain.libvips'], JSON.stringify(sharp.versions.vips));
    assert.is(tile.leaves['toolchain.sharp'], JSON.stringify(sharp.versions.sharp));
    assert.ok('toolchain.encoding.tilePng.compressionLevel' in tile.leaves);
    const xmlbuilder2 = JSON.parse(await fsp.readFile(path.join(ROOT, 'node_modules', 'xmlbuilder2', 'package.json'), 'utf8')).version;
    assert.is(manifest.nodes[`wtml:${IDS.ngc253}`].leaves['toolchain.xmlbuilder2'], JSON.stringify(xmlbuilder2), 'the WTML key sees its XML writer');
    // As if the tiles had been made by an older libvips.
    tile.key = '0000000000000000';
    tile.leaves['toolchain.libvips'] = '"8.0.0"';
    await fsp.writeFile(manifestFile, JSON.stringify(manifest));
    r = await f.run('make', '--dry-run', '--json');
    assert.is(r.code, 0, r.stderr);
    const node = r.json!.nodes.find((n) => n.rule === 'tile')!;
    assert.is(node.image, IDS.ngc253);
    assert.is(node.reason, `pixel toolchain changed (libvips 8.0.0 -> ${sharp.versions.vips})`);
    r = await f.run('make', '--json');
    assert.equal(ran(r).slice(0, 1), [`tile:${IDS.ngc253}`]);
  } finally {
    await f.close();
  }
});

local.run();
