// `toasty verify` through the real CLI, on a local folder and on Azurite: a deleted tile, a
// corrupted tile, a stray file, an image missing from the root index; --repair --prune mends
// them all, and verify then exits 0.
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { parseWtml, writeWtml } from '../src/wwt/wtml.js';
import { Fixture, IDS, runToasty, stopSharedAzurite, type RepoKind } from './helpers/pipeline-fixture.js';

const KINDS: Array<[string, RepoKind]> = [
  ['local', { kind: 'local' }],
  ['azure', { kind: 'azure', prefix: 'feeds' }],
];

interface Problems {
  problems: Array<{ image: string | null; path: string; problem: string }>;
}

for (const [label, kind] of KINDS) {
  const s = suite(`verify [${label}]`);

  s('finds damage, --repair --prune mends it', async () => {
    const f = await Fixture.create(kind);
    try {
      assert.is((await f.run('make')).code, 0);
      const verify = (...extra: string[]) => runToasty(['verify', ...f.repoArgs, ...extra], f.env);
      let r = await verify('--json');
      assert.is(r.code, 0, r.stdout + r.stderr);
      assert.equal((JSON.parse(r.stdout) as Problems).problems, []);

      const tile = `${IDS.ngc253}/L4X3Y3.png`;
      const good = await f.repo.get(tile);
      const gone = `${IDS.ngc253}/${(await f.repo.list(IDS.ngc253)).find((e) => e.name.startsWith('L4') && `${IDS.ngc253}/${e.name}` !== tile)!.name}`;
      await f.repo.delete(gone);
      await f.repo.put(tile, Buffer.concat([good!.subarray(0, 100), Buffer.from('not the same tile')]));
      await f.repo.put(`${IDS.ngc7552}/notes.txt`, 'left here by hand');
      const root = parseWtml((await f.text('index.wtml'))!);
      await f.repo.put('index.wtml', writeWtml({ ...root, children: root.children.filter((p) => !p.imageSet.url.includes(IDS.ngc7552)) }));

      r = await verify('--json');
      assert.is(r.code, 1, r.stderr);
      const found = (JSON.parse(r.stdout) as Problems).problems.map((p) => `${p.image} ${p.path} ${p.problem}`);
      assert.equal(found, [
        `${IDS.ngc7552} index.wtml not-indexed`,
        `${IDS.ngc7552} ${IDS.ngc7552}/notes.txt stray`,
        ...[`${IDS.ngc253} ${gone} missing`, `${IDS.ngc253} ${tile} differs`].sort(),
      ]);
      // In words, one line per problem naming the image and the file.
      r = await verify();
      assert.is(r.code, 1);
      assert.match(r.stdout, new RegExp(`${IDS.ngc253} ${tile}: content differs from its build record`));
      assert.match(r.stdout, new RegExp(`${IDS.ngc7552} ${IDS.ngc7552}/notes.txt: stray file`));

      const hits = f.server.hits.get('/NGC253ALMA.jpg') ?? 0;
      r = await verify('--repair', '--prune', path.join(f.tmp, 'repair-work'));
      assert.is(r.code, 0, r.stdout + r.stderr);
      assert.ok((f.server.hits.get('/NGC253ALMA.jpg') ?? 0) > hits, 'rebuilt from the source: the repair work dir had nothing');
      assert.equal(await f.repo.get(tile), good, 'the corrupted tile is the built one again');
      assert.ok(await f.repo.exists(gone));
      assert.is(await f.repo.exists(`${IDS.ngc7552}/notes.txt`), false);
      assert.is(parseWtml((await f.text('index.wtml'))!).children.length, 2);
      r = await verify('--json');
      assert.is(r.code, 0, r.stdout);

      // A record that does not parse is a problem of its own; the unusable repository is exit 2.
      await f.repo.put(`${IDS.ngc7552}/toasty-build.json`, '{"format": 1, "image"');
      r = await verify('--json');
      assert.is(r.code, 1);
      assert.ok((JSON.parse(r.stdout) as Problems).problems.some((p) => p.problem === 'record-unreadable' && p.image === IDS.ngc7552));
      await f.repo.delete('toasty-pipeline-config.yaml');
      r = await verify();
      assert.is(r.code, 2, r.stderr);
    } finally {
      await f.close();
    }
  });

  s.after(async () => {
    if (kind.kind === 'azure') await stopSharedAzurite();
  });
  s.run();
}
