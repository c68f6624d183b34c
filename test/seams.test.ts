// The engine's seams as a rule author meets them: a toy rule joins the real pipeline graph in
// a few lines, the compiler refuses a rule that reads a dependency it did not declare, and
// every cause the engine can give has words.
import { spawnSync } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { wtmlRule } from '../rules/index.js';
import { describeSkip, describeStale } from '../src/cli/describe.js';
import { digestBytes } from '../src/engine/key.js';
import { sameGroup, type NodeRef, type SkipCause, type StaleCause } from '../src/engine/types.js';
import { pipelineRule } from '../src/pipeline/context.js';
import { loadConfig } from '../src/pipeline/config.js';
import { HELD_FOR_STAGE, chooseImages, gatherRecords, inputLabelsOf, runPipeline, surveyRepository } from '../src/pipeline/run.js';
import { Workdir } from '../src/pipeline/workdir.js';
import { silentLog } from '../src/util/log.js';
import { Fixture, IDS, ROOT } from './helpers/pipeline-fixture.js';

const s = suite('engine seams');

// A toy rule: how many Places each image's WTML holds, in a file of its own.
const placeCount = pipelineRule<{ places: number }>()({
  name: 'place-count',
  version: 1,
  scope: 'each',
  deps: { wtml: sameGroup(wtmlRule) },
  inputs: (inv) => ({ wtml: inv.deps.wtml.outputs['index.wtml'] }),
  async run(inv) {
    const wtml = await fsp.readFile(path.join(inv.ctx.workdir.dir('out_todo', inv.group), 'index.wtml'), 'utf8');
    const places = wtml.split('<Place ').length - 1;
    const file = path.join(inv.ctx.workdir.root, 'place-count', `${inv.group}.txt`);
    await fsp.mkdir(path.dirname(file), { recursive: true });
    await fsp.writeFile(file, `${places}\n`);
    return { outputs: { [file]: await digestBytes(`${places}\n`) }, meta: { places } };
  },
});

s('a toy rule joins the real pipeline graph and is incremental like the others', async () => {
  const f = await Fixture.create({ kind: 'local' });
  try {
    const make = () => runPipeline({ workdir: f.workdir, repo: f.repo, stage: 'process', extraRules: [placeCount] });
    await runPipeline({ workdir: f.workdir, repo: f.repo, stage: 'fetch' });
    // Publishing before processing: tile and wtml are held for their own stage, upload waits.
    let report = await runPipeline({ workdir: f.workdir, repo: f.repo, stage: 'publish' });
    const tile = report.outcomes.find((o) => o.id === `tile:${IDS.ngc253}`)!;
    assert.ok(tile.status === 'skipped' && tile.cause.kind === 'held' && tile.cause.hold === HELD_FOR_STAGE);
    const upload = report.outcomes.find((o) => o.id === `upload:${IDS.ngc253}`)!;
    assert.ok(upload.status === 'skipped' && upload.cause.kind === 'dependency-skipped');
    // The process stage (tile, wtml) plus the toy rule.
    report = await make();
    assert.is(report.exitCode, 0);
    const ran = report.outcomes.filter((o) => o.status === 'ran').map((o) => o.id);
    assert.equal(
      [...ran].sort(),
      Object.values(IDS)
        .flatMap((id) => [`tile:${id}`, `wtml:${id}`, `place-count:${id}`])
        .sort(),
    );
    assert.ok(ran.indexOf(`place-count:${IDS.ngc253}`) > ran.indexOf(`wtml:${IDS.ngc253}`), 'after the node it reads');
    for (const id of Object.values(IDS)) {
      assert.is(await fsp.readFile(path.join(f.workdir, 'place-count', `${id}.txt`), 'utf8'), '1\n');
    }
    report = await make();
    assert.equal(
      report.outcomes.filter((o) => o.status === 'ran'),
      [],
      'second run: nothing',
    );
    // A new prefix changes the WTML, so the toy rule reruns after it.
    await f.writeConfig({ publish_url_prefix: 'https://cdn.example.net/x/' });
    report = await make();
    const toy = report.outcomes.find((o) => o.id === `place-count:${IDS.ngc253}`)!;
    assert.ok(toy.status === 'ran' && toy.cause.kind === 'inputs-changed');
    assert.equal(toy.cause.kind === 'inputs-changed' && toy.cause.changes.map((c) => c.path), ['wtml']);
  } finally {
    await f.close();
  }
});

s('the compiler rejects a rule that reads a dependency it did not declare', () => {
  const dir = path.join(ROOT, '.tmp', `seams-${process.pid}`);
  const source = `
import { sameGroup } from '../../src/engine/types.js';
import { pipelineRule } from '../../src/pipeline/context.js';
import { tileRule, wtmlRule } from '../../rules/index.js';

export const declared = pipelineRule()({
  name: 'declared', version: 1, scope: 'each', deps: { wtml: sameGroup(wtmlRule) },
  inputs: (inv) => ({ w: inv.deps.wtml.outputs, levels: 0 }),
  run: async () => ({ outputs: {} }),
});
export const sneaky = pipelineRule()({
  name: 'sneaky', version: 1, scope: 'each', deps: { wtml: sameGroup(wtmlRule) },
  inputs: (inv) => ({ levels: inv.deps.tile.meta.tileLevels }),
  run: async () => ({ outputs: {} }),
});
void tileRule;
`;
  return (async () => {
    await fsp.mkdir(dir, { recursive: true });
    try {
      await fsp.writeFile(path.join(dir, 'rule.ts'), source);
      await fsp.writeFile(
        path.join(dir, 'tsconfig.json'),
        JSON.stringify({ extends: '../../tsconfig.json', compilerOptions: { noEmit: true, rootDir: '../..' }, include: ['rule.ts'] }),
      );
      const tsc = spawnSync(process.execPath, [path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', dir], { encoding: 'utf8' });
      const out = tsc.stdout + tsc.stderr;
      assert.is.not(tsc.status, 0, 'tsc must fail');
      const errors = out.split('\n').filter((l) => /error TS/.test(l));
      assert.is(errors.length, 1, out);
      assert.match(errors[0], /rule\.ts\(13,.*Property 'tile' does not exist/);
    } finally {
      await fsp.rm(dir, { recursive: true, force: true });
    }
  })();
});

s('the steps of a run work without the binary: records, repository survey, image choice', async () => {
  const f = await Fixture.create({ kind: 'local' });
  try {
    const { config } = await loadConfig(f.repo);
    const workdir = new Workdir(f.workdir);
    const gathered = await gatherRecords('make', config, workdir, { log: silentLog });
    assert.equal([...gathered.records.keys()].sort(), Object.values(IDS).sort());
    assert.equal(await gatherRecords('publish', config, workdir, { log: silentLog }), { records: new Map(), problems: [], skipped: [] }, 'nothing cached yet');
    await f.repo.put(`${IDS.ngc253}/index.wtml`, '<Folder/>');
    await f.repo.put(`${IDS.ngc7552}/skip.flag`, 'rejected');
    await f.repo.put('someone_else/index.wtml', '<Folder/>');
    const survey = await surveyRepository(f.repo);
    assert.equal([...survey.published].sort(), [IDS.ngc253, 'someone_else'].sort());
    assert.equal([...survey.rejected], [IDS.ngc7552]);
    const choose = (opts: { ours?: string[]; forced?: string[] }) =>
      chooseImages(gathered.records, survey, { ours: (id) => (opts.ours ?? []).includes(id), forced: (id) => (opts.forced ?? []).includes(id) });
    let chosen = await choose({});
    assert.equal([...chosen.records.keys()], []);
    assert.equal(
      chosen.skipped.sort((a, b) => (a.image < b.image ? -1 : 1)),
      [
        { image: IDS.ngc7552, reason: 'skip.flag in the repository' },
        { image: IDS.ngc253, reason: 'already published' },
      ],
    );
    chosen = await choose({ forced: [IDS.ngc253] });
    assert.equal([...chosen.records.keys()], [IDS.ngc253], 'forcing takes over a published image');
    chosen = await choose({ ours: Object.values(IDS) });
    assert.equal([...chosen.records.keys()], [IDS.ngc253], 'images this work dir built stay ours, unless rejected');
    chosen = await choose({ ours: Object.values(IDS), forced: Object.values(IDS) });
    assert.equal([...chosen.records.keys()], [IDS.ngc253], 'forcing does not undo a rejection');
  } finally {
    await f.close();
  }
});

s('every cause has words, the inputs named by the rule', () => {
  const node: NodeRef = { id: `wtml:${IDS.ngc253}`, rule: 'wtml', group: IDS.ngc253 };
  const labels = (rule: string) => inputLabelsOf(rule);
  const dep: NodeRef = { id: `tile:${IDS.ngc253}`, rule: 'tile', group: IDS.ngc253 };
  const stale: Array<[StaleCause, string]> = [
    [{ kind: 'new' }, 'new image'],
    [{ kind: 'forced' }, 'forced'],
    [{ kind: 'rule-changed', from: 1, to: 2 }, 'rule version changed (1 -> 2)'],
    [{ kind: 'inputs-changed', changes: [{ path: 'publish_url_prefix', before: '"a/"', after: '"b/"' }] }, 'publish_url_prefix changed'],
    [
      { kind: 'inputs-changed', changes: [{ path: 'record.title' }, { path: 'record.wcs_scale[0]' }, { path: 'tiles' }] },
      'feed record changed (title, wcs_scale); tiles changed',
    ],
    [{ kind: 'outputs', problem: 'missing', where: 'work directory', files: ['index.wtml'] }, 'index.wtml missing from the work directory'],
    [{ kind: 'outputs', problem: 'pending', where: 'out_todo', files: ['a', 'b'] }, '2 files waiting in out_todo'],
    [{ kind: 'outputs', problem: 'differs', where: 'repository', files: ['index.wtml'] }, 'index.wtml in the repository differs from the one built'],
    [{ kind: 'after', dep }, `after tile:${IDS.ngc253}`],
  ];
  for (const [cause, words] of stale) assert.is(describeStale(cause, node, labels), words);
  const tileNode: NodeRef = { ...dep };
  const toolchain: StaleCause = { kind: 'inputs-changed', changes: [{ path: 'toolchain.libvips', before: '"8.17.1"', after: '"8.18.7"' }] };
  assert.is(describeStale(toolchain, tileNode, labels), 'pixel toolchain changed (libvips 8.17.1 -> 8.18.7)');
  assert.is(describeStale({ kind: 'new' }, { id: 'index', rule: 'index', group: null }, labels), 'new index');
  const skips: Array<[SkipCause, string]> = [
    [{ kind: 'dependency-failed', dep }, `tile:${IDS.ngc253} failed`],
    [{ kind: 'dependency-skipped', dep }, `tile:${IDS.ngc253} was skipped`],
    [{ kind: 'held', hold: HELD_FOR_STAGE, stale: { kind: 'new' } }, 'left for its own stage (new image)'],
    [{ kind: 'interrupted' }, 'not started: the run was interrupted'],
    [{ kind: 'abandoned' }, 'stopped while it ran: the run was interrupted (the next run does it again)'],
  ];
  for (const [cause, words] of skips) assert.is(describeSkip(cause, node, labels), words);
});

s.run();
