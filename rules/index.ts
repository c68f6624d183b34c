/** The pipeline's rules, in chain order: fetch -> tile -> wtml -> upload -> index. */
export { fetchRule } from './fetch.js';
export { tileRule } from './tile.js';
export { wtmlRule } from './wtml.js';
export { uploadRule } from './upload.js';
export { rootIndexRule } from './root-index.js';
