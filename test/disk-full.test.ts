// A full disk under the work directory: the image that does not fit fails with a message
// naming it, the others are published, nothing half-written is left or published, and once
// there is room the next run finishes without redoing what was done.
import { execFileSync } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Fixture, IDS, ran } from './helpers/pipeline-fixture.js';

function tryMount(dir: string, size: string): boolean {
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

test('ENOSPC while tiling: others published, nothing half-written, resumes once there is room', async () => {
  const f = await Fixture.create({ kind: 'local' });
  await fsp.mkdir(f.workdir, { recursive: true });
  if (!tryMount(f.workdir, '3m')) {
    console.log('  SKIPPED: cannot mount a small tmpfs here (needs root)');
    await f.close();
    return;
  }
  try {
    const r = await f.run('make', '--json');
    assert.is(r.code, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`${IDS.ngc253}.*(ENOSPC|no space)`, 'i'));
    assert.ok(await f.repo.exists(`${IDS.ngc7552}/index.wtml`), 'the image that fits is published');
    assert.not.ok(await f.repo.exists(`${IDS.ngc253}/index.wtml`), 'the one that did not fit is invisible');
    assert.ok((await f.text('index.wtml'))?.includes(IDS.ngc7552));
    // No temporary or partial output folders left behind.
    const outTodo = await fsp.readdir(path.join(f.workdir, 'out_todo')).catch(() => [] as string[]);
    assert.equal(
      outTodo.filter((n) => n.startsWith('.')),
      [],
      'no temp folders',
    );
    assert.not.ok(outTodo.includes(IDS.ngc253), 'no partial study');

    execFileSync('mount', ['-o', 'remount,size=64m', f.workdir]);
    const again = await f.run('make', '--json');
    assert.is(again.code, 0, again.stderr);
    assert.ok(
      ran(again).every((n) => !n.endsWith(IDS.ngc7552)),
      `nothing redone for the published image: ${ran(again)}`,
    );
    assert.ok(await f.repo.exists(`${IDS.ngc253}/index.wtml`));
  } finally {
    execFileSync('umount', [f.workdir], { stdio: 'ignore' });
    await f.close();
  }
});

test.run();
