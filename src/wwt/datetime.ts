/**
 * Record dates as the WTML carries them: `XLastUpdated` as Python prints an aware datetime (what
 * the reference WTML writer emits), ISO 8601 for the Place's annotation, and the instant an
 * `XLastUpdated` names, for sorting the root index newest first.
 *
 * Text form: `YYYY-MM-DD HH:MM:SS[.ffffff]+HH:MM`. The record's own UTC offset is kept (not
 * converted); naive input means UTC. The fraction appears only when microseconds are non-zero
 * and then always has 6 digits.
 */
import { ToastyError } from '../util/errors.js';

/** A calendar timestamp with a fixed UTC offset (minutes east of UTC). */
export interface AwareTimestamp {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
  microsecond: number;
  offsetMinutes: number;
}

// ISO 8601 as AstroPix and our own XLastUpdated write it: `T` or space between date and time,
// optional seconds and fraction, optional `Z` / `±HH:MM` / `±HHMM` / `±HH`.
const ISO_RE = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?(?:\s*(Z|z|[+-]\d{2}(?::?\d{2})?))?)?$/;

const pad = (n: number, width = 2) => String(n).padStart(width, '0');

function daysInMonth(year: number, month: number): number {
  if (month === 2) return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28;
  return [4, 6, 9, 11].includes(month) ? 30 : 31;
}

/** Parse an ISO-like timestamp; `null` when it is not one or a field is out of range. */
export function parseTimestamp(text: string): AwareTimestamp | null {
  const m = ISO_RE.exec(text.trim());
  if (!m) return null;
  const [, y, mo, d, h, mi, s, frac, tz] = m;
  const ts: AwareTimestamp = {
    year: Number(y),
    month: Number(mo),
    day: Number(d),
    hour: h === undefined ? 0 : Number(h),
    minute: mi === undefined ? 0 : Number(mi),
    second: s === undefined ? 0 : Number(s),
    // Python keeps microseconds; finer digits are dropped.
    microsecond: frac === undefined ? 0 : Number(frac.slice(0, 6).padEnd(6, '0')),
    offsetMinutes: 0,
  };
  if (tz !== undefined && tz !== 'Z' && tz !== 'z') {
    const digits = tz.slice(1).replace(':', '');
    const oh = Number(digits.slice(0, 2));
    const om = digits.length > 2 ? Number(digits.slice(2)) : 0;
    if (oh > 23 || om > 59) return null;
    ts.offsetMinutes = (tz[0] === '-' ? -1 : 1) * (oh * 60 + om);
  }
  if (ts.year < 1 || ts.month < 1 || ts.month > 12) return null;
  if (ts.day < 1 || ts.day > daysInMonth(ts.year, ts.month)) return null;
  if (ts.hour > 23 || ts.minute > 59 || ts.second > 59) return null;
  return ts;
}

/** Python `str(aware_datetime)`: what `XLastUpdated` holds. */
export function formatTimestamp(ts: AwareTimestamp): string {
  return joinTimestamp(ts, ' ');
}

/** Python `aware_datetime.isoformat()`: ISO 8601 with the offset, readable by `datetime.fromisoformat` of every Python 3. */
export function isoTimestamp(ts: AwareTimestamp): string {
  return joinTimestamp(ts, 'T');
}

function joinTimestamp(ts: AwareTimestamp, separator: ' ' | 'T'): string {
  const date = `${pad(ts.year, 4)}-${pad(ts.month)}-${pad(ts.day)}`;
  const frac = ts.microsecond ? `.${pad(ts.microsecond, 6)}` : '';
  const time = `${pad(ts.hour)}:${pad(ts.minute)}:${pad(ts.second)}${frac}`;
  const off = Math.abs(ts.offsetMinutes);
  const sign = ts.offsetMinutes < 0 ? '-' : '+';
  return `${date}${separator}${time}${sign}${pad(Math.floor(off / 60))}:${pad(off % 60)}`;
}

/** Days from 1970-01-01 to a proleptic Gregorian date (exact for every year, unlike Date.UTC). */
function daysFromCivil(y: number, m: number, d: number): number {
  const yy = m <= 2 ? y - 1 : y;
  const era = Math.floor(yy / 400);
  const yoe = yy - era * 400;
  const doy = Math.floor((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

/**
 * Milliseconds since the Unix epoch, with microseconds as the fraction. Doubles resolve
 * ~0.25 µs at present-day magnitudes, so distinct microsecond instants always order correctly.
 */
export function timestampInstant(ts: AwareTimestamp): number {
  const seconds = daysFromCivil(ts.year, ts.month, ts.day) * 86400 + ts.hour * 3600 + ts.minute * 60 + ts.second;
  return (seconds - ts.offsetMinutes * 60) * 1000 + ts.microsecond / 1000;
}

/**
 * A date field of a source's record, e.g. AstroPix `last_updated`: `2018-04-12T19:14:41` is
 * 19:14:41 UTC (no zone means UTC). Missing or unparseable values are a per-image record error
 * naming `field`.
 */
export function recordTimestamp(value: unknown, field: string): AwareTimestamp {
  if (value === undefined || value === null || value === '') {
    throw new ToastyError('record', `${field} is missing`, { field });
  }
  const ts = typeof value === 'string' ? parseTimestamp(value) : null;
  if (!ts) {
    throw new ToastyError('record', `${field} is not a valid ISO 8601 date/time: ${JSON.stringify(value)}`, { field });
  }
  return ts;
}

/**
 * The instant an `XLastUpdated` string names (naive = UTC, offsets honoured), as
 * milliseconds since the epoch with a sub-millisecond fraction. Throws a `wtml` error when
 * the text is not a timestamp.
 */
export function xLastUpdatedInstant(text: string): number {
  const ts = parseTimestamp(text);
  if (!ts) {
    throw new ToastyError('wtml', `XLastUpdated is not a valid date/time: ${JSON.stringify(text)}`, {
      field: 'XLastUpdated',
    });
  }
  return timestampInstant(ts);
}

/**
 * Sort comparator, newest instant first. Missing or unparseable stamps sort after every valid
 * one (an index still gets written); equal instants compare 0 so the caller can tie-break
 * (by id, for determinism).
 */
export function compareNewestFirst(a: string | undefined, b: string | undefined): number {
  const ia = instantOrNull(a);
  const ib = instantOrNull(b);
  if (ia === null || ib === null) return ia === ib ? 0 : ia === null ? 1 : -1;
  return ia === ib ? 0 : ia > ib ? -1 : 1;
}

function instantOrNull(text: string | undefined): number | null {
  const ts = text === undefined ? null : parseTimestamp(text);
  return ts ? timestampInstant(ts) : null;
}
