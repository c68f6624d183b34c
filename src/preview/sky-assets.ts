/**
 * The data files the WWT engine fetches from its asset folder to draw constellation
 * boundaries, built from the repository's own IAU boundary table so the preview never needs
 * worldwidetelescope.org:
 *
 *   constellations.txt                      boundary vertices, one a line (engine format below)
 *   ConstellationNamePositions_v2_EN.txt    "Full name,ABBR,RA hours,Dec degrees" per
 *                                           constellation; the engine draws nothing until it has
 *                                           these, and skips a boundary whose position is far
 *                                           from the view
 *
 * The engine reads constellations.txt by columns: RA hours (0-9), Dec degrees (11-20),
 * abbreviation (23-26), and an `O` in column 28 marks an original vertex (the only ones its
 * constellation lookup uses). Lines end with CRLF (it splits on "\r\n").
 *
 * The boundaries run along meridians and parallels of the B1875.0 equator (Delporte); the table
 * holds their corners precessed to J2000. A straight chord between two corners of a parallel
 * would cut across the sky, so each edge is followed in B1875 coordinates, a point at least
 * every degree, and the points precessed to J2000 (marked `I`, interpolated).
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ToastyError } from '../util/errors.js';

export interface BoundaryVertex {
  ra: number; // hours, J2000
  dec: number; // degrees, J2000
}

export interface BoundaryPolygon {
  abbreviation: string;
  vertices: BoundaryVertex[];
}

const TABLE_NAME = 'iau-boundaries.txt';

/** The table sits in src/wwt/data; the compiled module in dist/src/preview reads it from the source tree. */
function tablePath(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const candidates = [path.resolve(here, '../wwt/data', TABLE_NAME), path.resolve(here, '../../../src/wwt/data', TABLE_NAME)];
  const found = candidates.find((p) => existsSync(p));
  if (!found) throw new ToastyError('internal', `constellation boundaries not found (looked in ${candidates.join(', ')})`);
  return found;
}

/** Consecutive lines with one abbreviation are one closed polygon (columns as in src/wwt/constellations.ts). */
export function readBoundaryTable(text = readFileSync(tablePath(), 'utf8')): BoundaryPolygon[] {
  const out: BoundaryPolygon[] = [];
  for (const line of text.split(/\r?\n/)) {
    if (line.trim() === '') continue;
    const ra = Number(line.slice(0, 10));
    const dec = Number(line.slice(11, 22));
    const abbreviation = line.slice(23, 27).trim();
    if (!Number.isFinite(ra) || !Number.isFinite(dec) || !abbreviation) {
      throw new ToastyError('internal', `${TABLE_NAME}: malformed line ${JSON.stringify(line)}`);
    }
    let current = out.at(-1);
    if (current?.abbreviation !== abbreviation) {
      current = { abbreviation, vertices: [] };
      out.push(current);
    }
    current.vertices.push({ ra, dec });
  }
  return out;
}

type Vec = [number, number, number];
type Mat = [Vec, Vec, Vec];
const RAD = Math.PI / 180;

/**
 * IAU 1976 precession (Lieske 1979) from J2000 to an epoch `t` Julian centuries later (here
 * negative): r_epoch = P r_J2000, P = R3(-z) R2(theta) R3(-zeta).
 */
export function precessionFromJ2000(t: number): Mat {
  const as = RAD / 3600;
  const zeta = (2306.2181 * t + 0.30188 * t * t + 0.017998 * t ** 3) * as;
  const z = (2306.2181 * t + 1.09468 * t * t + 0.018203 * t ** 3) * as;
  const theta = (2004.3109 * t - 0.42665 * t * t - 0.041833 * t ** 3) * as;
  const [cz, sz, cZ, sZ, ct, st] = [Math.cos(zeta), Math.sin(zeta), Math.cos(z), Math.sin(z), Math.cos(theta), Math.sin(theta)];
  return [
    [cZ * ct * cz - sZ * sz, -cZ * ct * sz - sZ * cz, -cZ * st],
    [sZ * ct * cz + cZ * sz, -sZ * ct * sz + cZ * cz, -sZ * st],
    [st * cz, -st * sz, ct],
  ];
}

/** B1875.0 (JD 2405889.25855) in Julian centuries from J2000. */
export const B1875 = (2405889.25855 - 2451545.0) / 36525;

const toVec = (raHours: number, decDeg: number): Vec => {
  const a = raHours * 15 * RAD;
  const d = decDeg * RAD;
  return [Math.cos(d) * Math.cos(a), Math.cos(d) * Math.sin(a), Math.sin(d)];
};
const fromVec = (v: Vec): BoundaryVertex => {
  const ra = (Math.atan2(v[1], v[0]) / RAD / 15 + 24) % 24;
  return { ra, dec: Math.atan2(v[2], Math.hypot(v[0], v[1])) / RAD };
};
const apply = (m: Mat, v: Vec): Vec => [0, 1, 2].map((i) => m[i][0] * v[0] + m[i][1] * v[1] + m[i][2] * v[2]) as Vec;
const transpose = (m: Mat): Mat => [0, 1, 2].map((i) => [m[0][i], m[1][i], m[2][i]]) as Mat;

const TO_B1875 = precessionFromJ2000(B1875);
const FROM_B1875 = transpose(TO_B1875);

/** A J2000 position in B1875.0 coordinates (and back). */
export const toB1875 = (p: BoundaryVertex): BoundaryVertex => fromVec(apply(TO_B1875, toVec(p.ra, p.dec)));
export const fromB1875 = (p: BoundaryVertex): BoundaryVertex => fromVec(apply(FROM_B1875, toVec(p.ra, p.dec)));

/** Signed RA step from a to b the short way round, hours in [-12, 12). */
const raStep = (a: number, b: number) => ((((b - a + 12) % 24) + 24) % 24) - 12;

/** Points strictly between two corners, along their B1875 meridian or parallel, at most `stepDeg` apart. */
export function edgePoints(a: BoundaryVertex, b: BoundaryVertex, stepDeg = 1): BoundaryVertex[] {
  const pa = toB1875(a);
  const pb = toB1875(b);
  const dRa = raStep(pa.ra, pb.ra);
  const dDec = pb.dec - pa.dec;
  const length = Math.abs(dRa * 15 * Math.cos(((pa.dec + pb.dec) / 2) * RAD)) + Math.abs(dDec);
  const n = Math.ceil(length / stepDeg);
  const out: BoundaryVertex[] = [];
  for (let k = 1; k < n; k++) out.push(fromB1875({ ra: pa.ra + (dRa * k) / n, dec: pa.dec + (dDec * k) / n }));
  return out;
}

function line(p: BoundaryVertex, abbreviation: string, mark: 'O' | 'I'): string {
  const ra = p.ra.toFixed(7).padEnd(10).slice(0, 10);
  const dec = `${p.dec < 0 ? '-' : '+'}${Math.abs(p.dec).toFixed(7)}`.padEnd(11).slice(0, 11);
  return `${ra} ${dec} ${abbreviation.padEnd(4)} ${mark}`;
}

/** The engine's constellations.txt: each polygon's corners (O) with the edges followed between them (I). */
export function engineBoundaryFile(polygons: BoundaryPolygon[]): string {
  const rows: string[] = [];
  for (const { abbreviation, vertices } of polygons) {
    vertices.forEach((v, i) => {
      // The table's own numbers (7 decimals): the engine's lookup agrees with src/wwt's.
      rows.push(line(v, abbreviation, 'O'));
      for (const p of edgePoints(v, vertices[(i + 1) % vertices.length])) rows.push(line(p, abbreviation, 'I'));
    });
  }
  // No trailing line break: the engine would read the empty last line as a polygon.
  return rows.join('\r\n');
}

/** IAU names, by the table's abbreviations (Serpens is two polygons). */
const NAMES: Record<string, string> = {
  AND: 'Andromeda',
  ANT: 'Antlia',
  APS: 'Apus',
  AQR: 'Aquarius',
  AQL: 'Aquila',
  ARA: 'Ara',
  ARI: 'Aries',
  AUR: 'Auriga',
  BOO: 'Boötes',
  CAE: 'Caelum',
  CAM: 'Camelopardalis',
  CNC: 'Cancer',
  CVN: 'Canes Venatici',
  CMA: 'Canis Major',
  CMI: 'Canis Minor',
  CAP: 'Capricornus',
  CAR: 'Carina',
  CAS: 'Cassiopeia',
  CEN: 'Centaurus',
  CEP: 'Cepheus',
  CET: 'Cetus',
  CHA: 'Chamaeleon',
  CIR: 'Circinus',
  COL: 'Columba',
  COM: 'Coma Berenices',
  CRA: 'Corona Australis',
  CRB: 'Corona Borealis',
  CRV: 'Corvus',
  CRT: 'Crater',
  CRU: 'Crux',
  CYG: 'Cygnus',
  DEL: 'Delphinus',
  DOR: 'Dorado',
  DRA: 'Draco',
  EQU: 'Equuleus',
  ERI: 'Eridanus',
  FOR: 'Fornax',
  GEM: 'Gemini',
  GRU: 'Grus',
  HER: 'Hercules',
  HOR: 'Horologium',
  HYA: 'Hydra',
  HYI: 'Hydrus',
  IND: 'Indus',
  LAC: 'Lacerta',
  LEO: 'Leo',
  LMI: 'Leo Minor',
  LEP: 'Lepus',
  LIB: 'Libra',
  LUP: 'Lupus',
  LYN: 'Lynx',
  LYR: 'Lyra',
  MEN: 'Mensa',
  MIC: 'Microscopium',
  MON: 'Monoceros',
  MUS: 'Musca',
  NOR: 'Norma',
  OCT: 'Octans',
  OPH: 'Ophiuchus',
  ORI: 'Orion',
  PAV: 'Pavo',
  PEG: 'Pegasus',
  PER: 'Perseus',
  PHE: 'Phoenix',
  PIC: 'Pictor',
  PSC: 'Pisces',
  PSA: 'Piscis Austrinus',
  PUP: 'Puppis',
  PYX: 'Pyxis',
  RET: 'Reticulum',
  SGE: 'Sagitta',
  SGR: 'Sagittarius',
  SCO: 'Scorpius',
  SCL: 'Sculptor',
  SCT: 'Scutum',
  SER1: 'Serpens Caput',
  SER2: 'Serpens Cauda',
  SEX: 'Sextans',
  TAU: 'Taurus',
  TEL: 'Telescopium',
  TRI: 'Triangulum',
  TRA: 'Triangulum Australe',
  TUC: 'Tucana',
  UMA: 'Ursa Major',
  UMI: 'Ursa Minor',
  VEL: 'Vela',
  VIR: 'Virgo',
  VOL: 'Volans',
  VUL: 'Vulpecula',
};

/**
 * The engine's ConstellationNamePositions file: a position for each polygon (the direction of
 * the mean of its outline's unit vectors, corners and followed edges alike).
 */
export function engineNamePositionsFile(polygons: BoundaryPolygon[]): string {
  return polygons
    .map(({ abbreviation, vertices }) => {
      const sum: Vec = [0, 0, 0];
      vertices.forEach((v, i) => {
        for (const p of [v, ...edgePoints(v, vertices[(i + 1) % vertices.length])]) {
          const u = toVec(p.ra, p.dec);
          for (let k = 0; k < 3; k++) sum[k] += u[k];
        }
      });
      const c = fromVec(sum);
      // The engine splits on commas: names have none.
      return `${NAMES[abbreviation] ?? abbreviation},${abbreviation},${c.ra.toFixed(4)},${c.dec.toFixed(4)}`;
    })
    .join('\r\n');
}
