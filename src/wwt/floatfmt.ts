/**
 * Number and boolean text as the reference WTML writer prints them (`True`/`False`, Python float repr).
 *
 * The reference is Python: floats go through `repr` (shortest round-trip digits) with a
 * trailing `.0` removed. JS `String()` picks the same digits but lays them out differently
 * (`0.00001`, `1e-7`, `0` for -0), so the layout is rebuilt here from `toExponential()`,
 * whose no-argument form yields exactly the shortest round-trip digits.
 */

/** Python `repr(float)` minus a trailing `.0`: `0`, `-0`, `100`, `2.5`, `1e-05`, `1e+16`. */
export function formatFloat(x: number): string {
  if (Number.isNaN(x)) return 'nan';
  if (x === Infinity) return 'inf';
  if (x === -Infinity) return '-inf';
  if (x === 0) return Object.is(x, -0) ? '-0' : '0';

  const [mantissa, expText] = x.toExponential().split('e');
  const exp = Number(expText);
  const sign = mantissa.startsWith('-') ? '-' : '';
  const digits = mantissa.replace('-', '').replace('.', '');

  // Python switches to exponent notation outside 1e-4 <= |x| < 1e16.
  if (exp < -4 || exp >= 16) {
    const frac = digits.length > 1 ? `.${digits.slice(1)}` : '';
    const expSign = exp < 0 ? '-' : '+';
    return `${sign}${digits[0]}${frac}e${expSign}${String(Math.abs(exp)).padStart(2, '0')}`;
  }
  if (exp < 0) return `${sign}0.${'0'.repeat(-exp - 1)}${digits}`;
  const intPart = digits.slice(0, exp + 1).padEnd(exp + 1, '0');
  const fracPart = digits.slice(exp + 1);
  return fracPart ? `${sign}${intPart}.${fracPart}` : `${sign}${intPart}`;
}

/** WTML booleans are capitalised, as Python prints them. */
export function formatBool(b: boolean): 'True' | 'False' {
  return b ? 'True' : 'False';
}
