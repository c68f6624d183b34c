/**
 * Deep freezing, for values shared by many build nodes: the engine keeps the canonical JSON of
 * a deeply frozen value (src/engine/key.ts), so one serialisation serves every node.
 */

/** Freeze `value` and everything in it; returns it. */
export function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    for (const x of Object.values(value)) deepFreeze(x);
    Object.freeze(value);
  }
  return value;
}
