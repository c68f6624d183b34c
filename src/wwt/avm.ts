/**
 * AVM tags -> what a study needs: the WCS (the same `AvmWcs` an AstroPix record gives, so an
 * image is placed by the same math whichever carried its numbers) and the text.
 *
 * Tags come as text by AVM name (`Spatial.Scale` -> ['-1.3e-05', '1.3e-05']), whatever carried
 * them: an image's XMP (`avm-xmp.ts`) or, later, a feed's JSON using the same names.
 */
import { ToastyError } from '../util/errors.js';
import type { StudyText } from './metadata.js';
import type { AvmWcs, Pair } from './wcs.js';

/** One tag's value: text, or the items of an RDF list. */
export type AvmValue = string | string[];
export type AvmTags = ReadonlyMap<string, AvmValue>;

/** The Spatial tags the WCS is built from; all are needed. */
export const AVM_REQUIRED_SPATIAL = [
  'Spatial.ReferenceValue',
  'Spatial.ReferenceDimension',
  'Spatial.ReferencePixel',
  'Spatial.Scale',
  'Spatial.Rotation',
  'Spatial.CoordsystemProjection',
] as const;

/** Spatial tags that qualify the numbers; absent means ICRS (and J2000). */
export const AVM_FRAME_SPATIAL = ['Spatial.CoordinateFrame', 'Spatial.Equinox'] as const;

/** The text tags a study takes its words from. */
export const AVM_TEXT_TAGS = ['Title', 'Credit', 'Description', 'ReferenceURL'] as const;

/** How far the image's aspect ratio may be from Spatial.ReferenceDimension's (0.5%). */
export const ASPECT_TOLERANCE = 0.005;

export interface AvmSizeCheck {
  image: Pair;
  reference: Pair;
  /** |image aspect / reference aspect - 1|. */
  aspectDifference: number;
  matches: boolean;
}

export interface AvmAssessment {
  /** The WCS, when every required Spatial tag is present and usable. */
  wcs: AvmWcs | null;
  /** Required Spatial tags that are absent or empty. */
  missing: string[];
  /** Tags present but unusable, and a size that does not match, in words. */
  problems: string[];
  /** Assumptions made (no CoordinateFrame means ICRS, ...). */
  notes: string[];
  /** Null when Spatial.ReferenceDimension is missing or unusable. */
  size: AvmSizeCheck | null;
  /** A study can be placed from these tags on an image of this size. */
  usable: boolean;
}

const DECIMAL_RE = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

const isEmpty = (v: AvmValue | undefined) => v === undefined || (typeof v === 'string' ? v === '' : v.every((x) => x === ''));

/** The tag as one text value (a one-item list counts), or undefined. */
export function avmText(tags: AvmTags, name: string): string | undefined {
  const v = tags.get(name);
  const s = Array.isArray(v) ? (v.length === 1 ? v[0] : undefined) : v;
  return s === '' ? undefined : s;
}

/**
 * Check the tags against an image of `width` x `height` and build its WCS. Never throws:
 * everything wrong is listed, so a report can show all of it at once.
 */
export function assessAvm(tags: AvmTags, width: number, height: number): AvmAssessment {
  const missing = AVM_REQUIRED_SPATIAL.filter((name) => isEmpty(tags.get(name)));
  const problems: string[] = [];
  const notes: string[] = [];

  const number = (name: string, text: string | undefined): number | null => {
    const t = text?.trim();
    if (t === undefined || !DECIMAL_RE.test(t)) {
      problems.push(`${name} is not a number: ${JSON.stringify(text ?? tags.get(name))}`);
      return null;
    }
    return Number(t);
  };
  const pair = (name: string): Pair | null => {
    const v = tags.get(name);
    if (v === undefined || isEmpty(v)) return null;
    const items = (Array.isArray(v) ? v : [v]).map((x) => x.trim());
    // A missing or empty second scale means square pixels (as Djangoplicity archives write it).
    if (name === 'Spatial.Scale' && (items.length === 1 || (items.length === 2 && items[1] === ''))) {
      const first = number(name, items[0]);
      return first === null ? null : [first, Math.abs(first)];
    }
    if (items.length !== 2) {
      problems.push(`${name} must hold 2 numbers, found ${items.length}: ${JSON.stringify(v)}`);
      return null;
    }
    const a = number(name, items[0]);
    const b = number(name, items[1]);
    return a === null || b === null ? null : [a, b];
  };

  const referenceValue = pair('Spatial.ReferenceValue');
  const referenceDimension = pair('Spatial.ReferenceDimension');
  const referencePixel = pair('Spatial.ReferencePixel');
  const scale = pair('Spatial.Scale');
  const rotation = isEmpty(tags.get('Spatial.Rotation')) ? null : number('Spatial.Rotation', avmText(tags, 'Spatial.Rotation'));
  const projection = avmText(tags, 'Spatial.CoordsystemProjection')?.trim().toUpperCase();
  if (projection !== undefined && projection !== 'TAN') {
    problems.push(`Spatial.CoordsystemProjection is ${projection}: WWT studies need TAN (gnomonic) images`);
  }
  if (referenceDimension && !(referenceDimension[0] > 0 && referenceDimension[1] > 0)) {
    problems.push(`Spatial.ReferenceDimension must be positive, got ${referenceDimension.join(' x ')}`);
  }
  if (scale && (scale[0] === 0 || scale[1] === 0)) problems.push('Spatial.Scale must be non-zero on both axes');

  // WWT places studies in ICRS/J2000 equatorial coordinates; nothing here converts.
  const frame = avmText(tags, 'Spatial.CoordinateFrame')?.trim().toUpperCase();
  const equinox = avmText(tags, 'Spatial.Equinox')?.trim().toUpperCase();
  if (frame === undefined) notes.push('no Spatial.CoordinateFrame: taken as ICRS');
  else if (frame === 'FK5') {
    if (equinox === undefined) notes.push('FK5 without Spatial.Equinox: taken as J2000');
    else if (!['J2000', '2000', '2000.0'].includes(equinox)) problems.push(`Spatial.Equinox is ${equinox}: FK5 coordinates must be J2000`);
  } else if (frame !== 'ICRS') {
    problems.push(`Spatial.CoordinateFrame is ${frame}: only ICRS or FK5 (J2000) coordinates can be placed`);
  }

  let size: AvmSizeCheck | null = null;
  if (referenceDimension && referenceDimension[0] > 0 && referenceDimension[1] > 0) {
    const aspectDifference = Math.abs(width / height / (referenceDimension[0] / referenceDimension[1]) - 1);
    size = { image: [width, height], reference: referenceDimension, aspectDifference, matches: aspectDifference <= ASPECT_TOLERANCE };
    if (!size.matches) {
      problems.push(
        `the image is ${width} x ${height} but Spatial.ReferenceDimension is ${referenceDimension.join(' x ')}: ` +
          `aspect ratios differ by ${(aspectDifference * 100).toFixed(2)}% (more than ${ASPECT_TOLERANCE * 100}%), so the AVM describes another crop`,
      );
    }
  }

  const complete = referenceValue && referenceDimension && referencePixel && scale && rotation !== null;
  const wcs =
    complete && missing.length === 0 && problems.length === 0
      ? { referenceValue, referenceDimension, referencePixel, scale, rotation, projection: 'TAN' }
      : null;
  return { wcs, missing, problems, notes, size, usable: wcs !== null };
}

/** A study's text from the AVM text tags; `title` is used when the tags have no Title. */
export function avmStudyText(tags: AvmTags, title: string): StudyText {
  const text: StudyText = { title: avmText(tags, 'Title') ?? title };
  const description = avmText(tags, 'Description');
  const credits = avmText(tags, 'Credit');
  const creditsUrl = avmText(tags, 'ReferenceURL');
  if (description) text.description = description;
  if (credits) text.credits = credits;
  if (creditsUrl) text.creditsUrl = creditsUrl;
  return text;
}

/** The WCS from the tags, or an `avm` error naming every missing tag and every problem. */
export function requireAvmWcs(tags: AvmTags, width: number, height: number): AvmWcs {
  const a = assessAvm(tags, width, height);
  if (a.wcs) return a.wcs;
  const reasons = [...(a.missing.length ? [`missing ${a.missing.join(', ')}`] : []), ...a.problems];
  throw new ToastyError('avm', `the image's AVM tags cannot place it on the sky: ${reasons.join('; ')}`, { field: a.missing[0] });
}
