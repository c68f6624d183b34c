// The generic engine on a toy build: source files -> upper-cased copies -> a concatenation.
import { promises as fsp } from 'node:fs';
import { spawn } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  BuildGraph,
  Manifest,
  digestBytes,
  everyGroup,
  execute,
  ruleFor,
  sameGroup,
  type Deps,
  type NodeOutcome,
  type NodeRef,
  type StaleCause,
} from '../src/engine/index.js';
import { canonicalJson } from '../src/engine/key.js';
import { parseSnapshot } from '../src/engine/manifest.js';
import { deepFreeze } from '../src/util/freeze.js';
import { acquireLock } from '../src/util/lock.js';

interface Ctx {
  dir: string;
  runs: string[];
  /** Transform applied by `upper` (changing it without a version bump models a cutoff case). */
  transform: (s: string) => string;
}

const read = (ctx: Ctx, name: string) => fsp.readFile(path.join(ctx.dir, name), 'utf8');

function upperRule(version = 1) {
  return ruleFor<Ctx>()({
    name: 'upper',
    version,
    scope: 'each',
    deps: {},
    async inputs(inv) {
      const src = await read(inv.ctx, `${inv.group}.src`);
      return { source: await digestBytes(src) };
    },
    async run(inv) {
      inv.ctx.runs.push(inv.node.id);
      const src = await read(inv.ctx, `${inv.group}.src`);
      if (src.includes('FAIL')) throw new Error('bad source');
      const out = inv.ctx.transform(src);
      await fsp.writeFile(path.join(inv.ctx.dir, `${inv.group}.up`), out);
      return { outputs: { [`${inv.group}.up`]: await digestBytes(out) } };
    },
    async verify(inv) {
      try {
        await fsp.access(path.join(inv.ctx.dir, `${inv.group}.up`));
        return null;
      } catch {
        return { problem: 'missing', where: 'test directory', files: [`${inv.group}.up`] };
      }
    },
  });
}

type UpperRule = ReturnType<typeof upperRule>;

function concatRule(upper: UpperRule) {
  return ruleFor<Ctx>()({
    name: 'concat',
    version: 1,
    scope: 'one',
    deps: { uppers: everyGroup(upper) },
    inputs(inv) {
      return Object.fromEntries([...inv.deps.uppers].map(([group, r]) => [group, r.outputs]));
    },
    async run(inv) {
      inv.ctx.runs.push(inv.node.id);
      const parts = [];
      for (const group of [...inv.deps.uppers.keys()].sort()) parts.push(await read(inv.ctx, `${group}.up`));
      const out = parts.join('|');
      await fsp.writeFile(path.join(inv.ctx.dir, 'all.txt'), out);
      return { outputs: { 'all.txt': await digestBytes(out) } };
    },
  });
}

function buildGraph(names: string[], upper = upperRule()) {
  return BuildGraph.build([concatRule(upper)], names);
}

async function setup(names: string[]) {
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'toasty-engine-'));
  for (const n of names) await fsp.writeFile(path.join(dir, `${n}.src`), `text of ${n}`);
  const ctx: Ctx = { dir, runs: [], transform: (s) => s.toUpperCase() };
  return ctx;
}

async function run(ctx: Ctx, names: string[], extra: { dryRun?: boolean; force?: string[]; jobs?: number; upper?: UpperRule } = {}) {
  ctx.runs = [];
  const manifest = await Manifest.load(ctx.dir, 'manifest');
  const outcomes = await execute({
    graph: buildGraph(names, extra.upper),
    manifest,
    ctx,
    dryRun: extra.dryRun,
    jobs: extra.jobs,
    force: (n: NodeRef) => (extra.force ?? []).includes(n.group ?? ''),
  });
  if (!extra.dryRun) await manifest.compact();
  await manifest.close();
  return outcomes;
}

/** A cause in a few words, for compact assertions (the reporter's words are tested elsewhere). */
function short(c: StaleCause): string {
  switch (c.kind) {
    case 'inputs-changed':
      return `inputs changed (${c.changes.map((x) => x.path).join(', ')})`;
    case 'outputs':
      return `outputs ${c.problem} (${c.files.join(', ')})`;
    case 'rule-changed':
      return `rule version changed (${c.from} -> ${c.to})`;
    case 'after':
      return `after ${c.dep.id}`;
    default:
      return c.kind;
  }
}

const active = (o: NodeOutcome[]) => o.flatMap((x) => (x.status === 'ran' || x.status === 'would-run' ? [`${x.id}=${short(x.cause)}`] : []));

test('canonical JSON is the text of a key-sorted copy, byte for byte (keys stay valid)', () => {
  // The straightforward definition the fast writer must agree with.
  const sortKeys = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(sortKeys);
    if (v && typeof v === 'object') {
      const out: Record<string, unknown> = {};
      for (const k of Object.keys(v).sort()) {
        const x = (v as Record<string, unknown>)[k];
        if (x !== undefined) out[k] = sortKeys(x);
      }
      return out;
    }
    return v;
  };
  const values: unknown[] = [
    null,
    0,
    -0,
    1.5e300,
    Number.NaN,
    'é"\\\n\u2028',
    [1, undefined, null, [], {}],
    { b: 1, a: { d: [3, { z: 1, y: undefined }], c: 'x' }, '': true },
    // Array-index keys come first in numeric order in a fresh object; other digit keys do not.
    { 10: 'ten', 9: 'nine', '01': 'zero-one', a: 1, 4294967294: 'max index', 4294967295: 'not an index', '-1': 'minus' },
    { wcs_scale: ['-0.0001', '0.0001'], files: { 'b.png': 'ff', 'a.png': '00' }, n: Number.POSITIVE_INFINITY },
  ];
  let seed = 7;
  const rnd = (n: number) => {
    seed = (seed * 1103515245 + 12345) >>> 0;
    return seed % n;
  };
  const gen = (depth: number): unknown => {
    const kind = rnd(depth > 3 ? 4 : 6);
    if (kind === 0) return rnd(2) ? rnd(1000) / 7 : null;
    if (kind === 1) return String.fromCharCode(32 + rnd(200), 32 + rnd(90));
    if (kind === 2) return rnd(2) === 1;
    if (kind === 3) return rnd(3) ? undefined : `s${rnd(10)}`;
    if (kind === 4) return Array.from({ length: rnd(4) }, () => gen(depth + 1));
    return Object.fromEntries(Array.from({ length: rnd(6) }, () => [rnd(2) ? String(rnd(30)) : `k${String.fromCharCode(65 + rnd(60))}`, gen(depth + 1)]));
  };
  for (let i = 0; i < 500; i++) values.push(gen(0));
  // Many keys, out of order (objects of up to 32 keys are sorted by hand, larger ones by sort()).
  for (const n of [20, 32, 33, 40]) {
    values.push(Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${String.fromCharCode(65 + ((i * 7) % 58))}${n - i}`, i])));
  }
  for (const v of values) assert.is(canonicalJson(v), JSON.stringify(sortKeys(v)), JSON.stringify(sortKeys(v)));
  // Deeply frozen values are written once and kept: the kept text is the same text.
  for (const v of values) {
    const expected = JSON.stringify(sortKeys(v));
    deepFreeze(v);
    assert.is(canonicalJson(v), expected);
    assert.is(canonicalJson({ outer: [v, v] }), JSON.stringify({ outer: [sortKeys(v), sortKeys(v)] }));
  }
});

test('canonical JSON keeps no text of a value that may still change', () => {
  // Frozen on the outside, mutable inside: never kept, so a change inside is seen.
  const inner = { scale: ['-0.0001', '0.0001'] };
  const record = Object.freeze({ title: 'a', wcs: inner });
  assert.is(canonicalJson(record), '{"title":"a","wcs":{"scale":["-0.0001","0.0001"]}}');
  inner.scale[0] = '0.5';
  assert.is(canonicalJson(record), '{"title":"a","wcs":{"scale":["0.5","0.0001"]}}');
  // A mutable object holding a deeply frozen one: the frozen part is kept, the rest is not.
  const shared = deepFreeze({ sharp: '0.35', encoding: { quality: 90 } });
  const inputs: Record<string, unknown> = { toolchain: shared, image: 'aa' };
  assert.is(canonicalJson(inputs), '{"image":"aa","toolchain":{"encoding":{"quality":90},"sharp":"0.35"}}');
  inputs.image = 'bb';
  assert.is(canonicalJson(inputs), '{"image":"bb","toolchain":{"encoding":{"quality":90},"sharp":"0.35"}}');
});

test('present() is asked only when a dependent that runs needs the outputs, and a missing one is rebuilt then', async () => {
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'toasty-engine-present-'));
  interface PCtx {
    dir: string;
    asked: string[];
    flavour: string;
  }
  const out = (ctx: PCtx, group: string) => path.join(ctx.dir, `${group}.made`);
  const made = ruleFor<PCtx>()({
    name: 'made',
    version: 1,
    scope: 'each',
    deps: {},
    inputs: (inv) => ({ group: inv.group }),
    async run(inv) {
      await fsp.writeFile(out(inv.ctx, inv.group), inv.group);
      return { outputs: { made: await digestBytes(inv.group) } };
    },
    async present(inv) {
      inv.ctx.asked.push(inv.group);
      return fsp.access(out(inv.ctx, inv.group)).then(
        () => true,
        () => false,
      );
    },
  });
  const use = ruleFor<PCtx>()({
    name: 'use',
    version: 1,
    scope: 'each',
    deps: { made: sameGroup(made) },
    inputs: (inv) => ({ made: inv.deps.made.outputs, flavour: inv.ctx.flavour }),
    async run(inv) {
      await inv.materialize('made');
      const text = await fsp.readFile(out(inv.ctx, inv.group), 'utf8');
      return { outputs: { use: await digestBytes(`${text}${inv.ctx.flavour}`) } };
    },
  });
  const ctx: PCtx = { dir, asked: [], flavour: 'plain' };
  const go = async () => {
    ctx.asked = [];
    const manifest = await Manifest.load(dir, 'manifest');
    const outcomes = await execute({ graph: BuildGraph.build([use], ['a', 'b']), manifest, ctx });
    await manifest.compact();
    await manifest.close();
    return outcomes.filter((o) => o.status === 'ran').map((o) => (o.status === 'ran' ? `${o.id}=${o.cause.kind}` : ''));
  };
  try {
    assert.equal(await go(), ['made:a=new', 'use:a=new', 'made:b=new', 'use:b=new']);
    await fsp.rm(out(ctx, 'a'));
    assert.equal(await go(), [], 'up to date: nothing runs');
    assert.equal(ctx.asked, [], 'and nobody asks whether outputs are in place');
    ctx.flavour = 'spicy';
    assert.equal(await go(), ['made:a=needed', 'use:a=inputs-changed', 'use:b=inputs-changed']);
    assert.equal(ctx.asked.sort(), ['a', 'b'], 'asked by the dependents that ran');
    assert.is(await fsp.readFile(out(ctx, 'a'), 'utf8'), 'a', 'the missing output was made again');
  } finally {
    await fsp.rm(dir, { recursive: true, force: true });
  }
});

test('the rule graph refuses a dependency cycle and two rules of one name, naming them', () => {
  const a = upperRule();
  const b = ruleFor<Ctx>()({
    name: 'b',
    version: 1,
    scope: 'each',
    deps: { up: sameGroup(a) },
    inputs: async () => ({}),
    run: async () => ({ outputs: {} }),
  });
  assert.equal(
    BuildGraph.build([b], ['x'])
      .order()
      .map((n) => n.id),
    ['upper:x', 'b:x'],
  );
  // Rules are declared by reference, so a cycle needs a dependency added afterwards.
  (a.deps as Record<string, unknown>).back = sameGroup(b);
  assert.throws(() => BuildGraph.build([b], ['x']), /cycle: b depends on upper, which leads back to b/);
  delete (a.deps as Record<string, unknown>).back;
  assert.throws(() => BuildGraph.build([b, upperRule(2)], ['x']), /two different rules are named upper/);
});

test('graph order: dependencies first, each group together where the rules allow it', () => {
  const rule = (name: string, deps: Deps, scope: 'each' | 'one' = 'each') =>
    ruleFor<Ctx>()({ name, version: 1, scope, deps, inputs: () => null, run: async () => ({ outputs: {} }) });
  const a = rule('a', {});
  const b = rule('b', { a: sameGroup(a) });
  const all = rule('all', { bs: everyGroup(b) }, 'one');
  assert.equal(
    BuildGraph.build([all], ['x', 'y'])
      .order()
      .map((n) => n.id),
    ['a:x', 'b:x', 'a:y', 'b:y', 'all'],
  );
  // A per-group node that reads every group's node of another rule waits for all of them.
  const c = rule('c', { as: everyGroup(a) });
  assert.equal(
    BuildGraph.build([c, b], ['x', 'y'])
      .order()
      .map((n) => n.id),
    ['a:x', 'b:x', 'a:y', 'c:x', 'c:y', 'b:y'],
  );
});

test('first run builds everything, second run nothing', async () => {
  const ctx = await setup(['a', 'b']);
  const first = await run(ctx, ['a', 'b']);
  assert.equal(active(first), ['upper:a=new', 'upper:b=new', 'concat=new']);
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
  assert.is(active(o)[0], 'upper:a=inputs changed (source)');
  assert.is(await read(ctx, 'all.txt'), 'NEW A|TEXT OF B');
  // Same upper-cased output from a different source: upper reruns, concat stays fresh.
  await fsp.writeFile(path.join(ctx.dir, 'a.src'), 'NEW A');
  const o2 = await run(ctx, ['a', 'b']);
  assert.equal(ctx.runs, ['upper:a']);
  const a = o2.find((x) => x.id === 'upper:a')!;
  assert.ok(a.status === 'ran' && a.changed === false);
});

test('missing output, forced node and rule version change are reasons to rerun', async () => {
  const ctx = await setup(['a', 'b']);
  await run(ctx, ['a', 'b']);
  await fsp.rm(path.join(ctx.dir, 'b.up'));
  let o = await run(ctx, ['a', 'b']);
  assert.equal(active(o), ['upper:b=outputs missing (b.up)']);
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
  assert.equal(active(o), ['upper:b=inputs changed (source)', 'concat=after upper:b']);
  assert.equal(ctx.runs, []);
  assert.equal(await snapshot(ctx.dir), before);
});

test('a failing node skips its dependents, not its siblings; the next run retries it', async () => {
  const ctx = await setup(['a', 'b', 'c']);
  await fsp.writeFile(path.join(ctx.dir, 'b.src'), 'FAIL please');
  const o = await run(ctx, ['a', 'b', 'c'], { jobs: 2 });
  const by = Object.fromEntries(o.map((x) => [x.id, x.status]));
  assert.equal(by, { 'upper:a': 'ran', 'upper:b': 'failed', 'upper:c': 'ran', concat: 'skipped' });
  const b = o.find((x) => x.id === 'upper:b')!;
  assert.match(String(b.status === 'failed' && (b.error as Error).message), /bad source/);
  await fsp.writeFile(path.join(ctx.dir, 'b.src'), 'fixed');
  await run(ctx, ['a', 'b', 'c']);
  assert.equal(ctx.runs, ['upper:b', 'concat']);
});

test('interrupted: a running finish node completes and is recorded; an abandon node is left behind, never recorded', async () => {
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'toasty-engine-'));
  // Each node runs until the test opens its gate.
  const gates = new Map<string, () => void>();
  const started: string[] = [];
  const signals = new Map<string, AbortSignal>();
  let wake = () => {};
  const gated = (interrupt: 'finish' | 'abandon') =>
    ruleFor<null>()({
      name: interrupt === 'finish' ? 'quick' : 'slow',
      version: 1,
      scope: 'each',
      interrupt,
      deps: {},
      inputs: () => ({}),
      async run(inv) {
        started.push(inv.node.id);
        signals.set(inv.node.id, inv.signal);
        wake();
        await new Promise<void>((go) => gates.set(inv.node.id, go));
        return { outputs: { [inv.node.id]: await digestBytes(inv.node.id) } };
      },
    });
  const quick = gated('finish');
  const slow = gated('abandon');
  const after = ruleFor<null>()({
    name: 'after',
    version: 1,
    scope: 'each',
    deps: { quick: sameGroup(quick) },
    inputs: (inv) => inv.deps.quick.outputs,
    run: async () => ({ outputs: {} }),
  });
  const manifest = await Manifest.load(dir, 'manifest');
  const stop = new AbortController();
  const ends: string[] = [];
  let returned = false;
  const running = execute({
    graph: BuildGraph.build([after, slow], ['a']),
    manifest,
    ctx: null,
    jobs: 2,
    signal: stop.signal,
    onEvent: (e) => {
      if (e.type === 'node-end') ends.push(`${e.outcome.id}=${e.outcome.status}`);
    },
  }).finally(() => (returned = true));
  while (started.length < 2) await new Promise<void>((r) => (wake = r));
  assert.equal([...started].sort(), ['quick:a', 'slow:a']);
  stop.abort();
  await new Promise((r) => setTimeout(r, 50));
  assert.not.ok(returned, 'the run waits for the finish node');
  assert.not.ok(signals.get('quick:a')!.aborted);
  gates.get('quick:a')!();
  const outcomes = await running;
  const by = Object.fromEntries(outcomes.map((o) => [o.id, o.status === 'skipped' ? o.cause.kind : o.status]));
  assert.equal(by, { 'quick:a': 'ran', 'slow:a': 'abandoned', 'after:a': 'interrupted' });
  assert.ok(signals.get('slow:a')!.aborted, 'the abandoned rule is told to stop');
  assert.ok(manifest.get('quick:a'), 'the finished node is recorded');
  // The abandoned node completes late: nothing of it is recorded or reported.
  gates.get('slow:a')!();
  await new Promise((r) => setTimeout(r, 50));
  assert.is(manifest.get('slow:a'), undefined);
  assert.equal(
    ends.filter((e) => e.startsWith('slow:a')),
    ['slow:a=skipped'],
  );
  await manifest.close();
  const reloaded = await Manifest.load(dir, 'manifest');
  assert.ok(reloaded.get('quick:a'));
  assert.is(reloaded.get('slow:a'), undefined);
  await reloaded.close();
});

test('manifest journal survives a torn last line', async () => {
  const ctx = await setup(['a']);
  const m = await Manifest.load(ctx.dir, 'manifest');
  await m.set('x', { rule: 'r', version: 1, key: 'k', leaves: {}, result: { outputs: { f: '1' } }, at: 'now' });
  await m.close();
  await fsp.appendFile(path.join(ctx.dir, 'manifest.journal'), '{"set":"y","entry":{"ru');
  const again = await Manifest.load(ctx.dir, 'manifest');
  assert.equal(again.ids(), ['x']);
  await again.compact();
  const third = await Manifest.load(ctx.dir, 'manifest');
  assert.equal(third.get('x')!.result.outputs, { f: '1' });
});

test('manifest: formats 1 and 2 are read and rewritten as format 3; leaves are read from the leaves section only when asked for', async () => {
  const ctx = await setup(['a']);
  const file = path.join(ctx.dir, 'manifest.json');
  const entry = (key: string, leaves: Record<string, string>) => ({
    rule: 'r',
    version: 1,
    key,
    leaves,
    result: { outputs: { f: key }, meta: { n: 1, title: 'Carina – Nebel ✓' } },
    at: 'now',
  });
  const v1 = {
    format: 1,
    nodes: { 'r:b': entry('kb', { 'x.y': '"b"', z: '#0123456789ab' }), 'r:a\tb': entry('ka', { '': '{}' }), 'r:é': entry('ke', { t: '"ü"' }) },
  };
  const sameNodes = async (m: Manifest, what: string) => {
    assert.equal(m.ids().sort(), Object.keys(v1.nodes).sort(), what);
    for (const id of m.ids()) assert.equal(JSON.parse(JSON.stringify(m.get(id))), v1.nodes[id as keyof typeof v1.nodes], `${what}: ${id}`);
  };
  await fsp.writeFile(file, JSON.stringify(v1));
  const m = await Manifest.load(ctx.dir, 'manifest');
  await sameNodes(m, 'format 1');
  await m.compact();
  const text = await fsp.readFile(file, 'utf8');
  assert.match(text, /^\{"format":3,"records":\d+\}\n/);
  // The header counts the records section in bytes (the non-ASCII text above makes them differ from characters).
  const records = Number(/"records":(\d+)/.exec(text)![1]);
  const body = Buffer.from(text.slice(text.indexOf('\n') + 1));
  assert.ok(body.toString('utf8', 0, records).endsWith('\n') && !body.toString('utf8', 0, records).includes('x.y'), 'records without leaves');
  assert.ok(body.toString('utf8', records).includes('"x.y"'), 'then the leaves');
  const again = await Manifest.load(ctx.dir, 'manifest');
  await sameNodes(again, 'format 3');
  assert.equal(again.get('r:b')!.leaves, { 'x.y': '"b"', z: '#0123456789ab' });
  assert.equal(parseSnapshot(text).get('r:é'), v1.nodes['r:é'], 'parseSnapshot reads format 3 too');
  // A node recorded since is written with the ones kept as text, each with its own leaves.
  await again.set('r:c', entry('kc', { w: '2' }));
  await again.compact();
  const third = await Manifest.load(ctx.dir, 'manifest');
  assert.equal(third.get('r:c')!.leaves, { w: '2' });
  assert.equal(third.get('r:b')!.leaves, { 'x.y': '"b"', z: '#0123456789ab' });
  assert.is(third.get('r:a\tb')!.key, 'ka');
  await third.close();
  // Format 2: id, record and leaves on each line.
  const v2 = [
    '{"format":2}',
    ...Object.entries(v1.nodes).map(([id, e]) => {
      const { leaves, ...rest } = e;
      return `${JSON.stringify(id)}\t${JSON.stringify(rest)}\t${JSON.stringify(leaves)}`;
    }),
  ].join('\n');
  await fsp.writeFile(file, `${v2}\n`);
  const fromV2 = await Manifest.load(ctx.dir, 'manifest');
  await sameNodes(fromV2, 'format 2');
  await fromV2.compact();
  assert.match(await fsp.readFile(file, 'utf8'), /^\{"format":3,/, 'rewritten as format 3');
  // Damage is reported, not skipped: a record line that is not one, a records section cut short.
  const fresh = await fsp.readFile(file, 'utf8');
  const header = fresh.slice(0, fresh.indexOf('\n'));
  const firstRecord = fresh.split('\n')[1];
  const damagedRecords = `${firstRecord}\n"r:x"\t{"rule":\n`;
  await fsp.writeFile(file, `{"format":3,"records":${Buffer.byteLength(damagedRecords)}}\n${damagedRecords}`);
  const damaged = await Manifest.load(ctx.dir, 'manifest').then(
    () => null,
    (e: unknown) => e as Error,
  );
  assert.match(String(damaged?.message), /manifest\.json is damaged \(line 3/);
  await fsp.writeFile(file, `${header.replace(/"records":\d+/, '"records":999999')}\n${firstRecord}\n`);
  const cut = await Manifest.load(ctx.dir, 'manifest').then(
    () => null,
    (e: unknown) => e as Error,
  );
  assert.match(String(cut?.message), /manifest\.json is damaged \(its records are cut short\)/);
});

test('work-directory lock: a live holder is refused by pid, a dead one is taken over', async () => {
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'toasty-lock-'));
  const file = path.join(dir, 'run.lock');
  const lock = await acquireLock(file, 'first');
  try {
    await acquireLock(file, 'second');
    assert.unreachable('second lock should fail');
  } catch (e) {
    assert.match((e as Error).message, new RegExp(`pid ${process.pid}`));
  }
  await lock.release();
  // A lock left by a process that no longer exists.
  const child = spawn(process.execPath, ['-e', '0']);
  const pid: number = await new Promise((r) => child.on('exit', () => r(child.pid!)));
  await fsp.writeFile(file, JSON.stringify({ pid, host: os.hostname(), started: 'x' }));
  const taken = await acquireLock(file, 'third');
  assert.ok(JSON.parse(await fsp.readFile(taken.file, 'utf8')).pid === process.pid);
  await taken.release();
});

test('a lock file is never seen half-written (a reader would take over a live lock)', async () => {
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'toasty-lock-race-'));
  const file = path.join(dir, 'run.lock');
  // Another process takes and releases the lock as fast as it can; this one keeps reading it.
  const lockModule = path.resolve('src/util/lock.ts');
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      '-e',
      `const { acquireLock } = await import(${JSON.stringify(lockModule)}); for (let i = 0; i < 1500; i++) await (await acquireLock(${JSON.stringify(file)}, 'race')).release();`,
    ],
    { stdio: 'ignore' },
  );
  const done = new Promise((r) => child.on('exit', r));
  let finished = false;
  void done.then(() => (finished = true));
  let empty = 0;
  let whole = 0;
  while (!finished) {
    const t = await fsp.readFile(file, 'utf8').catch(() => null);
    if (t === null) continue;
    if (t.trim()) whole++;
    else empty++;
  }
  assert.ok(whole > 0, 'the reader did see the lock');
  assert.is(empty, 0, 'reads that saw an empty lock file');
  await fsp.rm(dir, { recursive: true, force: true });
});

async function snapshot(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const f of (await fsp.readdir(dir)).sort()) out[f] = await fsp.readFile(path.join(dir, f), 'utf8');
  return out;
}

test.run();
