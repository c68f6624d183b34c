/**
 * Content keys: canonical JSON of a node's inputs hashed with xxh64, plus file/byte digests.
 * The per-leaf hashes kept in the manifest let the planner say *which* input changed.
 */
import { digestBytes, digestFile, type Hasher, hasher, hex64 as hex } from '../util/digest.js';
import type { Digest, InputChange } from './types.js';

export { digestBytes, digestFile };

/**
 * JSON with object keys sorted, so equal data always hashes equally. Written directly rather
 * than by sorting into new objects and stringifying them: planning an up-to-date run keys
 * every node, and the copies were most of its time. The text is exactly what
 * `JSON.stringify` gives for a copy with sorted keys (keys that are array indices come first,
 * in numeric order, as object property order has it), so existing keys stay valid.
 */
export function canonicalJson(value: unknown): string {
  return write(value, false) as string;
}

/**
 * Canonical JSON of deeply frozen objects, computed once: the same frozen value (a feed
 * record, a toolchain description) is part of several nodes' inputs, or of every node of a
 * rule (util/freeze.ts). Only deeply frozen values are kept, so a cached text never goes stale.
 */
const frozenJson = new WeakMap<object, string>();
const CACHED_MIN_LENGTH = 64;
/** Set while writing an object when something inside it is not frozen (so it is not cached). */
let mutableInside = false;

/** Canonical JSON of `v`; undefined for what JSON leaves out of an object (`inArray` makes it null). */
function write(v: unknown, inArray: boolean): string | undefined {
  switch (typeof v) {
    case 'string':
      return JSON.stringify(v);
    case 'number':
      return Number.isFinite(v) ? String(v) : 'null';
    case 'boolean':
      return v ? 'true' : 'false';
    case 'object': {
      if (v === null) return 'null';
      const frozen = Object.isFrozen(v);
      if (frozen) {
        const cached = frozenJson.get(v);
        if (cached !== undefined) return cached;
      }
      const outer = mutableInside;
      mutableInside = false;
      let out: string;
      if (Array.isArray(v)) {
        out = '[';
        for (let i = 0; i < v.length; i++) {
          if (i) out += ',';
          out += write(v[i], true)!;
        }
        out += ']';
      } else {
        const obj = v as Record<string, unknown>;
        out = '{';
        let first = true;
        for (const k of sortedKeys(obj)) {
          const x = obj[k];
          if (x === undefined) continue;
          const s = write(x, false);
          if (s === undefined) continue;
          // Two concatenations a field: the key's `"k":` (or `,"k":`) text is made once.
          out += keyPrefix(k, first);
          out += s;
          first = false;
        }
        out += '}';
      }
      const deepFrozen = frozen && !mutableInside;
      // Short texts are cheaper to write again than to keep (a WeakMap entry each).
      if (deepFrozen && out.length >= CACHED_MIN_LENGTH) {
        // Flattened before it is kept: the text was built by concatenation, and V8 would keep
        // every piece of it alive (a tree of dozens of strings per feed record).
        flatten(out);
        frozenJson.set(v, out);
      }
      mutableInside = outer || !deepFrozen;
      return out;
    }
    case 'bigint':
      return JSON.stringify(v); // throws, as JSON does
    default:
      return inArray ? 'null' : undefined;
  }
}

/**
 * Make V8 store a concatenated string as one piece. Converting it to a number flattens it in
 * place (the result itself is of no interest).
 */
function flatten(s: string): void {
  Number(s);
}

/**
 * The text before a field's value, `"k":` (first field) or `,"k":`: the same few field names
 * recur in every node's inputs.
 */
const keyPrefixes = new Map<string, [string, string]>();
function keyPrefix(k: string, first: boolean): string {
  let p = keyPrefixes.get(k);
  if (p === undefined) {
    const q = `${JSON.stringify(k)}:`;
    p = [q, `,${q}`];
    flatten(p[1]);
    if (keyPrefixes.size < 4096) keyPrefixes.set(k, p);
  }
  return first ? p[0] : p[1];
}

const INDEX_KEY = /^(?:0|[1-9]\d{0,9})$/;

/** Keys sorted, array-index keys first in numeric order (the order a fresh object lists them in). */
function sortedKeys(obj: Record<string, unknown>): string[] {
  const keys = Object.keys(obj);
  let indexKeys = false;
  for (const k of keys) {
    if (isIndexKey(k)) {
      indexKeys = true;
      break;
    }
  }
  if (!indexKeys) return sortInPlace(keys);
  const indices = keys.filter(isIndexKey).sort((a, b) => Number(a) - Number(b));
  return [...indices, ...keys.filter((k) => !isIndexKey(k)).sort()];
}

/**
 * `keys.sort()` for the few keys of one object without its allocations: planning sorted the
 * keys of every input object of every node, and the built-in sort's work arrays were an
 * eighth of what planning allocated. Keys often come sorted already.
 */
function sortInPlace(keys: string[]): string[] {
  const n = keys.length;
  if (n > 32) return keys.sort();
  for (let i = 1; i < n; i++) {
    const k = keys[i]!;
    let j = i - 1;
    if (keys[j]! <= k) continue;
    while (j >= 0 && keys[j]! > k) {
      keys[j + 1] = keys[j]!;
      j--;
    }
    keys[j + 1] = k;
  }
  return keys;
}

function isIndexKey(k: string): boolean {
  // Most keys do not start with a digit: skip the pattern for them.
  const c = k.charCodeAt(0);
  return c >= 48 && c <= 57 && INDEX_KEY.test(k) && Number(k) < 4294967295;
}

/** One digest standing for a whole set of named outputs (e.g. every tile of a study). */
export function digestOutputs(outputs: Record<string, Digest>): Promise<Digest> {
  return digestBytes(canonicalJson(outputs));
}

/** Flatten inputs to `path -> canonical leaf JSON` (paths like `record.wcs_scale[0]`). */
export function flattenInputs(value: unknown, prefix = '', out: Record<string, string> = {}): Record<string, string> {
  if (Array.isArray(value)) {
    if (value.length === 0) out[prefix] = '[]';
    for (const [i, v] of value.entries()) flattenInputs(v, `${prefix}[${i}]`, out);
  } else if (value && typeof value === 'object') {
    const obj = value as Record<string, unknown>;
    const keys = Object.keys(obj)
      .filter((k) => obj[k] !== undefined)
      .sort();
    if (keys.length === 0) out[prefix] = '{}';
    for (const k of keys) flattenInputs(obj[k], prefix ? `${prefix}.${k}` : k, out);
  } else {
    out[prefix] = JSON.stringify(value);
  }
  return out;
}

export interface NodeKey {
  key: Digest;
  /**
   * Every input leaf: its JSON when short, else `#` and a short digest, for explaining key
   * changes. Computed on demand: an up-to-date node never needs it.
   */
  leaves(): Record<string, string>;
}

/** Leaves longer than this are kept as a digest only. */
const SHORT_LEAF = 24;

export async function computeKey(rule: string, version: number, inputs: unknown): Promise<NodeKey> {
  return keyWith(await hasher(), rule, version, inputs);
}

/** `computeKey` once the hasher is loaded: no promise per node while planning. */
export function keyWith(h: Hasher, rule: string, version: number, inputs: unknown): NodeKey {
  return new LazyLeavesKey(h, h.h64ToString(`${rule}@${version}\n${canonicalJson(inputs)}`), inputs);
}

/** A key whose leaves are flattened when first asked for (only a stale node's are). */
class LazyLeavesKey implements NodeKey {
  private cached: Record<string, string> | null = null;

  constructor(
    private readonly h: Hasher,
    readonly key: Digest,
    private readonly inputs: unknown,
  ) {}

  leaves(): Record<string, string> {
    if (!this.cached) {
      const out: Record<string, string> = {};
      for (const [p, v] of Object.entries(flattenInputs(this.inputs))) out[p] = v.length <= SHORT_LEAF ? v : `#${hex(this.h.h64(v)).slice(0, 12)}`;
      this.cached = out;
    }
    return this.cached;
  }
}

/** Input leaves that differ (added, removed or changed), sorted by path, with short values. */
export function changedInputs(before: Record<string, string>, after: Record<string, string>): InputChange[] {
  const paths = new Set<string>();
  for (const [p, d] of Object.entries(after)) if (before[p] !== d) paths.add(p);
  for (const p of Object.keys(before)) if (!(p in after)) paths.add(p);
  const value = (v: string | undefined) => (v === undefined || v.startsWith('#') ? undefined : v);
  return [...paths].sort().map((p) => {
    const change: InputChange = { path: p };
    const b = value(before[p]);
    const a = value(after[p]);
    if (b !== undefined) change.before = b;
    if (a !== undefined) change.after = a;
    return change;
  });
}
