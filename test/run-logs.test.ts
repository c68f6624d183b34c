// What a run prints without a terminal (CI logs) and what a dry run promises, through the
// real CLI: a line per finished node with its time, throttled progress lines for long tasks,
// a closing count; in a plan, nodes that only might run are marked so.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Fixture, IDS } from './helpers/pipeline-fixture.js';

test('without a terminal: a done line per node with its time, progress lines, a closing count', async () => {
  const f = await Fixture.create({ kind: 'local' });
  try {
    // 50 ms between progress lines (the default, 10 s, is longer than this whole run).
    f.env.TOASTY_PROGRESS_INTERVAL_MS = '50';
    const r = await f.run('make', '--json');
    assert.is(r.code, 0, r.stderr);
    const lines = r.stderr.split('\n');
    const nodes = r.json?.nodes ?? [];
    assert.is(nodes.length, 9, 'fetch, tile, wtml, upload of two images and the index');
    for (const n of nodes) {
      const done = new RegExp(`^${n.rule}\\s+${n.image ?? ''}\\s+done in \\d+\\.\\d s$`);
      assert.is(lines.filter((l) => done.test(l)).length, 1, `one done line for ${n.rule} ${n.image}:\n${r.stderr}`);
    }
    const progress = lines.filter((l) => l.startsWith(`tile ${IDS.ngc253}: `));
    assert.ok(progress.length >= 2, `throttled progress lines for the tiling:\n${r.stderr}`);
    for (const l of progress) {
      const m = /^tile \S+: (\d+)\/(\d+) tiles \((\d+)%\)$/.exec(l);
      assert.ok(m, l);
      assert.is(Number(m[3]), Math.floor((100 * Number(m[1])) / Number(m[2])));
    }
    const counts = progress.map((l) => Number(/: (\d+)\//.exec(l)![1]));
    assert.equal(
      counts,
      [...counts].sort((a, b) => a - b),
      'progress only goes up',
    );
    assert.match(r.stderr, /^Done in \d+\.\d s: 9 ran, 0 already done, 0 failed, 0 skipped\.$/m);

    // With the default interval a short run prints no progress lines; -q prints no info at all.
    delete f.env.TOASTY_PROGRESS_INTERVAL_MS;
    const again = await f.run('make', '--force', 'nrao_*');
    assert.is(again.code, 0, again.stderr);
    assert.not.match(again.stderr, /tiles \(\d+%\)/);
    assert.match(again.stderr, /^Done in \d+\.\d s: 5 ran, 4 already done, 0 failed, 0 skipped\.$/m);
    const quiet = await f.run('make', '-q', '--force', 'nrao_*');
    assert.is(quiet.code, 0, quiet.stderr);
    assert.is(quiet.stderr, '', 'quiet: nothing to say');
  } finally {
    await f.close();
  }
});

test('dry run: nodes below a stale one are "may run", and the real run indeed skips what did not change', async () => {
  const f = await Fixture.create({ kind: 'local' });
  try {
    assert.is((await f.run('make')).code, 0);
    // Only the title changes: fetch (it records the record) must run; the tiling reads the
    // image's bytes, which do not change, so it runs only if fetch's outputs change.
    const recs = await f.baseRecords();
    recs[1] = { ...recs[1], title: 'A new title' };
    f.setRecords(recs);
    const plan = await f.run('make', '--dry-run', '--json');
    assert.is(plan.code, 0, plan.stderr);
    const nodes = (plan.json?.nodes ?? []) as unknown as Array<{
      rule: string;
      image: string | null;
      status: string;
      certain: boolean;
      cause: { kind: string };
    }>;
    const of = (rule: string) => nodes.find((n) => n.rule === rule && n.image === IDS.ngc7552);
    assert.equal([of('fetch')?.status, of('fetch')?.certain], ['would-run', true]);
    for (const n of nodes) assert.is(n.certain, n.cause.kind !== 'after', `${n.rule} ${n.image}: certain unless only after a dependency`);
    const maybe = nodes.filter((n) => !n.certain);
    assert.ok(maybe.length > 0, 'some nodes only may run');
    for (const n of maybe) assert.is(n.status, 'may-run');
    assert.ok(
      maybe.some((n) => n.rule === 'tile'),
      'the tiling may run',
    );

    const text = await f.run('make', '--dry-run');
    assert.match(text.stdout, /^\d+ node\(s\) would run:\n {2}fetch +noirlab_geminiann11015a/m);
    assert.match(text.stdout, /^\d+ node\(s\) may run, if what they depend on changes when it runs:$/m);
    const mayPart = text.stdout.slice(text.stdout.indexOf('may run'));
    assert.match(mayPart, /^ {2}tile +noirlab_geminiann11015a +after fetch:noirlab_geminiann11015a$/m);

    // The real run: the tiling did not run (fetch produced the same image), as "may" allowed.
    const real = await f.run('make', '--json');
    assert.is(real.code, 0, real.stderr);
    const ran = (real.json?.nodes ?? []).map((n) => `${n.rule}:${n.image}`);
    assert.ok(ran.includes(`fetch:${IDS.ngc7552}`), ran.join(' '));
    assert.not.ok(ran.includes(`tile:${IDS.ngc7552}`), ran.join(' '));
  } finally {
    await f.close();
  }
});

test.run();
