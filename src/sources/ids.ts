/**
 * Unique image ids (`publisher_id` + "_" + lower-cased `image_id`) and the safety rules they
 * must pass.
 *
 * An id becomes a folder name in the work dir (`cache_todo/{id}/`), a blob path segment and
 * part of a published URL, and it comes from a remote feed. So it is checked twice: the raw
 * `publisher_id` / `image_id` values (so the error names the field a curator must fix), then
 * the finished id.
 *
 * Allowed characters: ASCII letters, digits and `_ - . + ( ) ,`. Nothing else: no spaces,
 * no `~` (a leading `~` reads as a home folder to shells), no `:` (drive letters, URL
 * schemes), no `%` or `#` (they change meaning inside URLs), no non-ASCII (case folding and
 * Unicode normalisation differ between disks). Real AstroPix ids (`NRAO_Gallery009`,
 * `ssc2005-01a`, `geminiann11015a`) use a small subset of this.
 */
import { ToastyError } from '../util/errors.js';

/** Longest unique id accepted (well under the 255-byte file-name limit of common disks). */
export const MAX_ID_LENGTH = 200;

// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it looks for
const CONTROL = /[\u0000-\u001f\u007f]/;
const SAFE_CHARS = /^[A-Za-z0-9_.+(),-]+$/;
/** Windows device names are unusable as folder names, with or without an extension. */
const WINDOWS_DEVICE = /^(con|prn|aux|nul|com[0-9]|lpt[0-9])(\.|$)/i;

type IdField = 'publisher_id' | 'image_id';

/** A raw value quoted for a message: JSON escaping shows NUL/control chars; long values are cut. */
export function quoteRaw(value: string, max = 80): string {
  const cut = value.length > max ? `${value.slice(0, max)}...` : value;
  return JSON.stringify(cut);
}

/** Why `value` is not a safe path segment, or null. */
function segmentProblem(value: string): string | null {
  if (value.length === 0) return 'is empty';
  if (CONTROL.test(value)) return 'contains a NUL or control character';
  if (value.includes('\\')) return 'contains a backslash';
  if (value.includes('..')) return 'contains ".."';
  if (value.startsWith('.')) return 'starts with "."';
  if (value.endsWith('.')) return 'ends with "."';
  if (!SAFE_CHARS.test(value)) {
    const bad = [...value].find((ch) => !SAFE_CHARS.test(ch)) ?? '';
    return `contains the character ${JSON.stringify(bad)} (allowed: letters, digits and _ - . + ( ) ,)`;
  }
  return null;
}

/**
 * Check a raw `publisher_id` / `image_id` value. A `/` is tolerated inside it (uniqueId maps it
 * to `_`; AstroPix ids with `/` are not actionable anyway), but every `/`-separated part must be
 * a safe non-empty segment, so `/etc`, `a//b` and `a/../b` are refused.
 */
export function checkIdField(value: string, field: IdField): void {
  const fail = (why: string) => new ToastyError('unsafe-id', `unsafe ${field} ${quoteRaw(value)}: ${why}`, { field });
  if (value.length === 0) throw fail('is empty');
  if (value.length > MAX_ID_LENGTH) throw fail(`is longer than ${MAX_ID_LENGTH} characters (${value.length})`);
  if (value.startsWith('/')) throw fail('looks like an absolute path');
  // Whole-value problems first, so `a/../b` says ".." rather than "a part that is ..".
  if (CONTROL.test(value)) throw fail('contains a NUL or control character');
  if (value.includes('\\')) throw fail('contains a backslash');
  if (value.includes('..')) throw fail('contains ".."');
  for (const part of value.split('/')) {
    const why = segmentProblem(part);
    if (why) throw fail(part === value ? why : `has a part ${quoteRaw(part)} that ${why}`);
  }
  // The id starts with publisher_id, so only it can turn the id into a device name.
  if (field === 'publisher_id' && WINDOWS_DEVICE.test(value)) throw fail('starts with a reserved device name on Windows');
}

/**
 * Check a finished unique id (also usable on ids typed by a person or read back from folder
 * names). Throws ToastyError `unsafe-id`; `field` names the record field to blame, if known.
 */
export function checkSafeId(id: string, field?: IdField): string {
  const fail = (why: string) => new ToastyError('unsafe-id', `unsafe image id ${quoteRaw(id)}: ${why}`, { field });
  if (id.length > MAX_ID_LENGTH) throw fail(`is longer than ${MAX_ID_LENGTH} characters (${id.length})`);
  if (id.includes('/')) throw fail('contains "/"');
  const why = segmentProblem(id);
  if (why) throw fail(why);
  if (WINDOWS_DEVICE.test(id)) throw fail('is a reserved device name on Windows');
  return id;
}

/** Read a required string field of a feed record (ToastyError `record` naming the field). */
export function requireStringField(record: Record<string, unknown>, field: string): string {
  const v = record[field];
  if (v === undefined || v === null) throw new ToastyError('record', `${field} is missing`, { field });
  if (typeof v !== 'string') throw new ToastyError('record', `${field} is not a string (got ${typeof v})`, { field });
  if (v.length === 0) throw new ToastyError('record', `${field} is empty`, { field });
  return v;
}

/**
 * The unique id of an AstroPix record: `publisher_id + "_" + lower(image_id)`, then every `/`
 * becomes `_` (publisher_id keeps its case). Validated as described above.
 */
export function uniqueId(record: Record<string, unknown>): string {
  const pub = requireStringField(record, 'publisher_id');
  const imageId = requireStringField(record, 'image_id');
  checkIdField(pub, 'publisher_id');
  checkIdField(imageId, 'image_id');
  const id = `${pub}_${imageId.toLowerCase()}`.replaceAll('/', '_');
  return checkSafeId(id, 'image_id');
}

/**
 * Key under which two ids collide on a case-insensitive disk (macOS/Windows defaults). Ids are
 * ASCII-only, so lower-casing is exact.
 */
export function caseFoldKey(id: string): string {
  return id.toLowerCase();
}
