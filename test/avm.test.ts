// AVM inside images: the XMP forms real files use, what makes a packet usable, `toasty
// check-avm`, and `toasty tile-study --avm` placing a study exactly as the AstroPix record with
// the same numbers does. Every tagged image is made here with sharp's XMP support.
import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { assessAvm, avmStudyText } from '../src/wwt/avm.js';
import { parseAvmXmp } from '../src/wwt/avm-xmp.js';
import { parseWtml, type WtmlPlace } from '../src/wwt/wtml.js';
import { TESTDATA, runToasty } from './helpers/pipeline-fixture.js';
import { expectToastyError } from './helpers/vectors.js';

const NS = {
  rdf: 'http://www.w3.org/1999/02/22-rdf-syntax-ns#',
  avm: 'http://www.communicatingastronomy.org/avm/1.0/',
  dc: 'http://purl.org/dc/elements/1.1/',
  photoshop: 'http://ns.adobe.com/photoshop/1.0/',
};

/** An XMP packet around `descriptions` (rdf:Description elements), avm/dc/photoshop declared on the root. */
function packet(descriptions: string): string {
  return [
    '<?xpacket begin="\uFEFF" id="W5M0MpCehiHzreSzNTczkc9d"?>',
    `<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="${NS.rdf}" xmlns:avm="${NS.avm}" xmlns:dc="${NS.dc}" xmlns:photoshop="${NS.photoshop}">`,
    descriptions,
    '</rdf:RDF></x:xmpmeta>',
    `${' '.repeat(200)}\n<?xpacket end="w"?>`,
  ].join('\n');
}

const list = (kind: 'Seq' | 'Bag', items: Array<string | number>) => `<rdf:${kind}>${items.map((i) => `<rdf:li>${i}</rdf:li>`).join('')}</rdf:${kind}>`;
const xmlEscape = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/"/g, '&quot;');
const alt = (text: string) => `<rdf:Alt><rdf:li xml:lang="x-default">${xmlEscape(text)}</rdf:li></rdf:Alt>`;

/** The numbers of a study, as both an AVM packet and an AstroPix record carry them. */
interface Numbers {
  value: [string, string];
  dimension: [string, string];
  pixel: [string, string];
  scale: [string, string];
  rotation: string;
}

/**
 * A complete packet for `n`, in the forms real files mix: scalars as attributes, vectors as
 * `kind` lists, title and description as language alternatives; `omit` leaves tags out.
 */
function avmPacket(n: Numbers, kind: 'Seq' | 'Bag', text: { title: string; credit: string; description: string; url: string }, omit: string[] = []): string {
  const attrs: Record<string, string> = {
    'avm:Spatial.CoordinateFrame': 'ICRS',
    'avm:Spatial.Equinox': 'J2000',
    'avm:Spatial.CoordsystemProjection': 'TAN',
    'avm:Spatial.Rotation': n.rotation,
    'photoshop:Credit': text.credit,
  };
  const elements: Record<string, string> = {
    'avm:Spatial.ReferenceValue': list(kind, n.value),
    'avm:Spatial.ReferenceDimension': list(kind, n.dimension),
    'avm:Spatial.ReferencePixel': list(kind, n.pixel),
    'avm:Spatial.Scale': list(kind, n.scale),
    'dc:title': alt(text.title),
    'dc:description': alt(text.description),
    'avm:ReferenceURL': xmlEscape(text.url),
  };
  const keep = (k: string) => !omit.includes(k.replace(/^\w+:/, ''));
  const attrText = Object.entries(attrs)
    .filter(([k]) => keep(k))
    .map(([k, v]) => ` ${k}="${xmlEscape(v)}"`)
    .join('');
  const body = Object.entries(elements)
    .filter(([k]) => keep(k))
    .map(([k, v]) => `<${k}>${v}</${k}>`)
    .join('\n');
  // Two rdf:Description elements, as Adobe tools write them.
  return packet(`<rdf:Description rdf:about=""${attrText}/>\n<rdf:Description rdf:about="">${body}</rdf:Description>`);
}

const TEXT = {
  title: 'Barred spiral & friends',
  credit: 'Observatory/Team',
  description: 'A galaxy <b>with</b> a bar.',
  url: 'https://example.org/images/bar1/',
};

/** The AstroPix record carrying the same numbers and text. */
function recordFor(n: Numbers): Record<string, unknown> {
  return {
    title: TEXT.title,
    description: TEXT.description,
    image_credit: TEXT.credit,
    reference_url: TEXT.url,
    publisher_id: 'test',
    image_id: 'bar1',
    last_updated: '2024-01-02T03:04:05',
    wcs_reference_value: n.value,
    wcs_reference_dimension: n.dimension,
    wcs_reference_pixel: n.pixel,
    wcs_scale: n.scale,
    wcs_rotation: n.rotation,
    wcs_projection: 'TAN',
  };
}

async function tmpdir(): Promise<string> {
  return fsp.mkdtemp(path.join(os.tmpdir(), 'toasty-avm-'));
}

const exists = (p: string) =>
  fsp.access(p).then(
    () => true,
    () => false,
  );

// ---------------------------------------------------------------------------- XMP forms

test('parseAvmXmp: attributes, text elements, Seq, Bag, Alt, rdf:resource, split descriptions, any prefix', () => {
  const xmp = packet(`
    <rdf:Description rdf:about="" avm:Spatial.Rotation=" 12.5 " avm:Spatial.CoordinateFrame="ICRS" avm:ID="ignored"/>
    <rdf:Description rdf:about="" xmlns:a="${NS.avm}">
      <a:Spatial.Scale>${list('Seq', ['-1e-05', ' 1e-05 '])}</a:Spatial.Scale>
      <avm:Spatial.ReferenceDimension>${list('Bag', [4000, 3000])}</avm:Spatial.ReferenceDimension>
      <avm:Spatial.CoordsystemProjection>TAN</avm:Spatial.CoordsystemProjection>
      <dc:title><rdf:Alt><rdf:li xml:lang="fr">Galaxie</rdf:li><rdf:li xml:lang="x-default">Galaxy &amp; star</rdf:li></rdf:Alt></dc:title>
      <dc:description><rdf:Alt><rdf:li xml:lang="en">Only one &lt;language&gt;</rdf:li></rdf:Alt></dc:description>
      <avm:ReferenceURL rdf:resource="https://example.org/x"/>
      <photoshop:Credit>Someone</photoshop:Credit>
      <dc:subject>${list('Bag', ['not AVM'])}</dc:subject>
    </rdf:Description>`);
  const tags = parseAvmXmp(xmp);
  assert.equal(Object.fromEntries(tags), {
    'Spatial.Rotation': '12.5',
    'Spatial.CoordinateFrame': 'ICRS',
    'Spatial.Scale': ['-1e-05', '1e-05'],
    'Spatial.ReferenceDimension': ['4000', '3000'],
    'Spatial.CoordsystemProjection': 'TAN',
    Title: 'Galaxy & star',
    Description: 'Only one <language>',
    ReferenceURL: 'https://example.org/x',
    Credit: 'Someone',
  });
  // The same from bytes, and from UTF-16 bytes with a byte-order mark.
  assert.equal(parseAvmXmp(new TextEncoder().encode(xmp)), tags);
  const utf16 = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(xmp.replace(/^\uFEFF/, ''), 'utf16le')]);
  assert.equal(parseAvmXmp(utf16), tags);
});

test('parseAvmXmp: a malformed packet is an avm error, not a partial result', () => {
  const good = avmPacket({ value: ['1', '2'], dimension: ['3', '4'], pixel: ['5', '6'], scale: ['-1', '1'], rotation: '0' }, 'Seq', TEXT);
  for (const [label, bad] of Object.entries({
    truncated: good.slice(0, good.indexOf('</rdf:RDF>')),
    mismatched: good.replace('</rdf:Description>', '</rdf:Descr>'),
    unboundPrefix: good.replace('<avm:ReferenceURL>', '<zz:ReferenceURL>').replace('</avm:ReferenceURL>', '</zz:ReferenceURL>'),
    notXml: 'Adobe XMP? no',
  })) {
    const e = expectToastyError(() => parseAvmXmp(bad), label);
    assert.is(e.code, 'avm', label);
    assert.match(e.message, /not well-formed XML/, label);
  }
});

// ---------------------------------------------------------------------------- assessment

const N253: Numbers = {
  value: ['11.90173565000', '-25.27973380000'],
  dimension: ['2166', '2129'],
  pixel: ['200.59172788653', '1677.77877752461'],
  scale: ['-0.00001387416', '0.00001387416'],
  rotation: '-0.07746135478',
};

test('assessAvm: what is missing, what is wrong, and the size check', () => {
  const full = parseAvmXmp(avmPacket(N253, 'Seq', TEXT));
  const ok = assessAvm(full, 2166, 2129);
  assert.ok(ok.usable);
  assert.equal(ok.missing, []);
  assert.equal(ok.wcs, {
    referenceValue: [11.90173565, -25.2797338],
    referenceDimension: [2166, 2129],
    referencePixel: [200.59172788653, 1677.77877752461],
    scale: [-0.00001387416, 0.00001387416],
    rotation: -0.07746135478,
    projection: 'TAN',
  });
  // A downsampled copy (aspect kept within 0.5%) is usable: the WCS is rescaled.
  assert.ok(assessAvm(full, 1083, 1065).usable);

  const partial = assessAvm(parseAvmXmp(avmPacket(N253, 'Seq', TEXT, ['Spatial.Rotation', 'Spatial.Scale'])), 2166, 2129);
  assert.not.ok(partial.usable);
  assert.equal(partial.missing, ['Spatial.Scale', 'Spatial.Rotation']);
  assert.is(partial.wcs, null);

  const mismatch = assessAvm(full, 2166, 2000);
  assert.not.ok(mismatch.usable);
  assert.is(mismatch.size?.matches, false);
  assert.match(mismatch.problems.join('\n'), /2166 x 2000 .* 2166 x 2129: aspect ratios differ by 6\.\d\d%/);

  const tags = (over: Record<string, string | string[]>) => new Map([...full, ...Object.entries(over)]);
  const problemOf = (over: Record<string, string | string[]>) => assessAvm(tags(over), 2166, 2129).problems.join('\n');
  assert.match(problemOf({ 'Spatial.CoordsystemProjection': 'SIN' }), /CoordsystemProjection is SIN: WWT studies need TAN/);
  assert.match(problemOf({ 'Spatial.CoordinateFrame': 'GAL' }), /CoordinateFrame is GAL/);
  assert.match(problemOf({ 'Spatial.CoordinateFrame': 'FK5', 'Spatial.Equinox': 'B1950' }), /Equinox is B1950/);
  assert.is(problemOf({ 'Spatial.CoordinateFrame': 'fk5', 'Spatial.Equinox': '2000.0' }), '');
  assert.match(problemOf({ 'Spatial.ReferencePixel': ['1', '2', '3'] }), /ReferencePixel must hold 2 numbers, found 3/);
  assert.match(problemOf({ 'Spatial.ReferenceValue': ['12h', '-25'] }), /ReferenceValue is not a number: "12h"/);
  assert.match(problemOf({ 'Spatial.Rotation': ['1', '2'] }), /Rotation is not a number/);
  // No frame: ICRS assumed, and said so. One scale: square pixels (|first|).
  const bare = new Map(full);
  bare.delete('Spatial.CoordinateFrame');
  bare.set('Spatial.Scale', ['-0.00001387416']);
  const b = assessAvm(bare, 2166, 2129);
  assert.ok(b.usable);
  assert.equal(b.notes, ['no Spatial.CoordinateFrame: taken as ICRS']);
  assert.equal(b.wcs?.scale, [-0.00001387416, 0.00001387416]);

  assert.equal(avmStudyText(full, 'file'), { title: TEXT.title, description: TEXT.description, credits: TEXT.credit, creditsUrl: TEXT.url });
  assert.equal(avmStudyText(new Map(), 'file'), { title: 'file' });
});

// ---------------------------------------------------------------------------- the commands

/** A W x H image with a gradient (so tiles differ), written in `format` with `xmp` embedded. */
async function taggedImage(file: string, width: number, height: number, format: 'jpeg' | 'png' | 'tiff', xmp?: string): Promise<string> {
  const px = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) px.set([x % 256, y % 256, (x + 2 * y) % 256], (y * width + x) * 3);
  let img = sharp(px, { raw: { width, height, channels: 3 } });
  if (xmp) img = img.withXmp(xmp);
  await img[format]().toFile(file);
  return file;
}

test('toasty check-avm: JPEG with Seq lists, PNG with Bag lists, TIFF; missing tags, size mismatch, no XMP', async () => {
  const dir = await tmpdir();
  try {
    const n = { ...N253, dimension: ['600', '400'] as [string, string], pixel: ['300.5', '200.5'] as [string, string] };
    const cases: Array<['jpeg' | 'png' | 'tiff', 'Seq' | 'Bag']> = [
      ['jpeg', 'Seq'],
      ['png', 'Bag'],
      ['tiff', 'Seq'],
    ];
    for (const [format, kind] of cases) {
      const file = await taggedImage(path.join(dir, `ok.${format}`), 600, 400, format, avmPacket(n, kind, TEXT));
      const r = await runToasty(['check-avm', file]);
      assert.is(r.code, 0, `${format}: ${r.stdout}${r.stderr}`);
      assert.match(r.stdout, /Spatial\.ReferenceValue\s+11\.90173565000, -25\.27973380000\n/, format);
      assert.match(r.stdout, /Spatial\.ReferenceDimension\s+600, 400\n/);
      assert.match(r.stdout, /Title\s+Barred spiral & friends\n/);
      assert.match(r.stdout, /ReferenceURL\s+https:\/\/example\.org\/images\/bar1\/\n/);
      assert.match(r.stdout, /spatial tags: complete\n/);
      assert.match(r.stdout, /aspect ratios agree within 0\.5%/);
      assert.match(r.stdout, /usable: yes/);
    }

    const partial = await taggedImage(
      path.join(dir, 'partial.jpg'),
      600,
      400,
      'jpeg',
      avmPacket(n, 'Seq', TEXT, ['Spatial.ReferencePixel', 'Spatial.Rotation']),
    );
    let r = await runToasty(['check-avm', partial]);
    assert.is(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stdout, /Spatial\.ReferencePixel\s+\(missing\)/);
    assert.match(r.stdout, /spatial tags: incomplete, missing Spatial\.ReferencePixel, Spatial\.Rotation\n/);
    assert.match(r.stdout, /usable: no/);

    const cropped = await taggedImage(path.join(dir, 'cropped.png'), 600, 300, 'png', avmPacket(n, 'Bag', TEXT));
    r = await runToasty(['check-avm', cropped]);
    assert.is(r.code, 1);
    assert.match(r.stdout, /spatial tags: complete\n/);
    assert.match(r.stdout, /size: image 600 x 300, Spatial\.ReferenceDimension 600 x 400: aspect ratios differ by more than 0\.5% \(33\.333%\)/);
    assert.match(r.stdout, /usable: no/);

    const plain = await taggedImage(path.join(dir, 'plain.jpg'), 60, 40, 'jpeg');
    r = await runToasty(['check-avm', plain]);
    assert.is(r.code, 1);
    assert.match(r.stdout, /no XMP metadata/);

    r = await runToasty(['check-avm', path.join(dir, 'nothing-here.jpg')]);
    assert.is(r.code, 1);
    assert.match(r.stderr, /cannot read image file/);
    r = await runToasty(['check-avm']);
    assert.is(r.code, 2);

    // The repository's own example images carry real observatories' AVM.
    for (const name of ['NGC253ALMA.jpg', 'geminiann11015a.jpg']) {
      r = await runToasty(['check-avm', path.join(TESTDATA, name)]);
      assert.is(r.code, 0, `${name}: ${r.stdout}`);
    }
  } finally {
    await fsp.rm(dir, { recursive: true, force: true });
  }
});

const NUMERIC_PLACE = ['ra', 'dec', 'zoomLevel', 'rotation'] as const;
const NUMERIC_IMAGESET = ['baseDegreesPerTile', 'offsetX', 'offsetY', 'centerX', 'centerY', 'rotation', 'tileLevels'] as const;

/** Place and ImageSet numbers and placement flags of a study's WTML. */
function placementOf(p: WtmlPlace) {
  const s = p.imageSet;
  return {
    place: NUMERIC_PLACE.map((k) => p[k]),
    imageSet: NUMERIC_IMAGESET.map((k) => s[k]),
    kind: [s.projection, s.bottomsUp, s.url, p.constellation],
  };
}

async function studyDigests(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const name of (await fsp.readdir(dir)).filter((n) => n !== 'index_rel.wtml').sort()) {
    out[name] = createHash('sha256')
      .update(await fsp.readFile(path.join(dir, name)))
      .digest('hex');
  }
  return out;
}

test('tile-study --avm places a study exactly as the AstroPix record with the same numbers (tiled, flopped, rescaled, untiled)', async () => {
  const dir = await tmpdir();
  try {
    const cases: Array<{ label: string; w: number; h: number; n: Numbers; format: 'jpeg' | 'png' | 'tiff'; kind: 'Seq' | 'Bag' }> = [
      // Tiled (wider than 2048), positive parity: both must flop the pixels and use the mirror twin.
      {
        label: 'tiled positive parity',
        w: 2100,
        h: 300,
        n: { value: ['83.8221', '-5.3911'], dimension: ['2100', '300'], pixel: ['1050.5', '150.5'], scale: ['0.0001', '0.0001'], rotation: '12' },
        format: 'png',
        kind: 'Bag',
      },
      // Untiled, a copy at a third of the size the numbers refer to: both rescale per axis.
      {
        label: 'untiled downsampled',
        w: 700,
        h: 400,
        n: {
          value: ['349.049780614', '-42.5874939584'],
          dimension: ['2100', '1200'],
          pixel: ['1000.25', '650.75'],
          scale: ['-9.7399503428e-06', '9.7399503428e-06'],
          rotation: '138.99999999999986',
        },
        format: 'jpeg',
        kind: 'Seq',
      },
    ];
    for (const c of cases) {
      const image = await taggedImage(path.join(dir, `${c.label.replace(/ /g, '-')}.${c.format}`), c.w, c.h, c.format, avmPacket(c.n, c.kind, TEXT));
      const rec = path.join(dir, 'record.json');
      await fsp.writeFile(rec, JSON.stringify(recordFor(c.n)));
      const fromAvm = path.join(dir, `${c.label} avm`);
      const fromRecord = path.join(dir, `${c.label} record`);
      let r = await runToasty(['tile-study', image, fromAvm, '--avm']);
      assert.is(r.code, 0, r.stderr);
      r = await runToasty(['tile-study', image, fromRecord, '--astropix-json', rec]);
      assert.is(r.code, 0, r.stderr);

      const a = parseWtml(await fsp.readFile(path.join(fromAvm, 'index_rel.wtml'), 'utf8'));
      const b = parseWtml(await fsp.readFile(path.join(fromRecord, 'index_rel.wtml'), 'utf8'));
      // The same numbers through the same math: equal to the last bit.
      assert.equal(placementOf(a.children[0]), placementOf(b.children[0]), c.label);
      assert.equal(await studyDigests(fromAvm), await studyDigests(fromRecord), `${c.label}: same pixels`);

      // The AVM text tags become the study's words.
      const p = a.children[0];
      assert.equal([a.name, p.name, p.imageSet.name], [TEXT.title, TEXT.title, TEXT.title]);
      assert.is(p.description, TEXT.description);
      assert.is(p.imageSet.credits, TEXT.credit);
      assert.is(p.imageSet.creditsUrl, TEXT.url);
    }
  } finally {
    await fsp.rm(dir, { recursive: true, force: true });
  }
});

test('tile-study --avm refuses an image its AVM cannot place: exit 1 naming the tags, nothing written', async () => {
  const dir = await tmpdir();
  try {
    const n = { ...N253, dimension: ['600', '400'] as [string, string] };
    const refusals: Array<[string, string | undefined, RegExp]> = [
      ['missing.jpg', avmPacket(n, 'Seq', TEXT, ['Spatial.Scale', 'Spatial.CoordsystemProjection']), /missing Spatial\.Scale, Spatial\.CoordsystemProjection/],
      ['galactic.png', avmPacket(n, 'Bag', TEXT).replace('"ICRS"', '"GAL"'), /Spatial\.CoordinateFrame is GAL/],
      ['plain.jpg', undefined, /no XMP metadata/],
    ];
    for (const [name, xmp, reason] of refusals) {
      const image = await taggedImage(path.join(dir, name), 600, 400, name.endsWith('.png') ? 'png' : 'jpeg', xmp);
      const out = path.join(dir, `out-${name}`);
      const r = await runToasty(['tile-study', image, out, '--avm']);
      assert.is(r.code, 1, `${name}: ${r.stderr}`);
      assert.match(r.stderr, reason, name);
      assert.not.ok(await exists(out), `${name}: no study written`);
    }
    // A cropped copy: the size no longer matches the AVM.
    const cropped = await taggedImage(path.join(dir, 'cropped.jpg'), 600, 380, 'jpeg', avmPacket(n, 'Seq', TEXT));
    let r = await runToasty(['tile-study', cropped, path.join(dir, 'out-cropped'), '--avm']);
    assert.is(r.code, 1);
    assert.match(r.stderr, /aspect ratios differ by 5\.\d\d%/);
    // --avm and --astropix-json contradict each other: a usage error.
    r = await runToasty(['tile-study', cropped, path.join(dir, 'out-both'), '--avm', '--astropix-json', 'x.json']);
    assert.is(r.code, 2);
    assert.match(r.stderr, /either --avm or --astropix-json/);
  } finally {
    await fsp.rm(dir, { recursive: true, force: true });
  }
});

test.run();
