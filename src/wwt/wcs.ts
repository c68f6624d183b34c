/**
 * AstroPix WCS -> FITS-like headers -> WWT ImageSet/Place placement.
 *
 * Conventions: decoded pixel (0,0) is the top-left; CRPIX is 1-based with pixel
 * centres on integers; WWT offsets use edge coordinates (`fits - 0.5`). AstroPix numbers
 * describe the JPEG as if row 1 were at the bottom, so the headers are flipped vertically.
 */
import { ToastyError } from '../util/errors.js';
import { TILE_URL_TEMPLATE, UNTILED_IMAGE_NAME } from './study-files.js';

/** One AstroPix feed record as parsed from JSON (values are mostly strings). */

export type Pair = [number, number];

/**
 * A study's WCS as the AVM Spatial quantities, parsed to numbers: what every source supplies
 * (AstroPix carries them as `wcs_*` fields, Djangoplicity and image XMP as `Spatial.*` tags).
 */
export interface AvmWcs {
  referenceValue: Pair; // Spatial.ReferenceValue (wcs_reference_value), degrees
  referencePixel: Pair; // Spatial.ReferencePixel, 1-based, FITS parity
  referenceDimension: Pair; // Spatial.ReferenceDimension, pixels the numbers refer to
  scale: Pair; // Spatial.Scale, degrees per pixel
  rotation: number; // Spatial.Rotation, degrees
  projection: string; // Spatial.CoordsystemProjection, always 'TAN' after parsing
}

/** CRPIX/CDELT/PC rescaled to the decoded size, before the parity flip (the 2020 headers). */
export interface WcsIntermediate {
  CRVAL1: number;
  CRVAL2: number;
  CRPIX1: number;
  CRPIX2: number;
  CDELT1: number;
  CDELT2: number;
  PC1_1: number;
  PC1_2: number;
  PC2_1: number;
  PC2_2: number;
  factor0: number;
  factor1: number;
}

/** FITS-like headers in JPEG parity (row 1 at the top): what placement consumes. */
export interface WcsHeaders {
  CTYPE1: string;
  CTYPE2: string;
  CRVAL1: number;
  CRVAL2: number;
  CRPIX1: number;
  CRPIX2: number;
  CD1_1: number;
  CD1_2: number;
  CD2_1: number;
  CD2_2: number;
}

export interface SkyImageSetPlacement {
  projection: 'Tan' | 'SkyImage';
  bottomsUp: boolean;
  /** Degrees. */
  rotation: number;
  baseDegreesPerTile: number;
  /** Tiled: degrees from the padded-square centre. Untiled: pixels. */
  offsetX: number;
  offsetY: number;
  /** CRVAL1 in degrees (not hours). */
  centerX: number;
  centerY: number;
  tileLevels: number;
  fileType: '.png' | '.jpg';
  url: string;
}

export interface SkyPlacePlacement {
  /** Hours. */
  ra: number;
  /** Degrees. */
  dec: number;
  zoomLevel: number;
}

export interface SkyPlacement {
  imageset: SkyImageSetPlacement;
  place: SkyPlacePlacement;
  /** Sky position (degrees, RA in [0, 360)) of the image centre. */
  center: { ra: number; dec: number };
}

const DEG = Math.PI / 180;
const RAD = 180 / Math.PI;

// Decimal numbers as Python's float() reads them, minus nan/inf (which no WCS may contain).
/** Largest image side, in pixels, a WCS may describe (far beyond any real image). */
const MAX_REFERENCE_DIMENSION = 1e7;

/** A source's names for the WCS quantities it checks, so errors name the field to fix. */
export type WcsFieldNames = Record<'projection' | 'referenceValue' | 'referencePixel' | 'referenceDimension' | 'scale' | 'rotation', string>;

/**
 * What every source's WCS must be before placement: TAN, a positive reference size, a non-zero
 * scale, and values possible on the sky, so nonsense is refused before any download rather
 * than published: Dec within -90..90, RA within -360..720 (normalised to 0..360), rotation
 * within -360..360, reference dimensions up to 1e7 pixels, the image no wider than 180
 * degrees, the image centre less than 90 degrees (on the tangent plane) from the reference
 * point. Returns the WCS; errors name the source's field.
 */
export function checkWcs(wcs: AvmWcs, fields: WcsFieldNames): AvmWcs {
  if (wcs.projection !== 'TAN') {
    throw new ToastyError('wcs', `cannot ingest images in non-TAN projections (${fields.projection} = ${JSON.stringify(wcs.projection)})`, {
      field: fields.projection,
    });
  }
  const [w, h] = wcs.referenceDimension;
  if (w <= 0 || h <= 0) {
    throw new ToastyError('record', `${fields.referenceDimension} must be positive, got ${w}, ${h}`, { field: fields.referenceDimension });
  }
  const { referenceValue, referencePixel, referenceDimension, scale, rotation } = wcs;
  const outOfRange = (field: string, what: string) => new ToastyError('record', `${field}: ${what}`, { field });
  if (referenceDimension[0] > MAX_REFERENCE_DIMENSION || referenceDimension[1] > MAX_REFERENCE_DIMENSION) {
    throw outOfRange(fields.referenceDimension, `${referenceDimension.join(' x ')} pixels is beyond any image (at most ${MAX_REFERENCE_DIMENSION} a side)`);
  }
  if (scale[0] === 0 || scale[1] === 0) {
    throw new ToastyError('record', `${fields.scale} must be non-zero on both axes`, { field: fields.scale });
  }
  const [ra, dec] = referenceValue;
  if (!(dec >= -90 && dec <= 90)) throw outOfRange(fields.referenceValue, `Dec ${dec} is outside -90..90 degrees`);
  if (!(ra >= -360 && ra <= 720)) throw outOfRange(fields.referenceValue, `RA ${ra} is outside -360..720 degrees`);
  if (!(Math.abs(rotation) <= 360)) throw outOfRange(fields.rotation, `${rotation} is outside -360..360 degrees`);
  for (const axis of [0, 1]) {
    const span = Math.abs(scale[axis]!) * referenceDimension[axis]!;
    if (!(span <= 180)) throw outOfRange(fields.scale, `${scale[axis]} degrees a pixel makes the image ${span} degrees across (at most 180)`);
  }
  // How far the image centre lies from the reference point on the tangent plane, in degrees.
  const dx = (referencePixel[0] - (referenceDimension[0] + 1) / 2) * scale[0];
  const dy = (referencePixel[1] - (referenceDimension[1] + 1) / 2) * scale[1];
  if (!(Math.hypot(dx, dy) < 90)) {
    throw outOfRange(
      fields.referencePixel,
      `${referencePixel.join(', ')} puts the reference point ${Math.hypot(dx, dy)} degrees (on the tangent plane) from the image centre: not a usable TAN WCS (at most 90)`,
    );
  }
  // RA as WWT expects it: 0 <= RA < 360.
  const raNorm = ra < 0 || ra >= 360 ? ((ra % 360) + 360) % 360 : ra;
  return { ...wcs, referenceValue: [raNorm, dec] };
}

/**
 * The WCS of the horizontally flopped image ("mirror twin"): scale[0] negated and
 * referencePixel[0] -> referenceDimension[0] + 1 - value. Used for positive-parity tiled
 * images, which WWT cannot show mirrored: the pipeline flops the pixels and places them with
 * this WCS.
 */
export function mirrorWcs(wcs: AvmWcs): AvmWcs {
  return {
    ...wcs,
    scale: [-wcs.scale[0], wcs.scale[1]],
    referencePixel: [wcs.referenceDimension[0] + 1 - wcs.referencePixel[0], wcs.referencePixel[1]],
  };
}

/** True when a tiled study must use the mirror twin (WWT rejects mirrored tiled studies). */
export function needsMirror(wcs: AvmWcs, tiled: boolean): boolean {
  return tiled && wcs.scale[0] > 0;
}

function checkImageSize(width: number, height: number): void {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new ToastyError('image', `image size must be positive integers, got ${width}x${height}`);
  }
}

/**
 * Rescale the AstroPix WCS to the decoded image size, per axis (keeping the outer corner at
 * FITS (0.5, 0.5) fixed, so a downsampled copy is placed like the original), then flip it to
 * JPEG parity (row 1 at the top).
 */
export function wcsHeaders(wcs: AvmWcs, width: number, height: number): { intermediate: WcsIntermediate; headers: WcsHeaders } {
  checkImageSize(width, height);
  const rot = wcs.rotation * DEG;
  const c = Math.cos(rot);
  const s = Math.sin(rot);
  const lam = wcs.scale[1] / wcs.scale[0];
  const factor0 = width / wcs.referenceDimension[0];
  const factor1 = height / wcs.referenceDimension[1];
  const intermediate: WcsIntermediate = {
    CRVAL1: wcs.referenceValue[0],
    CRVAL2: wcs.referenceValue[1],
    CRPIX1: (wcs.referencePixel[0] - 0.5) * factor0 + 0.5,
    CRPIX2: (wcs.referencePixel[1] - 0.5) * factor1 + 0.5,
    CDELT1: wcs.scale[0] / factor0,
    CDELT2: wcs.scale[1] / factor1,
    PC1_1: c,
    PC1_2: -lam * s,
    PC2_1: s / lam,
    PC2_2: c,
    factor0,
    factor1,
  };
  const i = intermediate;
  const headers: WcsHeaders = {
    CTYPE1: `RA---${wcs.projection}`,
    CTYPE2: `DEC--${wcs.projection}`,
    CRVAL1: i.CRVAL1,
    CRVAL2: i.CRVAL2,
    CRPIX1: i.CRPIX1,
    CRPIX2: height + 1 - i.CRPIX2,
    // Row 1 moves from the bottom to the top: the y column of the CD matrix changes sign.
    CD1_1: i.CDELT1 * i.PC1_1,
    CD1_2: -i.CDELT1 * i.PC1_2,
    CD2_1: i.CDELT2 * i.PC2_1,
    CD2_2: -i.CDELT2 * i.PC2_2,
  };
  return { intermediate, headers };
}

/**
 * Sky position (degrees, RA normalised to [0, 360)) of a 1-based FITS pixel through the TAN
 * WCS: the closed-form gnomonic inverse (agrees with astropy to ~1e-13 degrees).
 */
export function pixelToSky(headers: WcsHeaders, x: number, y: number): { ra: number; dec: number } {
  const dx = x - headers.CRPIX1;
  const dy = y - headers.CRPIX2;
  const xi = (headers.CD1_1 * dx + headers.CD1_2 * dy) * DEG;
  const eta = (headers.CD2_1 * dx + headers.CD2_2 * dy) * DEG;
  const a0 = headers.CRVAL1 * DEG;
  const d0 = headers.CRVAL2 * DEG;
  const q = Math.cos(d0) - eta * Math.sin(d0);
  const ra = (a0 + Math.atan2(xi, q)) * RAD;
  const dec = Math.atan2(eta * Math.cos(d0) + Math.sin(d0), Math.hypot(xi, q)) * RAD;
  let raNorm = ra % 360;
  if (raNorm < 0) raNorm += 360;
  if (raNorm >= 360) raNorm -= 360; // -tiny % 360 + 360 can round up to 360
  return { ra: raNorm, dec };
}

/** The client's view is 1.7x the image height; WWT's zoom level is 6 x that field of view. */
const FOV_FACTOR = 1.7;

/**
 * Where WWT should draw the image. `tileLevels` selects the tiled (Tan, offsets in degrees) or
 * untiled (SkyImage, offsets in pixels) meaning. Throws a `wcs` ToastyError when WWT cannot
 * express the WCS (not TAN, singular, skewed, non-square pixels, or mirrored and tiled).
 */
export function skyPlacement(headers: WcsHeaders, width: number, height: number, tileLevels: number): SkyPlacement {
  checkImageSize(width, height);
  if (!Number.isInteger(tileLevels) || tileLevels < 0) {
    throw new ToastyError('internal', `tileLevels must be a non-negative integer, got ${tileLevels}`);
  }
  if (!['RA---TAN', 'RA---TPV'].includes(headers.CTYPE1) || !['DEC--TAN', 'DEC--TPV'].includes(headers.CTYPE2)) {
    throw new ToastyError('wcs', `cannot handle WCS types ${headers.CTYPE1}/${headers.CTYPE2}: WWT studies need a TAN projection`, {
      field: 'wcs_projection',
    });
  }
  for (const k of ['CRVAL1', 'CRVAL2', 'CRPIX1', 'CRPIX2', 'CD1_1', 'CD1_2', 'CD2_1', 'CD2_2'] as const) {
    if (!Number.isFinite(headers[k])) throw new ToastyError('wcs', `WCS header ${k} is not finite`, { field: 'wcs_scale' });
  }
  const { CD1_1, CD1_2, CD2_1, CD2_2 } = headers;

  // Pixel scales and rotation from the CD matrix.
  const refx = headers.CRPIX1 - 0.5; // edge coordinates, y from the top
  const refy = headers.CRPIX2 - 0.5;
  const det = CD1_1 * CD2_2 - CD1_2 * CD2_1;
  const sign = det < 0 ? -1 : 1;
  const rot = Math.atan2(-sign * CD1_2, -CD2_2) * RAD;
  const sx = Math.sqrt(CD1_1 * CD1_1 + CD1_2 * CD1_2);
  const sy = Math.sqrt(CD2_1 * CD2_1 + CD2_2 * CD2_2);

  // What WWT cannot show: reject with a reason a curator can act on.
  if (det === 0 || !Number.isFinite(det)) {
    throw new ToastyError('wcs', 'the WCS CD matrix is singular (zero determinant)', { field: 'wcs_scale' });
  }
  if (Math.abs(sx - sy) / (sx + sy) > 0.05) {
    throw new ToastyError('wcs', 'WWT cannot express non-square pixels, which this WCS has', { field: 'wcs_scale' });
  }
  const d = Math.sqrt(Math.abs(det));
  if (Math.abs(CD1_1 - sign * CD2_2) / d > 0.05 || Math.abs(CD2_1 + sign * CD1_2) / d > 0.05) {
    throw new ToastyError('wcs', 'WWT cannot express a skewed WCS (the CD matrix is not a rotation, possibly mirrored)', {
      field: 'wcs_scale',
    });
  }
  const tiled = tileLevels > 0;
  if (tiled && det < 0) {
    throw new ToastyError(
      'wcs',
      'tiled imagery needs JPEG-like (negative) parity: this WCS is mirrored (wcs_scale[0] > 0); flop the image and use the mirrored WCS',
      { field: 'wcs_scale' },
    );
  }

  let imageset: SkyImageSetPlacement;
  if (tiled) {
    // Offsets in degrees from the padded-square centre; floor((W+1)/2) encodes the tiling's
    // floor division, which puts an odd-margin image half a pixel left of (and above) centre.
    imageset = {
      projection: 'Tan',
      bottomsUp: false,
      rotation: rot,
      baseDegreesPerTile: sy * 256 * 2 ** tileLevels,
      offsetX: (Math.floor((width + 1) / 2) - refx) * sx,
      offsetY: (refy - Math.floor((height + 1) / 2)) * sy,
      centerX: headers.CRVAL1,
      centerY: headers.CRVAL2,
      tileLevels,
      fileType: '.png',
      url: TILE_URL_TEMPLATE,
    };
  } else {
    // Offsets in pixels; a mirrored WCS is shown bottoms-up with the rotation negated.
    const bottomsUp = det < 0;
    imageset = {
      projection: 'SkyImage',
      bottomsUp,
      rotation: bottomsUp ? -rot : rot,
      baseDegreesPerTile: sy,
      offsetX: refx,
      offsetY: height - refy,
      centerX: headers.CRVAL1,
      centerY: headers.CRVAL2,
      tileLevels: 0,
      fileType: '.jpg',
      url: UNTILED_IMAGE_NAME,
    };
  }

  const center = pixelToSky(headers, (width + 1) / 2, (height + 1) / 2);
  const place: SkyPlacePlacement = {
    ra: center.ra / 15,
    dec: center.dec,
    zoomLevel: height * sy * FOV_FACTOR * 6,
  };
  return { imageset, place, center };
}
