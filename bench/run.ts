/**
 * `npm run bench`: runs the benches (not tests). Currently the tile pyramid bench; flags are
 * passed through (e.g. `npm run bench -- --quick`, see bench/tile.ts).
 */
import { main as tileBench } from './tile.js';

await tileBench();
