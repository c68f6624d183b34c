// The Djangoplicity archive formats, parsed: the listing page's JavaScript literal (never
// evaluated), Python byte-string reprs, the Original resource, the Spatial numbers.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  cachedImageNameFor,
  decodeByteStrings,
  detailsUrl,
  listingPageUrl,
  notActionableReason,
  originalUrl,
  parseListingPage,
  spatialNumbers,
} from '../src/sources/djangoplicity.js';
import { parseJsLiteral } from '../src/sources/js-literal.js';

const settings = { baseUrl: 'https://esahubble.org/images/', channelName: 'esahubble', searchPageName: 'page' };

test('URLs of listing pages and details', () => {
  assert.is(listingPageUrl(settings, 3), 'https://esahubble.org/images/archive/search/page/3/?type=Observation');
  assert.is(detailsUrl(settings, 'heic2405a'), 'https://esahubble.org/images/heic2405a/api/json/');
});

test('the JavaScript literal: bare keys, both quotes, escapes, trailing commas; data only', () => {
  const v = parseJsLiteral(`[
    { id: 'heic2405a', title: 'Brown dwarf (artist\\u2019s concept)', width: 3000, ok: true, none: null,
      "quoted key": "it\\'s \\"x\\"", hex: '\\x41', nested: [1, -2.5e3, .5, ], },
  ];`);
  assert.equal(v, [
    {
      id: 'heic2405a',
      title: 'Brown dwarf (artist\u2019s concept)',
      width: 3000,
      ok: true,
      none: null,
      'quoted key': 'it\'s "x"',
      hex: 'A',
      nested: [1, -2500, 0.5],
    },
  ]);
  for (const bad of ["[alert('x')]", '[{id: foo}]', "[{id: 'x'} + 1]", "['unterminated]", '[{a: 1']) assert.throws(() => parseJsLiteral(bad), undefined, bad);
  assert.throws(() => parseJsLiteral(`${'['.repeat(1000)}${']'.repeat(1000)}`), /nested deeper/);
});

test('listing page: ids from the var images block, unsafe ones rejected alone, no block fails the page', () => {
  const html = `<html><head>\n<script>\nvar images = [\n{ id: 'heic2405a', title: 'A', url: '/images/heic2405a/' },\n{ id: '../etc', title: 'bad' },\n{ id: 'potw1234a' },\n];\n</script>`;
  const page = parseListingPage(html, 'http://x/archive/search/page/1/?type=Observation');
  assert.equal(page.ids, ['heic2405a', 'potw1234a']);
  assert.is(page.rejected.length, 1);
  assert.match(page.rejected[0].error.message, /unsafe image id "..\/etc"/);
  assert.throws(() => parseListingPage('<html>no images here</html>', 'http://x/p/2/'), /listing page http:\/\/x\/p\/2\/: no "var images = \[" block/);
  assert.throws(() => parseListingPage('<html>\nvar images = [\n{ id: boom() }\n];', 'http://x/p/3/'), /does not parse/);
});

test('Python byte-string reprs are decoded anywhere in the details, as UTF-8', () => {
  const d = decodeByteStrings({
    Title: "b'Brown dwarf (artist\\xe2\\x80\\x99s concept)'",
    Nested: { list: ["b'caf\\xc3\\xa9'", 'plain'] },
    Bad: "b'\\xff\\xfe'",
    NotBytes: "b'unterminated",
  }) as Record<string, unknown>;
  assert.is(d.Title, 'Brown dwarf (artist\u2019s concept)');
  assert.equal(d.Nested, { list: ['café', 'plain'] });
  assert.is(d.Bad, "b'\\xff\\xfe'", 'not UTF-8: kept as it is');
  assert.is(d.NotBytes, "b'unterminated");
});

test('details: actionable, the Original download, its cache name, the Spatial numbers', () => {
  const details = {
    Resources: [
      { ResourceType: 'Large', URL: 'https://cdn/large.jpg' },
      { ResourceType: 'Original', URL: 'https://cdn/archives/images/original/heic2405a.TIF' },
    ],
    Spatial: {
      CoordsystemProjection: 'TAN',
      ReferenceValue: ['10.5', -20],
      ReferenceDimension: [3000, '2000'],
      ReferencePixel: [1500.5, 1000.5],
      Scale: [-0.0001, ''],
      Rotation: '12.5',
    },
  };
  assert.is(notActionableReason(details), null);
  assert.match(notActionableReason({ Spatial: { CoordsystemProjection: null } }) ?? '', /no full WCS/);
  assert.match(notActionableReason({}) ?? '', /no full WCS/);
  assert.is(originalUrl(details), 'https://cdn/archives/images/original/heic2405a.TIF');
  assert.throws(() => originalUrl({ Resources: [{ ResourceType: 'Large', URL: 'x' }] }), /Resources has no "Original"/);
  assert.is(cachedImageNameFor('https://cdn/archives/images/original/heic2405a.TIF'), 'image.tif');
  assert.is(cachedImageNameFor('https://cdn/x/y.PNG?sig=1'), 'image.png');
  assert.equal(spatialNumbers(details), {
    referenceValue: [10.5, -20],
    referenceDimension: [3000, 2000],
    referencePixel: [1500.5, 1000.5],
    scale: [-0.0001, 0.0001],
    rotation: 12.5,
    projection: 'TAN',
  });
  assert.throws(() => spatialNumbers({ Spatial: { ...details.Spatial, ReferenceValue: ['ten', 0] } }), /Spatial.ReferenceValue\[0\] is not a number/);
});

test.run();
