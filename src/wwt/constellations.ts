/**
 * The constellation of a sky position, decided the way WWT decides it, so a Place's
 * `Constellation` attribute agrees with what WWT clients compute themselves.
 *
 * The boundaries (`data/iau-boundaries.txt`) are the IAU ones (Delporte 1930, precessed to
 * J2000; Davenhall & Leggett, VizieR VI/49, public domain) in WWT's reduced form, as shipped by
 * the MIT-licensed wwt_data_formats. WWT's test is an even-odd crossing count along RA with
 * its own wrap-around handling; it differs from a true spherical point-in-polygon test near a
 * few vertices, which is exactly why it is reproduced here instead of using a textbook one.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ToastyError } from '../util/errors.js';

const TABLE_NAME = 'iau-boundaries.txt';

interface Boundary {
  /** Upper-case IAU abbreviation (`SER1`/`SER2` for the two parts of Serpens). */
  abbreviation: string;
  /** Vertex RAs in hours, adjusted so that the polygon's RA range is continuous. */
  ra: number[];
  dec: number[];
}

let boundaries: Boundary[] | null = null;

/**
 * The data file sits next to this module under tsx; the compiled module in dist/src/wwt/
 * reads it from the source tree (tsc copies no data files).
 */
function tablePath(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const candidates = [path.join(here, 'data', TABLE_NAME), path.resolve(here, '../../../src/wwt/data', TABLE_NAME)];
  const found = candidates.find((p) => existsSync(p));
  if (!found) throw new ToastyError('internal', `constellation boundaries not found (looked in ${candidates.join(', ')})`);
  return found;
}

/**
 * One vertex a line: RA hours (columns 1-10), Dec degrees (12-22), abbreviation (24-27).
 * Consecutive lines with one abbreviation form one closed polygon.
 */
function parseBoundaries(text: string): Boundary[] {
  const out: Boundary[] = [];
  let previousRa = 0;
  for (const [index, line] of text.split(/\r?\n/).entries()) {
    if (line.trim() === '') continue;
    let ra = Number(line.slice(0, 10));
    const dec = Number(line.slice(11, 22));
    const abbreviation = line.slice(23, 27).trim();
    if (!Number.isFinite(ra) || !Number.isFinite(dec) || !/^[A-Z]{3}[12]?$/.test(abbreviation)) {
      throw new ToastyError('internal', `${TABLE_NAME} line ${index + 1} is malformed: ${JSON.stringify(line)}`);
    }
    let current = out.at(-1);
    if (current?.abbreviation !== abbreviation) {
      current = { abbreviation, ra: [], dec: [] };
      out.push(current);
      previousRa = 0;
    }
    // Keep each polygon's RAs continuous across 0h/24h (they may go below 0 or above 24).
    if (ra - previousRa > 12) ra -= 24;
    else if (ra - previousRa < -12) ra += 24;
    current.ra.push(ra);
    current.dec.push(dec);
    previousRa = ra;
  }
  return out;
}

function loadBoundaries(): Boundary[] {
  boundaries ??= parseBoundaries(readFileSync(tablePath(), 'utf8'));
  return boundaries;
}

/** Even-odd rule along RA, with WWT's arithmetic (its operation order included). */
function inside(b: Boundary, ra: number, dec: number): boolean {
  let result = false;
  const n = b.ra.length;
  for (let i = 0, j = n - 1; i < n; j = i++) {
    const di = b.dec[i];
    const dj = b.dec[j];
    if ((di <= dec && dec < dj) || (dj <= dec && dec < di)) {
      // Octans' adjusted RAs span more than 24 h; wrapping vertex i keeps southern Apus intact.
      let rai = b.ra[i];
      if (b.ra[j] - rai > 12) rai += 24;
      let x = (b.ra[j] - rai) * (dec - di);
      x /= dj - di;
      if (ra < x + rai) result = !result;
    }
  }
  return result;
}

/**
 * WWT's constellation for RA (hours, [0, 24)) and Dec (degrees, J2000): the upper-case IAU
 * abbreviation, `SER1`/`SER2` for Serpens Caput/Cauda, or '' when none contains the point.
 * The table is read on the first call.
 */
export function constellationAt(raHours: number, decDeg: number): string {
  if (decDeg > 88.402) return 'UMI';
  for (const b of loadBoundaries()) if (inside(b, raHours, decDeg)) return b.abbreviation;
  // Polygons that the loading shifted below 0h are found with the RA shifted likewise.
  if (raHours > 0) return constellationAt(raHours - 24, decDeg);
  // Ursa Minor and Octans surround the poles and can escape the crossing test.
  if (decDeg > 65.5) return 'UMI';
  if (decDeg < -65.5) return 'OCT';
  return '';
}
