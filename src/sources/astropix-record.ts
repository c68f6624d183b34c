/**
 * An AstroPix record read as a study: its WCS fields as the AVM Spatial quantities, and its
 * text. AstroPix sends numbers as strings; every error names the record field to fix.
 */
import { ToastyError } from '../util/errors.js';
import { recordTimestamp } from '../wwt/datetime.js';
import type { StudyText } from '../wwt/metadata.js';
import type { StudySource } from '../wwt/study-wtml.js';
import { type AvmWcs, checkWcs, type Pair } from '../wwt/wcs.js';

/** A feed record as AstroPix sends it (loose JSON; the readers below check what they use). */
export type AstroPixRecord = Record<string, unknown>;

/** An AstroPix record as a study source (errors name the record's fields). */
export function astropixStudy(record: AstroPixRecord): StudySource {
  return { wcs: parseAstropixWcs(record), text: astropixStudyText(record) };
}

const DECIMAL_RE = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

function parseNumber(value: unknown, field: string): number {
  let n = Number.NaN;
  if (typeof value === 'number') n = value;
  else if (typeof value === 'string' && DECIMAL_RE.test(value.trim())) n = Number(value.trim());
  if (!Number.isFinite(n)) {
    const what = value === undefined || value === null || value === '' ? 'missing' : `not a finite number: ${JSON.stringify(value)}`;
    throw new ToastyError('record', `${field} is ${what}`, { field });
  }
  return n;
}

function parsePair(record: AstroPixRecord, field: string): Pair {
  const v = record[field];
  if (v === undefined || v === null) throw new ToastyError('record', `${field} is missing`, { field });
  if (!Array.isArray(v) || v.length !== 2) {
    throw new ToastyError('record', `${field} must be a list of 2 numbers, got ${JSON.stringify(v)}`, { field });
  }
  return [parseNumber(v[0], field), parseNumber(v[1], field)];
}

/**
 * Parse and check the WCS fields of an AstroPix record. All are required and numeric (AstroPix
 * sends them as strings); `checkWcs` says what else they must be.
 */
export function parseAstropixWcs(record: AstroPixRecord): AvmWcs {
  const referenceValue = parsePair(record, 'wcs_reference_value');
  const referencePixel = parsePair(record, 'wcs_reference_pixel');
  const referenceDimension = parsePair(record, 'wcs_reference_dimension');
  const scale = parsePair(record, 'wcs_scale');
  const rotation = parseNumber(record.wcs_rotation, 'wcs_rotation');
  const projection = record.wcs_projection;
  if (projection === undefined || projection === null || projection === '') {
    throw new ToastyError('record', 'wcs_projection is missing', { field: 'wcs_projection' });
  }
  return checkWcs(
    { referenceValue, referencePixel, referenceDimension, scale, rotation, projection: String(projection) },
    {
      projection: 'wcs_projection',
      referenceValue: 'wcs_reference_value',
      referencePixel: 'wcs_reference_pixel',
      referenceDimension: 'wcs_reference_dimension',
      scale: 'wcs_scale',
      rotation: 'wcs_rotation',
    },
  );
}

/** Text of a record field; AstroPix writes strings, but tolerate numbers and null. */
function recordText(record: AstroPixRecord, field: string): string {
  const v = record[field];
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return '';
}

/** Python `urllib.parse.quote(s, safe='')`: everything but `A-Za-z0-9_.-~` percent-encoded. */
function quote(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** The AstroPix landing page used as CreditsUrl when the record has no `reference_url`. */
export function astropixImagePageUrl(record: AstroPixRecord): string {
  const pub = recordText(record, 'publisher_id');
  const id = recordText(record, 'image_id');
  if (!pub) throw new ToastyError('record', 'publisher_id is missing', { field: 'publisher_id' });
  if (!id) throw new ToastyError('record', 'image_id is missing', { field: 'image_id' });
  return `http://astropix.ipac.caltech.edu/image/${quote(pub)}/${quote(id)}`;
}

/**
 * An AstroPix record's text: title, description, image_credit, reference_url (or the AstroPix
 * image page), and `last_updated` as both the update time and the publication date of the
 * provenance (channel = publisher_id, item = image_id). Errors name the record field.
 */
export function astropixStudyText(record: AstroPixRecord): StudyText {
  const updated = recordTimestamp(record.last_updated, 'last_updated');
  return {
    title: recordText(record, 'title'),
    description: recordText(record, 'description'),
    credits: recordText(record, 'image_credit'),
    creditsUrl: recordText(record, 'reference_url') || astropixImagePageUrl(record),
    lastUpdated: updated,
    provenance: { channel: recordText(record, 'publisher_id'), itemId: recordText(record, 'image_id'), published: updated },
  };
}
