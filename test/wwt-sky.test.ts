// The "sky" maths of a study: float text, XLastUpdated, AstroPix WCS -> headers -> ImageSet and
// Place numbers, checked against every shared reference vector (spec 5, 6, 7.3, 8.6).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { formatBool, formatFloat } from '../src/wwt/floatfmt.js';
import { compareNewestFirst, formatTimestamp, isoTimestamp, recordTimestamp, xLastUpdatedInstant } from '../src/wwt/datetime.js';
import { parseAstropixWcs } from '../src/sources/astropix-record.js';
import { mirrorWcs, needsMirror, pixelToSky, skyPlacement, wcsHeaders, type WcsHeaders } from '../src/wwt/wcs.js';
import { assertClose, loadVectors, recordOf, tileLevelsOf, type WcsCase } from './helpers/vectors.js';
import { expectToastyError } from './helpers/vectors.js';

const V = loadVectors();
const caseNamed = (name: string): WcsCase => {
  const c = V.wcs_cases.find((x) => x.name === name);
  if (!c) throw new Error(`no vector ${name}`);
  return c;
};

/** Run `fn`, require a ToastyError and return it. */

// ---------------------------------------------------------------------------------- floats

test('formatFloat reproduces every float_format_case exactly', () => {
  assert.ok(V.float_format_cases.length >= 10);
  for (const c of V.float_format_cases) assert.is(formatFloat(c.value), c.python_text, `value ${c.value}`);
});

test('formatFloat: Python repr layout beyond the vectors', () => {
  const cases: [number, string][] = [
    [0.1, '0.1'],
    [-2.5, '-2.5'],
    [1e15, '1000000000000000'],
    [1.5e15, '1500000000000000'],
    [9999999999999998, '9999999999999998'],
    [123456789.125, '123456789.125'],
    [0.00012345, '0.00012345'],
    [-1e-5, '-1e-05'],
    [1.25e-7, '1.25e-07'],
    [1.2345678901234568e20, '1.2345678901234568e+20'],
    [1e100, '1e+100'],
    [5e-324, '5e-324'],
    [1.7976931348623157e308, '1.7976931348623157e+308'],
    [NaN, 'nan'],
    [Infinity, 'inf'],
  ];
  for (const [x, s] of cases) assert.is(formatFloat(x), s, String(x));
  // Shortest round trip: the text reads back as the same double.
  for (const x of [Math.PI, -Math.E * 1e-9, 0.30000000000000004, 2 ** 60 + 2 ** 8]) {
    assert.is(Number(formatFloat(x)), x);
  }
});

test('formatBool is capitalised', () => {
  assert.is(formatBool(true), 'True');
  assert.is(formatBool(false), 'False');
});

// ---------------------------------------------------------------------------- XLastUpdated

test('XLastUpdated from a record date: spec 7.3 examples', () => {
  const xLastUpdated = (v: unknown) => formatTimestamp(recordTimestamp(v, 'last_updated'));
  const cases: [string, string][] = [
    ['2018-04-12T19:14:41', '2018-04-12 19:14:41+00:00'],
    ['2021-06-06T08:22:01.893842', '2021-06-06 08:22:01.893842+00:00'],
    ['2022-07-04T23:59:59.5', '2022-07-04 23:59:59.500000+00:00'],
    ['2020-03-01T10:00:00-05:00', '2020-03-01 10:00:00-05:00'],
    ['2020-03-01T10:00:00Z', '2020-03-01 10:00:00+00:00'],
    ['2005-01-01T00:00:00+00:00', '2005-01-01 00:00:00+00:00'],
    ['2019-11-20 12:34:56+0530', '2019-11-20 12:34:56+05:30'],
    ['2019-11-20T12:34:56.000000', '2019-11-20 12:34:56+00:00'],
    ['2019-11-20T12:34:56.1234567', '2019-11-20 12:34:56.123456+00:00'],
    ['2019-11-20', '2019-11-20 00:00:00+00:00'],
    ['2020-02-29T01:02', '2020-02-29 01:02:00+00:00'],
  ];
  for (const [input, out] of cases) assert.is(xLastUpdated(input), out, input);
  // Every vector's record agrees with its expected XLastUpdated.
  for (const c of V.wcs_cases) {
    if (!c.expected.place) continue;
    assert.is(xLastUpdated(c.input.record.last_updated), c.expected.place.x_last_updated, c.name);
  }
});

test('recordTimestamp: bad values are record errors naming the field', () => {
  for (const bad of [
    undefined,
    null,
    '',
    'yesterday',
    '2021-13-01T00:00:00',
    '2021-02-29T00:00:00',
    '2021-01-01T24:00:00',
    '2021-01-01T10:00:00+25:00',
    '12/04/2018',
    20180412,
    ['2018-04-12'],
  ]) {
    const e = expectToastyError(() => recordTimestamp(bad, 'last_updated'), String(bad));
    assert.is(e.code, 'record');
    assert.is(e.field, 'last_updated');
  }
});

test('isoTimestamp: Python isoformat of an aware datetime (the annotation date)', () => {
  const iso = (v: string) => isoTimestamp(recordTimestamp(v, 'last_updated'));
  assert.is(iso('2018-04-12T19:14:41'), '2018-04-12T19:14:41+00:00');
  assert.is(iso('2021-06-06T08:22:01.893842'), '2021-06-06T08:22:01.893842+00:00');
  assert.is(iso('2020-03-01 10:00:00-05:00'), '2020-03-01T10:00:00-05:00');
  assert.is(iso('2020-03-01T10:00:00Z'), '2020-03-01T10:00:00+00:00');
  assert.is(iso('2019-11-20'), '2019-11-20T00:00:00+00:00');
});

test('xLastUpdatedInstant: naive = UTC, offsets honoured, microseconds ordered', () => {
  assert.is(xLastUpdatedInstant('2020-03-01 10:00:00-05:00'), xLastUpdatedInstant('2020-03-01T15:00:00Z'));
  assert.is(xLastUpdatedInstant('1970-01-01 00:00:01'), 1000);
  assert.is(xLastUpdatedInstant('2000-03-01 00:00:00+00:00'), Date.UTC(2000, 2, 1));
  assert.ok(xLastUpdatedInstant('2021-06-06 08:22:01.000001+00:00') > xLastUpdatedInstant('2021-06-06 08:22:01+00:00'));
  assert.ok(xLastUpdatedInstant('2021-06-06 08:22:01.893843') > xLastUpdatedInstant('2021-06-06 08:22:01.893842'));
  // Two-digit years are not remapped to 19xx (a Date.UTC trap).
  assert.ok(xLastUpdatedInstant('0050-01-01 00:00:00') < xLastUpdatedInstant('1950-01-01 00:00:00'));
  const e = expectToastyError(() => xLastUpdatedInstant('soon'), 'soon');
  assert.is(e.code, 'wtml');
});

test('reindex_cases: newest first by instant, id tie-break', () => {
  for (const rc of V.reindex_cases) {
    const items = [...rc.items];
    const byAge = (a: (typeof items)[0], b: (typeof items)[0]) =>
      compareNewestFirst(a.XLastUpdated, b.XLastUpdated) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
    assert.equal(
      items.sort(byAge).map((i) => i.id),
      rc.expected_order_newest_first,
    );
    // Independent of input order.
    assert.equal(
      [...rc.items]
        .reverse()
        .sort(byAge)
        .map((i) => i.id),
      rc.expected_order_newest_first,
    );
  }
  // Same instant written two ways compares equal; unparseable stamps go last.
  assert.is(compareNewestFirst('2020-03-01 10:00:00-05:00', '2020-03-01 15:00:00'), 0);
  assert.ok(compareNewestFirst('garbage', '1999-01-01 00:00:00') > 0);
  assert.ok(compareNewestFirst('1999-01-01 00:00:00', undefined) < 0);
});

// ------------------------------------------------------------------------------ WCS vectors

const INTERMEDIATE_KEYS = ['CRVAL1', 'CRVAL2', 'CRPIX1', 'CRPIX2', 'CDELT1', 'CDELT2', 'PC1_1', 'PC1_2', 'PC2_1', 'PC2_2', 'factor0', 'factor1'];
const HEADER_KEYS = ['CRVAL1', 'CRVAL2', 'CRPIX1', 'CRPIX2', 'CD1_1', 'CD1_2', 'CD2_1', 'CD2_2'] as const;

function checkPlacement(c: WcsCase, headers: WcsHeaders, label: string): void {
  const { cached_image_width: W, cached_image_height: H } = c.input;
  const p = skyPlacement(headers, W, H, tileLevelsOf(c));
  const ei = c.expected.imageset;
  const ep = c.expected.place;
  const at = (k: string) => `${c.name} (${label}) ${k}`;
  assert.is(p.imageset.projection, ei.projection, at('projection'));
  assert.is(p.imageset.bottomsUp, ei.bottoms_up, at('bottomsUp'));
  assert.is(p.imageset.tileLevels, ei.tile_levels, at('tileLevels'));
  assert.is(p.imageset.fileType, ei.file_type, at('fileType'));
  assert.is(p.imageset.url, ei.url, at('url'));
  assertClose(p.imageset.rotation, ei.rotation_deg, at('rotation'));
  assertClose(p.imageset.baseDegreesPerTile, ei.base_degrees_per_tile, at('baseDegreesPerTile'));
  assertClose(p.imageset.offsetX, ei.offset_x, at('offsetX'));
  assertClose(p.imageset.offsetY, ei.offset_y, at('offsetY'));
  assertClose(p.imageset.centerX, ei.center_x, at('centerX'));
  assertClose(p.imageset.centerY, ei.center_y, at('centerY'));
  assertClose(p.place.ra, ep.ra_hr, at('ra'));
  assertClose(p.place.dec, ep.dec_deg, at('dec'));
  assertClose(p.place.zoomLevel, ep.zoom_level, at('zoomLevel'));
  assertClose(p.center.ra, c.expected.closed_form_center_deg[0], at('center ra'));
  assertClose(p.center.dec, c.expected.closed_form_center_deg[1], at('center dec'));
  // Exact zeros stay exact: OffsetX must vanish from the XML. The model keeps the reference's
  // sign of a zero rotation; only the WTML writer prints it as 0 (wwt-wtml.test.ts).
  if (ei.offset_x === 0) assert.is(p.imageset.offsetX, 0, at('offsetX exactly 0'));
  if (ei.rotation_deg === 0) assert.ok(Object.is(p.imageset.rotation, ei.rotation_deg), at('rotation sign of zero'));
}

test('wcs_cases: headers, placement, errors for every case', () => {
  let placed = 0;
  let rejected = 0;
  let skipped = 0;
  for (const c of V.wcs_cases) {
    const e = c.expected;
    if (e.not_actionable) {
      // Not-actionable records are skipped by the source; the WCS parser agrees only on projection.
      if (c.input.record.wcs_projection !== 'TAN') {
        const err = expectToastyError(() => parseAstropixWcs(c.input.record), c.name);
        assert.is(err.code, 'wcs');
        assert.is(err.field, 'wcs_projection');
      } else {
        parseAstropixWcs(c.input.record);
      }
      skipped++;
      continue;
    }
    const W = c.input.cached_image_width;
    const H = c.input.cached_image_height;
    const { intermediate, headers } = wcsHeaders(parseAstropixWcs(c.input.record), W, H);
    for (const k of INTERMEDIATE_KEYS) {
      assertClose((intermediate as unknown as Record<string, number>)[k], e.wcs_fits_parity_intermediate[k], `${c.name} intermediate ${k}`);
    }
    assert.is(headers.CTYPE1, e.wcs_headers_jpeg_parity.CTYPE1);
    assert.is(headers.CTYPE2, e.wcs_headers_jpeg_parity.CTYPE2);
    for (const k of HEADER_KEYS) assertClose(headers[k], e.wcs_headers_jpeg_parity[k], `${c.name} header ${k}`);

    if (e.error) {
      for (const h of [e.wcs_headers_jpeg_parity as WcsHeaders, headers]) {
        const err = expectToastyError(() => skyPlacement(h, W, H, tileLevelsOf(c)), c.name);
        assert.is(err.code, 'wcs', c.name);
        assert.is(err.field, 'wcs_scale', c.name);
        const want = /parity/.test(e.error) ? /parity/ : /non-square/;
        assert.match(err.message, want, c.name);
      }
      rejected++;
      continue;
    }
    checkPlacement(c, e.wcs_headers_jpeg_parity as WcsHeaders, 'reference headers');
    checkPlacement(c, headers, 'our headers');
    placed++;
  }
  assert.is(placed + rejected + skipped, V.wcs_cases.length);
  assert.is(rejected, 2);
  assert.ok(placed >= 7);
});

test('spec 5 worked numbers (NGC 253, NGC 7552)', () => {
  const ngc253 = caseNamed('ngc253-alma-tiled-fullres-normal-parity');
  const h = wcsHeaders(parseAstropixWcs(ngc253.input.record), 2166, 2129).headers;
  assertClose(h.CRPIX2, 452.22122247539005, 'NGC 253 CRPIX2');
  assertClose(h.CD1_2, -1.8757243758226508e-8, 'NGC 253 CD1_2');
  const ngc7552 = caseNamed('ngc7552-gemini-downsampled-untiled-rot139');
  const i = wcsHeaders(parseAstropixWcs(ngc7552.input.record), 1280, 876).intermediate;
  assertClose(i.factor0, 0.2581686163775716, 'f0');
  assertClose(i.factor1, 0.25825471698113206, 'f1');
  assertClose(i.CRPIX1, 640.3709156918112, 'CRPIX1');
});

// ------------------------------------------------------------------------- record errors

test('missing / non-numeric / NaN / infinite WCS fields name the field', () => {
  const base = caseNamed('ngc253-alma-tiled-fullres-normal-parity');
  const mutate = (field: string, value: unknown) => {
    const r = recordOf(base);
    if (value === undefined) delete r[field];
    else r[field] = value;
    return r;
  };
  const vectorFields = ['wcs_reference_value', 'wcs_reference_pixel', 'wcs_reference_dimension', 'wcs_scale'];
  const badPairs = [undefined, null, '1.0', ['1.0'], ['1', '2', '3'], ['abc', '1'], ['1', 'NaN'], ['Infinity', '1'], ['1', ''], ['0x10', '1'], [{}, '1']];
  for (const field of vectorFields) {
    for (const v of badPairs) {
      const err = expectToastyError(() => parseAstropixWcs(mutate(field, v)), `${field}=${JSON.stringify(v)}`);
      assert.is(err.code, 'record', `${field}=${JSON.stringify(v)}`);
      assert.is(err.field, field, `${field}=${JSON.stringify(v)}`);
      assert.ok(err.message.includes(field));
    }
  }
  for (const v of [undefined, '', 'north', 'nan', 'inf', null, NaN]) {
    const err = expectToastyError(() => parseAstropixWcs(mutate('wcs_rotation', v)), `rotation=${v}`);
    assert.is(err.field, 'wcs_rotation');
    assert.is(err.code, 'record');
  }
  let err = expectToastyError(() => parseAstropixWcs(mutate('wcs_projection', undefined)), 'no projection');
  assert.is(err.code, 'record');
  assert.is(err.field, 'wcs_projection');
  err = expectToastyError(() => parseAstropixWcs(mutate('wcs_projection', 'SIN')), 'SIN');
  assert.is(err.code, 'wcs');
  assert.is(err.field, 'wcs_projection');
  for (const scale of [
    ['0', '0.0001'],
    ['-0.0', '0.0001'],
    ['-0.0001', '0'],
  ]) {
    err = expectToastyError(() => parseAstropixWcs(mutate('wcs_scale', scale)), `scale ${scale}`);
    assert.is(err.field, 'wcs_scale');
  }
  err = expectToastyError(() => parseAstropixWcs(mutate('wcs_reference_dimension', ['0', '2129'])), 'dim 0');
  assert.is(err.field, 'wcs_reference_dimension');
  // Accepted spellings: "4958.0", numbers, surrounding blanks, exponents.
  const ok = parseAstropixWcs(mutate('wcs_reference_dimension', ['4958.0', 3392]));
  assert.equal(ok.referenceDimension, [4958, 3392]);
  assert.equal(parseAstropixWcs(mutate('wcs_scale', [' -1.387416E-05 ', '+1.387416e-5'])).scale, [-1.387416e-5, 1.387416e-5]);
});

test('WCS values off the sky are refused naming the field; RA is normalised to 0..360', () => {
  const base = caseNamed('ngc253-alma-tiled-fullres-normal-parity');
  const withField = (field: string, value: unknown) => ({ ...recordOf(base), [field]: value });
  const bad: Array<[string, unknown, RegExp]> = [
    ['wcs_reference_value', ['10', '95'], /Dec 95 is outside -90\.\.90/],
    ['wcs_reference_value', ['10', '-90.5'], /Dec -90\.5/],
    ['wcs_reference_value', ['1e308', '10'], /RA 1e\+308 is outside -360\.\.720/],
    ['wcs_reference_value', ['-400', '10'], /RA -400/],
    ['wcs_reference_pixel', ['1e308', '1'], /not a usable TAN WCS/],
    ['wcs_reference_pixel', ['1', '-1e12'], /not a usable TAN WCS/],
    ['wcs_reference_dimension', ['1e300', '2129'], /beyond any image/],
    ['wcs_scale', ['-1', '1'], /2166 degrees across/],
    ['wcs_scale', ['-1e300', '1e300'], /degrees across/],
    ['wcs_rotation', '1e308', /outside -360\.\.360/],
  ];
  for (const [field, value, message] of bad) {
    const err = expectToastyError(() => parseAstropixWcs(withField(field, value)), `${field}=${JSON.stringify(value)}`);
    assert.is(err.code, 'record');
    assert.is(err.field, field);
    assert.match(err.message, message);
    assert.ok(err.message.startsWith(`${field}: `), err.message);
  }
  // Edges that are fine: the poles, RA -360..720, a reference point outside the image.
  assert.equal(parseAstropixWcs(withField('wcs_reference_value', ['-10', '90'])).referenceValue, [350, 90]);
  assert.equal(parseAstropixWcs(withField('wcs_reference_value', ['720', '-90'])).referenceValue, [0, -90]);
  assert.equal(parseAstropixWcs(withField('wcs_reference_value', ['359.5', '0'])).referenceValue, [359.5, 0]);
  assert.equal(parseAstropixWcs(withField('wcs_reference_pixel', ['-5000', '9000'])).referencePixel, [-5000, 9000]);
});

test('skyPlacement rejects skewed and singular CD matrices', () => {
  const c = caseNamed('ngc253-alma-tiled-fullres-normal-parity');
  const h = c.expected.wcs_headers_jpeg_parity as WcsHeaders;
  const skewed = { ...h, CD1_2: h.CD1_1 * 0.2 };
  let err = expectToastyError(() => skyPlacement(skewed, 2166, 2129, 0), 'skew');
  assert.is(err.code, 'wcs');
  assert.match(err.message, /skew/);
  err = expectToastyError(() => skyPlacement({ ...h, CD1_1: 0, CD1_2: 0 }, 2166, 2129, 0), 'singular');
  assert.is(err.code, 'wcs');
  err = expectToastyError(() => skyPlacement({ ...h, CTYPE1: 'RA---SIN' }, 2166, 2129, 0), 'SIN');
  assert.is(err.field, 'wcs_projection');
  // TPV is accepted like TAN.
  skyPlacement({ ...h, CTYPE1: 'RA---TPV', CTYPE2: 'DEC--TPV' }, 2166, 2129, 4);
});

// ---------------------------------------------------------------------------- mirror twin

/** CD column 1 negated, CRPIX1 mirrored, everything else equal. */
function assertMirroredHeaders(twin: WcsHeaders, orig: WcsHeaders, W: number, label: string): void {
  assertClose(twin.CD1_1, -orig.CD1_1, `${label} CD1_1`);
  assertClose(twin.CD2_1, -orig.CD2_1, `${label} CD2_1`);
  assertClose(twin.CD1_2, orig.CD1_2, `${label} CD1_2`);
  assertClose(twin.CD2_2, orig.CD2_2, `${label} CD2_2`);
  assertClose(twin.CRPIX1, W + 1 - orig.CRPIX1, `${label} CRPIX1`);
  assert.is(twin.CRPIX2, orig.CRPIX2, `${label} CRPIX2`);
  assert.is(twin.CRVAL1, orig.CRVAL1);
  assert.is(twin.CRVAL2, orig.CRVAL2);
}

test('mirror twin: a positive-parity tiled image is flopped and placed where its WCS says', () => {
  const c = caseNamed('positive-parity-tiled-is-rejected');
  const { cached_image_width: W, cached_image_height: H } = c.input;
  const L = tileLevelsOf(c);
  const wcs = parseAstropixWcs(c.input.record);
  assert.ok(needsMirror(wcs, true));
  assert.not.ok(needsMirror(wcs, false));

  const twinWcs = mirrorWcs(wcs);
  assert.not.ok(needsMirror(twinWcs, true));
  assert.equal(twinWcs.scale, [-0.00005, 0.00005]);
  assert.equal(twinWcs.referencePixel, [1250.5, 1200.5]);
  assert.equal(wcs.scale, [0.00005, 0.00005], 'original WCS untouched');

  const orig = wcsHeaders(wcs, W, H).headers;
  const twin = wcsHeaders(twinWcs, W, H).headers;
  assertMirroredHeaders(twin, orig, W, 'twin');
  const p = skyPlacement(twin, W, H, L); // the original headers are rejected; the twin is not
  assert.is(p.imageset.projection, 'Tan');
  assert.is(p.imageset.bottomsUp, false);
  // Same image centre as the original WCS says.
  const centre = pixelToSky(c.expected.wcs_headers_jpeg_parity as WcsHeaders, (W + 1) / 2, (H + 1) / 2);
  assertClose(p.center.ra, centre.ra, 'centre ra');
  assertClose(p.center.dec, centre.dec, 'centre dec');
  assertClose(p.place.ra, centre.ra / 15, 'place ra hours');
  // Every flopped pixel (W + 1 - x, y) sees the sky the original pixel (x, y) saw.
  for (const [x, y] of [
    [1, 1],
    [W, 1],
    [1, H],
    [W, H],
    [100.5, 2000.25],
  ]) {
    const a = pixelToSky(orig, x, y);
    const b = pixelToSky(twin, W + 1 - x, y);
    assertClose(b.ra, a.ra, `ra of ${x},${y}`);
    assertClose(b.dec, a.dec, `dec of ${x},${y}`);
  }
});

test('mirror twin of NGC 253: mirrored CD, same sky placement; twin of twin = original', () => {
  const c = caseNamed('ngc253-alma-tiled-fullres-normal-parity');
  const { cached_image_width: W, cached_image_height: H } = c.input;
  const orig = wcsHeaders(parseAstropixWcs(c.input.record), W, H).headers;
  const wcs = parseAstropixWcs(c.input.record);
  const twinWcs = mirrorWcs(wcs);
  const twin = wcsHeaders(twinWcs, W, H).headers;
  assertMirroredHeaders(twin, orig, W, 'NGC 253 twin');
  // The twin has positive parity: a tiled study of it would need mirroring again.
  assert.ok(needsMirror(twinWcs, true));
  const err = expectToastyError(() => skyPlacement(twin, W, H, tileLevelsOf(c)), 'tiled twin');
  assert.match(err.message, /parity/);

  // Untiled, WWT can draw the twin bottoms-up: identical sky numbers, mirrored x offset.
  const a = skyPlacement(orig, W, H, 0);
  const b = skyPlacement(twin, W, H, 0);
  assert.is(a.imageset.bottomsUp, false);
  assert.is(b.imageset.bottomsUp, true);
  for (const k of ['rotation', 'baseDegreesPerTile', 'offsetY', 'centerX', 'centerY'] as const) {
    assertClose(b.imageset[k], a.imageset[k], `untiled ${k}`);
  }
  assertClose(b.imageset.offsetX, W - a.imageset.offsetX, 'untiled offsetX mirrored');
  for (const k of ['ra', 'dec', 'zoomLevel'] as const) assertClose(b.place[k], a.place[k], `place ${k}`);

  // Mirroring twice gives back the original placement, tiled included.
  const back = wcsHeaders(mirrorWcs(twinWcs), W, H).headers;
  const p0 = skyPlacement(orig, W, H, tileLevelsOf(c));
  const p2 = skyPlacement(back, W, H, tileLevelsOf(c));
  for (const k of ['rotation', 'baseDegreesPerTile', 'offsetX', 'offsetY', 'centerX', 'centerY'] as const) {
    assertClose(p2.imageset[k], p0.imageset[k], `twice ${k}`);
  }
  for (const k of ['ra', 'dec', 'zoomLevel'] as const) assertClose(p2.place[k], p0.place[k], `twice place ${k}`);
  assert.equal(mirrorWcs(twinWcs).scale, wcs.scale);
});

test.run();
