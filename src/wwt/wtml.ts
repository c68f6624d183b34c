/**
 * WTML documents: a typed model of the Folder > Place > ForegroundImageSet > ImageSet tree the
 * pipeline writes, a writer and a reader, both on xmlbuilder2, and the URL absolutising that
 * turns `index_rel.wtml` into `index.wtml`.
 *
 * The same model serves a per-image file (one Place) and the root index (a Folder whose
 * children are the Places of many images).
 */
import { create } from 'xmlbuilder2';
import type { XMLBuilderCreateOptions } from 'xmlbuilder2/lib/interfaces.js';
import { ToastyError } from '../util/errors.js';
import { formatBool, formatFloat } from './floatfmt.js';

/** Known projections; readers map the legacy spelling `Tangent` to `Tan`. */
export type WtmlProjection = 'Tan' | 'SkyImage' | (string & {});

export interface WtmlImageSet {
  name: string;
  dataSetType: string; // 'Sky'
  bandPass: string; // 'Visible'
  projection: WtmlProjection;
  url: string;
  fileType: string; // '.png' | '.jpg'
  tileLevels: number;
  baseTileLevel: number;
  baseDegreesPerTile: number;
  widthFactor: number;
  bottomsUp: boolean;
  rotation: number;
  centerX: number; // degrees
  centerY: number;
  offsetX: number; // omitted from the XML when exactly 0
  offsetY: number;
  sparse: boolean;
  elevationModel: boolean;
  generic: boolean;
  stockSet: boolean;
  quadTreeMap: string; // written even when empty
  credits?: string;
  creditsUrl?: string;
  description?: string;
  thumbnailUrl: string; // element always written
  /** Attributes this model does not know (kept by the reader, written back by the writer). */
  extraAttributes?: Record<string, string>;
}

export interface WtmlPlace {
  name: string;
  dataSetType: string; // 'Sky'
  ra: number; // hours
  dec: number; // degrees
  zoomLevel: number;
  rotation: number;
  angle: number;
  angularSize: number;
  magnitude: number;
  opacity: number;
  thumbnail: string;
  /** IAU abbreviation in upper case (`SER1`/`SER2` for Serpens); '' when unknown; absent when not a sky place. */
  constellation?: string;
  /** Provenance as compact JSON (`channel`, `itemid`, `publishedUTCISO8601`); omitted when empty. */
  annotation?: string;
  /** Written as attribute `XLastUpdated` (the X-namespace extra field `LastUpdated`). */
  xLastUpdated?: string;
  /** Optional `<Description>` child, written before `<ForegroundImageSet>`. */
  description?: string;
  imageSet: WtmlImageSet;
  extraAttributes?: Record<string, string>;
}

export interface WtmlFolder {
  name: string;
  group: string; // 'Explorer'
  browseable: boolean;
  searchable: boolean;
  thumbnail?: string;
  url?: string;
  type?: string;
  children: WtmlPlace[];
  extraAttributes?: Record<string, string>;
}

/** A Folder as the pipeline always writes it: Group "Explorer", browseable and searchable. */
export function explorerFolder(name: string, children: WtmlPlace[] = [], thumbnail?: string): WtmlFolder {
  const folder: WtmlFolder = { name, group: 'Explorer', browseable: true, searchable: true, children };
  if (thumbnail) folder.thumbnail = thumbnail;
  return folder;
}

// ------------------------------------------------------------------------------------------
// Writing

type Attrs = Record<string, string>;

/**
 * xmlbuilder2's serializer escapes `< > "` but leaves any `&` that already starts an entity or
 * decimal character reference alone, and writes newline/tab/CR in attributes raw (which
 * conforming readers turn into spaces). So we escape `&` ourselves first — every `&` then
 * starts `&amp;` and passes through unchanged — and add character references for the
 * whitespace that must survive. The library still does the rest of the escaping and layout.
 */
const preEscapeAttr = (s: string) => s.replace(/&/g, '&amp;').replace(/\n/g, '&#10;').replace(/\r/g, '&#13;').replace(/\t/g, '&#09;');
const preEscapeText = (s: string) => s.replace(/&/g, '&amp;').replace(/\r/g, '&#13;');

// Characters XML 1.0 cannot carry at all (C0 controls other than tab/newline/CR, lone
// surrogates, U+FFFE/U+FFFF): dropped, as no reader could load the file otherwise.
// biome-ignore lint/suspicious/noControlCharactersInRegex: the characters XML forbids are what it removes
const INVALID_XML_CHARS = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;
const clean = (s: string) => s.replace(INVALID_XML_CHARS, '');

function finishAttrs(known: Attrs, extra: Record<string, string> | undefined): Attrs {
  const all: Attrs = { ...(extra ?? {}), ...known };
  const out: Attrs = {};
  // The reference writes attributes alphabetically; order is not significant to readers.
  for (const k of Object.keys(all).sort()) out[k] = preEscapeAttr(clean(all[k]));
  return out;
}

function folderAttrs(f: WtmlFolder): Attrs {
  const a: Attrs = {
    Browseable: formatBool(f.browseable),
    Group: f.group,
    Name: f.name,
    Searchable: formatBool(f.searchable),
  };
  if (f.thumbnail) a.Thumbnail = f.thumbnail;
  if (f.type) a.Type = f.type;
  if (f.url) a.Url = f.url;
  return finishAttrs(a, f.extraAttributes);
}

/**
 * A rotation as written: like formatFloat, but a zero is `0` even when the arithmetic left it
 * negative. The Python reference prints `-0` there (one vector shows it); `Rotation="-0"` reads
 * as a mistake to anyone checking a study, and every reader takes it as 0.
 */
function formatAngle(x: number): string {
  return formatFloat(x === 0 ? 0 : x);
}

function placeAttrs(p: WtmlPlace): Attrs {
  const a: Attrs = {
    Angle: formatFloat(p.angle),
    AngularSize: formatFloat(p.angularSize),
    DataSetType: p.dataSetType,
    Dec: formatFloat(p.dec),
    Magnitude: formatFloat(p.magnitude),
    Name: p.name,
    Opacity: formatFloat(p.opacity),
    RA: formatFloat(p.ra),
    Rotation: formatAngle(p.rotation),
    Thumbnail: p.thumbnail,
    ZoomLevel: formatFloat(p.zoomLevel),
  };
  if (p.constellation !== undefined) a.Constellation = p.constellation;
  if (p.annotation) a.Annotation = p.annotation;
  if (p.xLastUpdated !== undefined) a.XLastUpdated = p.xLastUpdated;
  return finishAttrs(a, p.extraAttributes);
}

function imageSetAttrs(s: WtmlImageSet): Attrs {
  const a: Attrs = {
    BandPass: s.bandPass,
    BaseDegreesPerTile: formatFloat(s.baseDegreesPerTile),
    BaseTileLevel: String(s.baseTileLevel),
    BottomsUp: formatBool(s.bottomsUp),
    CenterX: formatFloat(s.centerX),
    CenterY: formatFloat(s.centerY),
    DataSetType: s.dataSetType,
    ElevationModel: formatBool(s.elevationModel),
    FileType: s.fileType,
    Generic: formatBool(s.generic),
    Name: s.name,
    Projection: s.projection,
    QuadTreeMap: s.quadTreeMap,
    Rotation: formatAngle(s.rotation),
    Sparse: formatBool(s.sparse),
    StockSet: formatBool(s.stockSet),
    TileLevels: String(s.tileLevels),
    Url: s.url,
    WidthFactor: String(s.widthFactor),
  };
  // Readers default the offsets to 0, and the reference omits them then (-0 included).
  if (s.offsetX !== 0) a.OffsetX = formatFloat(s.offsetX);
  if (s.offsetY !== 0) a.OffsetY = formatFloat(s.offsetY);
  return finishAttrs(a, s.extraAttributes);
}

/** Serialise a folder as a WTML document: UTF-8, two-space indent, final newline. */
export function writeWtml(folder: WtmlFolder): string {
  const doc = create();
  const root = doc.ele('Folder', folderAttrs(folder));
  for (const p of folder.children) {
    const place = root.ele('Place', placeAttrs(p));
    if (p.description) place.ele('Description').txt(preEscapeText(clean(p.description)));
    const is = place.ele('ForegroundImageSet').ele('ImageSet', imageSetAttrs(p.imageSet));
    const s = p.imageSet;
    if (s.credits) is.ele('Credits').txt(preEscapeText(clean(s.credits)));
    if (s.creditsUrl) is.ele('CreditsUrl').txt(preEscapeText(clean(s.creditsUrl)));
    if (s.description) is.ele('Description').txt(preEscapeText(clean(s.description)));
    const thumb = is.ele('ThumbnailUrl');
    if (s.thumbnailUrl) thumb.txt(preEscapeText(clean(s.thumbnailUrl)));
  }
  const body = doc.end({ headless: true, prettyPrint: true, indent: '  ', newline: '\n' });
  // The declaration is spelled as the reference (Python ElementTree) writes it, single quotes.
  return `<?xml version='1.0' encoding='UTF-8'?>\n${body}\n`;
}

// ------------------------------------------------------------------------------------------
// Reading

/** Minimal view of the DOM nodes xmlbuilder2 produces (its own DOM implementation). */
interface DomNode {
  nodeType: number;
  nodeName: string;
  textContent: string | null;
  childNodes: ArrayLike<DomNode>;
  attributes?: ArrayLike<{ name: string; value: string }>;
}
const ELEMENT_NODE = 1;

const REF_RE = /&(?:(quot|amp|apos|lt|gt)|#x([0-9a-fA-F]+)|#([0-9]+));|&/g;
const NAMED: Record<string, string> = { quot: '"', amp: '&', apos: "'", lt: '<', gt: '>' };

/**
 * Decode entity and character references in one pass. (xmlbuilder2 decodes named entities
 * first and character references second, so `&amp;#10;` would wrongly become a newline.)
 * A bare `&` or an undeclared entity is malformed XML.
 */
function decodeReferences(text: string | null): string | null {
  if (text == null) return text;
  return text.replace(REF_RE, (match, name?: string, hex?: string, dec?: string) => {
    if (name) return NAMED[name];
    if (hex === undefined && dec === undefined) {
      throw new Error(`malformed XML: bare "&" or unknown entity near ${JSON.stringify(match)}`);
    }
    const cp = hex !== undefined ? parseInt(hex, 16) : parseInt(dec as string, 10);
    if (!(cp >= 1 && cp <= 0x10ffff)) throw new Error(`malformed XML: invalid character reference ${match}`);
    return String.fromCodePoint(cp);
  });
}

function decodeAttributeValue(text: string | null): string | null {
  if (text?.includes('<')) throw new Error('malformed XML: "<" in an attribute value');
  return decodeReferences(text);
}

// Only element-closing markup, comments or processing instructions may end a complete document.
const COMPLETE_END_RE = /(?:<\/\s*Folder\s*>|\/>)\s*(?:(?:<!--[\s\S]*?-->|<\?[\s\S]*?\?>)\s*)*$/;

function elementChildren(node: DomNode, name?: string): DomNode[] {
  const out: DomNode[] = [];
  for (let i = 0; i < node.childNodes.length; i++) {
    const c = node.childNodes[i];
    if (c.nodeType === ELEMENT_NODE && (name === undefined || c.nodeName === name)) out.push(c);
  }
  return out;
}

function attributesOf(node: DomNode): Map<string, string> {
  const m = new Map<string, string>();
  const list = node.attributes;
  if (list) for (let i = 0; i < list.length; i++) m.set(list[i].name, list[i].value);
  return m;
}

const DECIMAL_RE = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

/** Reads attributes off one element; whatever is not consumed becomes `extraAttributes`. */
class AttrReader {
  private readonly attrs: Map<string, string>;
  constructor(
    private readonly element: string,
    node: DomNode,
  ) {
    this.attrs = attributesOf(node);
  }
  private take(name: string): string | undefined {
    const v = this.attrs.get(name);
    this.attrs.delete(name);
    return v;
  }
  private fail(name: string, value: string, what: string): never {
    throw new ToastyError('wtml', `${this.element}/@${name} is not ${what}: ${JSON.stringify(value)}`, { field: name });
  }
  has(name: string): boolean {
    return this.attrs.has(name);
  }
  str(name: string, dflt = ''): string {
    return this.take(name) ?? dflt;
  }
  optStr(name: string): string | undefined {
    const v = this.take(name);
    return v === '' ? undefined : v;
  }
  num(name: string, dflt: number): number {
    const v = this.take(name);
    if (v === undefined || v.trim() === '') return dflt;
    const t = v.trim();
    if (!DECIMAL_RE.test(t)) this.fail(name, v, 'a number');
    return Number(t);
  }
  int(name: string, dflt: number): number {
    const n = this.num(name, dflt);
    if (!Number.isInteger(n)) this.fail(name, String(n), 'an integer');
    return n;
  }
  bool(name: string, dflt: boolean): boolean {
    const v = this.take(name);
    if (v === undefined || v.trim() === '') return dflt;
    const t = v.trim().toLowerCase();
    if (t !== 'true' && t !== 'false') this.fail(name, v, 'True or False');
    return t === 'true';
  }
  rest(): Record<string, string> | undefined {
    return this.attrs.size ? Object.fromEntries(this.attrs) : undefined;
  }
}

function childText(node: DomNode, name: string): string | undefined {
  const el = elementChildren(node, name)[0];
  if (!el) return undefined;
  return el.textContent ?? '';
}

function readImageSet(node: DomNode): WtmlImageSet {
  const r = new AttrReader('ImageSet', node);
  const projection = r.str('Projection', 'Tan');
  const s: WtmlImageSet = {
    name: r.str('Name'),
    dataSetType: r.str('DataSetType', 'Sky'),
    bandPass: r.str('BandPass', 'Visible'),
    projection: projection === 'Tangent' ? 'Tan' : projection,
    url: r.str('Url'),
    fileType: r.str('FileType', '.png'),
    tileLevels: r.int('TileLevels', 0),
    baseTileLevel: r.int('BaseTileLevel', 0),
    baseDegreesPerTile: r.num('BaseDegreesPerTile', 0),
    widthFactor: r.num('WidthFactor', 2),
    bottomsUp: r.bool('BottomsUp', false),
    rotation: r.num('Rotation', 0),
    centerX: r.num('CenterX', 0),
    centerY: r.num('CenterY', 0),
    offsetX: r.num('OffsetX', 0),
    offsetY: r.num('OffsetY', 0),
    sparse: r.bool('Sparse', true),
    elevationModel: r.bool('ElevationModel', false),
    generic: r.bool('Generic', false),
    stockSet: r.bool('StockSet', false),
    quadTreeMap: r.str('QuadTreeMap'),
    thumbnailUrl: childText(node, 'ThumbnailUrl') ?? '',
  };
  const credits = childText(node, 'Credits');
  const creditsUrl = childText(node, 'CreditsUrl');
  const description = childText(node, 'Description');
  if (credits) s.credits = credits;
  if (creditsUrl) s.creditsUrl = creditsUrl;
  if (description) s.description = description;
  const extra = r.rest();
  if (extra) s.extraAttributes = extra;
  return s;
}

function readPlace(node: DomNode): WtmlPlace {
  const r = new AttrReader('Place', node);
  const name = r.str('Name');
  const fg = elementChildren(node, 'ForegroundImageSet')[0];
  const isNode = fg && elementChildren(fg, 'ImageSet')[0];
  if (!isNode) {
    throw new ToastyError('wtml', `Place ${JSON.stringify(name)} has no ForegroundImageSet/ImageSet`, { field: 'ImageSet' });
  }
  const p: WtmlPlace = {
    name,
    dataSetType: r.str('DataSetType', 'Sky'),
    ra: r.num('RA', 0),
    dec: r.num('Dec', 0),
    zoomLevel: r.num('ZoomLevel', 0),
    rotation: r.num('Rotation', 0),
    angle: r.num('Angle', 0),
    angularSize: r.num('AngularSize', 0),
    magnitude: r.num('Magnitude', 0),
    opacity: r.num('Opacity', 100),
    thumbnail: r.str('Thumbnail'),
    imageSet: readImageSet(isNode),
  };
  // An empty Constellation (unknown) is kept apart from none at all.
  if (r.has('Constellation')) p.constellation = r.str('Constellation');
  const annotation = r.optStr('Annotation');
  if (annotation !== undefined) p.annotation = annotation;
  const x = r.optStr('XLastUpdated');
  if (x !== undefined) p.xLastUpdated = x;
  const description = childText(node, 'Description');
  if (description) p.description = description;
  const extra = r.rest();
  if (extra) p.extraAttributes = extra;
  return p;
}

export interface ParseWtmlOptions {
  /** Longest document accepted, in characters (default 64 Mi: a root index of many images). */
  maxLength?: number;
  /** Deepest element nesting accepted (default 32; the pipeline's WTML is 5 deep). */
  maxDepth?: number;
}

export const WTML_LIMITS = { maxLength: 64 * 2 ** 20, maxDepth: 32 } as const;

const isSpace = (c: number) => c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;

/**
 * One linear pass over the markup before the XML parser sees it, refusing what a hostile
 * document could use against the parser or its readers: nesting deeper than `maxDepth` (the
 * parser's time grows with the square of the depth, then its stack overflows), an attribute
 * given twice on one element (the parser keeps one silently: which one a reader sees would
 * depend on the reader), and a DOCTYPE (WTML has none; it is how entity expansion starts).
 * Anything else malformed is left for the parser to report.
 */
function checkMarkup(text: string, maxDepth: number): void {
  const n = text.length;
  let depth = 0;
  let i = 0;
  const skipTo = (from: number, end: string) => {
    const at = text.indexOf(end, from);
    return at < 0 ? n : at + end.length;
  };
  while (i < n) {
    const lt = text.indexOf('<', i);
    if (lt < 0) return;
    if (text.startsWith('<!--', lt)) i = skipTo(lt + 4, '-->');
    else if (text.startsWith('<![CDATA[', lt)) i = skipTo(lt + 9, ']]>');
    else if (text.startsWith('<?', lt)) i = skipTo(lt + 2, '?>');
    else if (text.startsWith('<!', lt)) throw new ToastyError('wtml', 'WTML must not contain a document type declaration (<!DOCTYPE ...>)');
    else if (text.charCodeAt(lt + 1) === 0x2f /* / */) {
      depth--;
      i = skipTo(lt + 2, '>');
    } else {
      let j = lt + 1;
      while (j < n && !isSpace(text.charCodeAt(j)) && text[j] !== '>' && text[j] !== '/') j++;
      const tag = text.slice(lt + 1, j);
      const seen = new Set<string>();
      for (;;) {
        while (j < n && isSpace(text.charCodeAt(j))) j++;
        if (j >= n) return;
        if (text[j] === '>') {
          if (++depth > maxDepth) throw new ToastyError('wtml', `WTML nests elements more than ${maxDepth} deep (at <${tag}>)`);
          j++;
          break;
        }
        if (text[j] === '/') {
          j++; // "/>": an empty element, no deeper
          if (text[j] === '>') j++;
          break;
        }
        const start = j;
        while (j < n && !isSpace(text.charCodeAt(j)) && text[j] !== '=' && text[j] !== '>' && text[j] !== '/') j++;
        const name = text.slice(start, j);
        if (name === '') {
          j++;
          continue;
        }
        if (seen.has(name)) throw new ToastyError('wtml', `<${tag}> has the attribute ${name} twice`, { field: name });
        seen.add(name);
        while (j < n && isSpace(text.charCodeAt(j))) j++;
        if (text[j] !== '=') continue;
        j++;
        while (j < n && isSpace(text.charCodeAt(j))) j++;
        const quote = text[j];
        if (quote === '"' || quote === "'") {
          const end = text.indexOf(quote, j + 1);
          if (end < 0) return;
          j = end + 1;
        } else {
          while (j < n && !isSpace(text.charCodeAt(j)) && text[j] !== '>') j++;
        }
      }
      i = j;
    }
  }
}

/**
 * Parse a WTML document (text or UTF-8 bytes) into the model. Only `Place` children of the
 * root Folder are kept (other child elements are ignored); unknown attributes are kept in
 * `extraAttributes`. Malformed XML, a non-Folder root, a document longer or deeper than the
 * limits, a repeated attribute or a DOCTYPE throws a `wtml` ToastyError.
 */
export function parseWtml(input: string | Uint8Array, opts: ParseWtmlOptions = {}): WtmlFolder {
  const maxLength = opts.maxLength ?? WTML_LIMITS.maxLength;
  if (input.length > maxLength * (typeof input === 'string' ? 1 : 4)) {
    throw new ToastyError('wtml', `WTML document is longer than ${maxLength} characters`);
  }
  let text: string;
  try {
    text = typeof input === 'string' ? input : new TextDecoder('utf-8', { fatal: true }).decode(input);
  } catch (e) {
    throw new ToastyError('wtml', 'WTML is not valid UTF-8', { cause: e });
  }
  if (text.length > maxLength) throw new ToastyError('wtml', `WTML document is longer than ${maxLength} characters`);
  text = text.replace(/^\uFEFF/, '');
  if (!text.trim()) throw new ToastyError('wtml', 'WTML document is empty');
  checkMarkup(text, opts.maxDepth ?? WTML_LIMITS.maxDepth);
  // xmlbuilder2 copies `parser` entries onto its reader: used to replace its reference decoding.
  const options = {
    skipWhitespaceOnlyText: false,
    parser: { _decodeText: decodeReferences, _decodeAttributeValue: decodeAttributeValue },
  } as unknown as XMLBuilderCreateOptions;
  let root: DomNode;
  try {
    const doc = create(options, text);
    root = doc.root().node as unknown as DomNode;
  } catch (e) {
    const msg = (e instanceof Error ? e.message : String(e)).replace(/\s*\n\s*/g, '; ');
    throw new ToastyError('wtml', `malformed WTML: ${msg}`, { cause: e });
  }
  if (root.nodeName !== 'Folder') {
    throw new ToastyError('wtml', `WTML root element is <${root.nodeName}>, expected <Folder>`);
  }
  // xmlbuilder2 does not check that every element is closed: catch truncated documents here.
  if (!COMPLETE_END_RE.test(text)) throw new ToastyError('wtml', 'malformed WTML: document is truncated (no closing </Folder>)');
  const r = new AttrReader('Folder', root);
  const folder: WtmlFolder = {
    name: r.str('Name'),
    group: r.str('Group', 'Explorer'),
    browseable: r.bool('Browseable', true),
    searchable: r.bool('Searchable', true),
    children: elementChildren(root, 'Place').map(readPlace),
  };
  const thumbnail = r.optStr('Thumbnail');
  const url = r.optStr('Url');
  const type = r.optStr('Type');
  if (thumbnail !== undefined) folder.thumbnail = thumbnail;
  if (url !== undefined) folder.url = url;
  if (type !== undefined) folder.type = type;
  const extra = r.rest();
  if (extra) folder.extraAttributes = extra;
  return folder;
}

// ------------------------------------------------------------------------------------------
// Attributes WWT defines

/**
 * The attributes the WWT engine reads on a Place and an ImageSet beyond the ones this model
 * names (from its Place and Imageset XML readers). Anything else found in a document is not
 * WTML: `wwtAttributesOnly` drops it before a Place is copied into another document.
 */
const WWT_EXTRA_ATTRIBUTES = {
  Place: new Set([
    'Annotation',
    'Classification',
    'Constellation',
    'Lat',
    'Lng',
    'MSRComponentId',
    'Permission',
    'Target',
    'TargetReferenceFrame',
    'Url',
    'ViewTarget',
  ]),
  ImageSet: new Set(['AltUrl', 'DemUrl', 'MeanRadius', 'ReferenceFrame']),
} as const;

function keepOnly(extra: Record<string, string> | undefined, allowed: ReadonlySet<string>): Record<string, string> | undefined {
  if (!extra) return undefined;
  const kept = Object.entries(extra).filter(([k]) => allowed.has(k));
  return kept.length ? Object.fromEntries(kept) : undefined;
}

/** A copy of `place` keeping only attributes WWT defines (unknown ones, like `onload`, dropped). */
export function wwtAttributesOnly(place: WtmlPlace): WtmlPlace {
  const { extraAttributes: placeExtra, imageSet, ...rest } = place;
  const { extraAttributes: setExtra, ...setRest } = imageSet;
  const out: WtmlPlace = { ...rest, imageSet: { ...setRest } };
  const p = keepOnly(placeExtra, WWT_EXTRA_ATTRIBUTES.Place);
  const s = keepOnly(setExtra, WWT_EXTRA_ATTRIBUTES.ImageSet);
  if (p) out.extraAttributes = p;
  if (s) out.imageSet.extraAttributes = s;
  return out;
}

// ------------------------------------------------------------------------------------------
// index_rel.wtml -> index.wtml: the study's relative URLs prefixed with where it is published

/** True for URLs with a scheme (`https:`, `data:`) or a host (`//cdn…`). */
function isAbsoluteUrl(url: string): boolean {
  return /^[A-Za-z][A-Za-z0-9+.-]*:/.test(url) || url.startsWith('//');
}

/**
 * Prefix a relative URL (`thumb.jpg` -> `{prefix}thumb.jpg`); empty and absolute URLs are
 * returned unchanged. Plain concatenation, as the 2020 pipeline did: it equals URL resolution
 * for the names the pipeline writes, and also works for protocol-relative prefixes.
 */
export function prefixUrl(url: string, prefix: string): string {
  if (!url || isAbsoluteUrl(url)) return url;
  return prefix + url;
}

/**
 * A copy of a per-image folder with exactly four URL fields prefixed, where relative: ImageSet
 * Url, CreditsUrl, ThumbnailUrl and Place Thumbnail. `prefix` is
 * `publish_url_prefix + id + "/"`.
 */
export function absolutizeStudyUrls(folder: WtmlFolder, prefix: string): WtmlFolder {
  return {
    ...folder,
    children: folder.children.map((p) => {
      const s = p.imageSet;
      const imageSet: WtmlImageSet = {
        ...s,
        url: prefixUrl(s.url, prefix),
        thumbnailUrl: prefixUrl(s.thumbnailUrl, prefix),
      };
      if (s.creditsUrl !== undefined) imageSet.creditsUrl = prefixUrl(s.creditsUrl, prefix);
      return { ...p, thumbnail: prefixUrl(p.thumbnail, prefix), imageSet };
    }),
  };
}
