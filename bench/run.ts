/**
 * `npm run bench`: runs the benches (not tests), each measuring against a reference run in the
 * same script, then prints every measured ratio beside its goal and whether it is met:
 *   tile        tiling vs libvips' own pyramid writer: bytes, time, peak RSS (bench/tile.ts)
 *   plan        planning an up-to-date make vs process start-up; real make vs dry run (bench/plan.ts)
 *   parallel    make -j N vs -j 1: wall, CPU utilisation, peak RSS (bench/parallel.ts)
 *   upload      Azure uploads at a bounded concurrency vs one at a time (bench/azure-upload.ts)
 *   repository  sharded runs vs one run; planning against Azurite (bench/repository.ts)
 * Flags are passed through: `--only plan,parallel` runs some; `--quick` runs small versions
 * (tile: example and photo-2000x1500; plan: 1,000 images; parallel: 8 images of 2000x1500;
 * 300 uploads; 200 images against Azurite); `--images N` or `--plan-images N` (plan), `--images a,b` or `--tile-images a,b` (tile), `--reuse` (plan: keep the
 * repository an earlier run built), `--parallel-images N`, `--size WxH`, `--jobs 1,2,4`,
 * `--azure-images N`, `--shard-images N`; see each bench's header.
 */
import { type Goal, printGoals, settle } from './goals.js';

const argv = process.argv;
const quick = argv.includes('--quick');
const onlyAt = argv.indexOf('--only');
const only = onlyAt > 0 ? new Set(argv[onlyAt + 1]!.split(',')) : null;
const wants = (name: string) => !only || only.has(name);
/** Quick runs default smaller sizes, unless the flag is given. */
const defaultFlag = (name: string, value: string) => {
  if (quick && !argv.includes(name)) argv.push(name, value);
};
if (!argv.includes('--images')) defaultFlag('--plan-images', '1000');
defaultFlag('--parallel-images', '8');
defaultFlag('--size', '2000x1500');
defaultFlag('--azure-images', '200');

const goals: Goal[] = [];
// Each bench after another starts on a settled machine (see `settle`).
let started = false;
const next = async () => {
  if (started) await settle();
  started = true;
};
if (wants('tile')) {
  await next();
  goals.push(...(await (await import('./tile.js')).main()));
}
if (wants('plan')) {
  await next();
  goals.push(...(await (await import('./plan.js')).main()));
}
if (wants('parallel')) {
  await next();
  goals.push(...(await (await import('./parallel.js')).main()));
}
if (wants('upload')) {
  await next();
  const r = await (await import('./azure-upload.js')).main(quick ? 300 : 1000);
  console.log(`(upload speed-up at concurrency ${r.concurrency}: ${r.ratio.toFixed(2)}x; no set goal)`);
}
if (wants('repository')) {
  await next();
  goals.push(...(await (await import('./repository.js')).main()));
}

console.log('\nGoals:');
printGoals(goals);
