/**
 * `npm run bench`: runs the benches (not tests), each reporting ratios against a reference run
 * in the same script: tiling vs libvips' own pyramid writer, planning vs process start-up,
 * Azure uploads at a bounded concurrency vs one at a time, sharded runs vs one run and
 * planning against Azurite (bench/repository.ts). Flags are passed through
 * (e.g. `npm run bench -- --quick`, see bench/tile.ts; `--images N` for bench/plan.ts).
 */
import { main as tileBench } from './tile.js';
import { main as planBench } from './plan.js';
import { main as azureBench } from './azure-upload.js';
import { main as repositoryBench } from './repository.js';

await tileBench();
await planBench();
await azureBench();
await repositoryBench();
