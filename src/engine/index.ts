export * from './types.js';
export { BuildGraph } from './graph.js';
export { Manifest, type ManifestEntry } from './manifest.js';
export { execute, type ExecuteOptions } from './executor.js';
export { assess, sameResult } from './planner.js';
export { canonicalJson, computeKey, digestBytes, digestFile, digestOutputs, hasher } from './key.js';
export { acquireLock, readLock, type WorkdirLock } from './lock.js';
