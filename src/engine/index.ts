export * from './types.js';
export { BuildGraph, nodeId, withDependencies, type GraphNode, type Link } from './graph.js';
export { Manifest, ManifestDamagedError, type ManifestEntry } from './manifest.js';
export { execute, type ExecuteOptions } from './executor.js';
export { canonicalJson, computeKey, digestBytes, digestFile, digestOutputs } from './key.js';
