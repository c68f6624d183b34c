// The generic engine on a toy build: source files -> upper-cased copies -> a concatenation.
import { promises as fsp } from 'node:fs';
import { spawn } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BuildGraph, Manifest, acquireLock, digestBytes, execute, type NodeOutcome, type Rule } from '../src/engine/index.js';

interface Ctx {
  dir: string;
  runs: string[];
  /** Transform applied by `upper` (changing it without a version bump models a cutoff case). */
  transform: (s: string) => string;
}

const read = (ctx: Ctx, name: string) => fsp.readFile(path.join(ctx.dir, name), 'utf8');

function upperRule(version = 1): Rule<Ctx> {
  return {
    name: 'upper',
    version,
    newReason: 'new source',
    async inputs(inv) {
      const src = await read(inv.ctx, `${inv.node.group}.src`);
      return { source: await digestBytes(src) };
    },
    async run(inv) {
      inv.ctx.runs.push(inv.node.id);
      const src = await read(inv.ctx, `${inv.node.group}.src`);
      if (src.includes('FAIL')) throw new Error('bad source');
      const out = inv.ctx.transform(src);
      await fsp.writeFile(path.join(inv.ctx.dir, `${inv.node.group}.up`), out);
      return { outputs: { [`${inv.node.group}.up`]: await digestBytes(out) } };
    },
    async verify(inv) {
      try {
        await fsp.access(path.join(inv.ctx.dir, `${inv.node.group}.up`));
        return null;
      } catch {
        return 'output missing';
      }
    },
    explain: (changed) => `source changed (${changed.join(', ')})`,
  };
}

const concatRule: Rule<Ctx> = {
  name: 'concat',
  version: 1,
  inputs(inv) {
    return Object.fromEntries([...inv.deps].map(([id, r]) => [id, r.outputs]));
  },
  async run(inv) {
    inv.ctx.runs.push(inv.node.id);
    const parts = [];
    for (const id of [...inv.deps.keys()].sort()) parts.push(await read(inv.ctx, `${id.split(':')[1]}.up`));
    const out = parts.join('|');
    await fsp.writeFile(path.join(inv.ctx.dir, 'all.txt'), out);
    return { outputs: { 'all.txt': await digestBytes(out) } };
  },
};

function buildGraph(names: string[], upper = upperRule()) {
  const g = new BuildGraph<Ctx>();
  for (const n of names) g.add({ id: `upper:${n}`, rule: upper, group: n, deps: [] });
  g.add({ id: 'concat', rule: concatRule, group: null, deps: names.map((n) => `upper:${n}`) });
  return g.seal();
}

async function setup(names: string[]) {
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'toasty-engine-'));
  for (const n of names) await fsp.writeFile(path.join(dir, `${n}.src`), `text of ${n}`);
  const ctx: Ctx = { dir, runs: [], transform: (s) => s.toUpperCase() };
  return ctx;
}

async function run(ctx: Ctx, names: string[], extra: { dryRun?: boolean; force?: string[]; jobs?: number; upper?: Rule<Ctx> } = {}) {
  ctx.runs = [];
  const manifest = await Manifest.load(ctx.dir);
  const outcomes = await execute({
    graph: buildGraph(names, extra.upper),
    manifest,
    ctx,
    dryRun: extra.dryRun,
    jobs: extra.jobs,
    force: (s) => (extra.force ?? []).includes(s.group ?? ''),
  });
  if (!extra.dryRun) await manifest.compact();
  await manifest.close();
  return outcomes;
}

const active = (o: NodeOutcome[]) => o.filter((x) => x.status === 'ran' || x.status === 'would-run').map((x) => `${x.id}=${x.reason}`);

test('first run builds everything, second run nothing', async () => {
  const ctx = await setup(['a', 'b']);
  const first = await run(ctx, ['a', 'b']);
  assert.equal(active(first), ['upper:a=new source', 'upper:b=new source', 'concat=new']);
  assert.is(await read(ctx, 'all.txt'), 'TEXT OF A|TEXT OF B');
  const second = await run(ctx, ['a', 'b']);
  assert.equal(active(second), []);
  assert.equal(ctx.runs, []);
});

test('a changed source reruns its chain only; unchanged output cuts off', async () => {
  const ctx = await setup(['a', 'b']);
  await run(ctx, ['a', 'b']);
  await fsp.writeFile(path.join(ctx.dir, 'a.src'), 'new a');
  const o = await run(ctx, ['a', 'b']);
  assert.equal(ctx.runs, ['upper:a', 'concat']);
  assert.match(active(o)[0], /upper:a=source changed \(source\)/);
  assert.is(await read(ctx, 'all.txt'), 'NEW A|TEXT OF B');
  // Same upper-cased output from a different source: upper reruns, concat stays fresh.
  await fsp.writeFile(path.join(ctx.dir, 'a.src'), 'NEW A');
  const o2 = await run(ctx, ['a', 'b']);
  assert.equal(ctx.runs, ['upper:a']);
  assert.is(o2.find((x) => x.id === 'upper:a')!.changed, false);
});

test('missing output, forced node and rule version change are reasons to rerun', async () => {
  const ctx = await setup(['a', 'b']);
  await run(ctx, ['a', 'b']);
  await fsp.rm(path.join(ctx.dir, 'b.up'));
  let o = await run(ctx, ['a', 'b']);
  assert.equal(active(o), ['upper:b=output missing']);
  o = await run(ctx, ['a', 'b'], { force: ['a'] });
  assert.equal(active(o), ['upper:a=forced']);
  o = await run(ctx, ['a', 'b'], { upper: upperRule(2) });
  assert.equal(active(o).slice(0, 2), ['upper:a=rule version changed (1 -> 2)', 'upper:b=rule version changed (1 -> 2)']);
});

test('dry run reports the plan and changes nothing', async () => {
  const ctx = await setup(['a', 'b']);
  await run(ctx, ['a', 'b']);
  await fsp.writeFile(path.join(ctx.dir, 'b.src'), 'changed');
  const before = await snapshot(ctx.dir);
  const o = await run(ctx, ['a', 'b', 'c'].slice(0, 2), { dryRun: true });
  assert.equal(active(o), ['upper:b=source changed (source)', 'concat=after upper:b']);
  assert.equal(ctx.runs, []);
  assert.equal(await snapshot(ctx.dir), before);
});

test('a failing node skips its dependents, not its siblings; the next run retries it', async () => {
  const ctx = await setup(['a', 'b', 'c']);
  await fsp.writeFile(path.join(ctx.dir, 'b.src'), 'FAIL please');
  const o = await run(ctx, ['a', 'b', 'c'], { jobs: 2 });
  const by = Object.fromEntries(o.map((x) => [x.id, x.status]));
  assert.equal(by, { 'upper:a': 'ran', 'upper:b': 'failed', 'upper:c': 'ran', concat: 'skipped' });
  assert.match(String(o.find((x) => x.id === 'upper:b')!.error?.message), /bad source/);
  await fsp.writeFile(path.join(ctx.dir, 'b.src'), 'fixed');
  await run(ctx, ['a', 'b', 'c']);
  assert.equal(ctx.runs, ['upper:b', 'concat']);
});

test('manifest journal survives a torn last line', async () => {
  const ctx = await setup(['a']);
  const m = await Manifest.load(ctx.dir);
  await m.set('x', { rule: 'r', version: 1, key: 'k', leaves: {}, result: { outputs: { f: '1' } }, at: 'now' });
  await m.close();
  await fsp.appendFile(path.join(ctx.dir, 'toasty-manifest.journal'), '{"set":"y","entry":{"ru');
  const again = await Manifest.load(ctx.dir);
  assert.equal(again.ids(), ['x']);
  await again.compact();
  const third = await Manifest.load(ctx.dir);
  assert.equal(third.get('x')!.result.outputs, { f: '1' });
});

test('work-directory lock: a live holder is refused by pid, a dead one is taken over', async () => {
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'toasty-lock-'));
  const lock = await acquireLock(dir, 'first');
  try {
    await acquireLock(dir, 'second');
    assert.unreachable('second lock should fail');
  } catch (e) {
    assert.match((e as Error).message, new RegExp(`pid ${process.pid}`));
  }
  await lock.release();
  // A lock left by a process that no longer exists.
  const child = spawn(process.execPath, ['-e', '0']);
  const pid: number = await new Promise((r) => child.on('exit', () => r(child.pid!)));
  await fsp.writeFile(path.join(dir, '.toasty.lock'), JSON.stringify({ pid, host: os.hostname(), started: 'x' }));
  const taken = await acquireLock(dir, 'third');
  assert.ok(JSON.parse(await fsp.readFile(taken.file, 'utf8')).pid === process.pid);
  await taken.release();
});

async function snapshot(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const f of (await fsp.readdir(dir)).sort()) out[f] = await fsp.readFile(path.join(dir, f), 'utf8');
  return out;
}

test.run();
