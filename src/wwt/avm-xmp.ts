/**
 * AVM (Astronomy Visualization Metadata) tags out of an image's XMP packet.
 *
 * XMP is RDF/XML, so one property can be written several ways, and real files use all of
 * them: as an attribute of `rdf:Description`, as an element holding text, as an element
 * holding an `rdf:Seq` or `rdf:Bag` of `rdf:li` items (AVM's vectors, such as
 * `Spatial.Scale`), as an `rdf:Alt` of language alternatives (`dc:title`, `dc:description`:
 * the `x-default` one is taken, else the first), or as an `rdf:resource` reference (URLs).
 * A packet may also split its properties over several `rdf:Description` elements.
 *
 * The XML is read with @xmldom/xmldom, a strict namespace-aware parser: prefixes are resolved
 * to namespace URIs (files do not always use `avm:`), and a malformed packet is an error
 * rather than a silently partial result.
 */
import { DOMParser, type Element } from '@xmldom/xmldom';
import { ToastyError } from '../util/errors.js';
import type { AvmTags, AvmValue } from './avm.js';

const RDF = 'http://www.w3.org/1999/02/22-rdf-syntax-ns#';
const AVM = 'http://www.communicatingastronomy.org/avm/1.0/';
const DC = 'http://purl.org/dc/elements/1.1/';
const PHOTOSHOP = 'http://ns.adobe.com/photoshop/1.0/';
const XML = 'http://www.w3.org/XML/1998/namespace';

/** The AVM name of an XMP property, or null for properties toasty does not read. */
function avmName(namespace: string | null, localName: string | null): string | null {
  if (!localName) return null;
  if (namespace === AVM) return localName.startsWith('Spatial.') || localName === 'ReferenceURL' ? localName : null;
  if (namespace === DC) return localName === 'title' ? 'Title' : localName === 'description' ? 'Description' : null;
  if (namespace === PHOTOSHOP && localName === 'Credit') return 'Credit';
  return null;
}

function childElements(el: Element): Element[] {
  const out: Element[] = [];
  for (let n = el.firstChild; n; n = n.nextSibling) if (n.nodeType === n.ELEMENT_NODE) out.push(n as Element);
  return out;
}

/** The value of a property written as an element, or null when it is a structure toasty does not read. */
function elementValue(el: Element): AvmValue | null {
  const resource = el.getAttributeNS(RDF, 'resource');
  if (resource) return resource.trim();
  const kids = childElements(el);
  if (kids.length === 0) return (el.textContent ?? '').trim();
  const container = kids[0];
  if (kids.length !== 1 || container.namespaceURI !== RDF) return null;
  const items = childElements(container).filter((li) => li.namespaceURI === RDF && li.localName === 'li');
  if (container.localName === 'Seq' || container.localName === 'Bag') return items.map((li) => (li.textContent ?? '').trim());
  if (container.localName === 'Alt') {
    const chosen = items.find((li) => li.getAttributeNS(XML, 'lang') === 'x-default') ?? items[0];
    return chosen ? (chosen.textContent ?? '').trim() : null;
  }
  return null;
}

/** XMP text from its bytes: UTF-8 unless a byte-order mark says UTF-16. */
function xmpText(bytes: Uint8Array): string {
  const utf16 = bytes[0] === 0xfe && bytes[1] === 0xff ? 'utf-16be' : bytes[0] === 0xff && bytes[1] === 0xfe ? 'utf-16le' : null;
  return new TextDecoder(utf16 ?? 'utf-8').decode(bytes);
}

/**
 * The AVM tags of an XMP packet (text or bytes), by AVM name: `Spatial.*`, `Title`,
 * `Description`, `Credit` and `ReferenceURL`. Lists stay lists. Throws an `avm` ToastyError
 * when the packet is not well-formed XML.
 */
export function parseAvmXmp(xmp: string | Uint8Array): AvmTags {
  // Packets may carry a byte-order mark, and padding or NULs after the closing tag.
  const text = (typeof xmp === 'string' ? xmp : xmpText(xmp)).replace(/^\uFEFF/, '').replace(/[\s\0]+$/, '');
  let doc: ReturnType<DOMParser['parseFromString']>;
  try {
    doc = new DOMParser({
      onError: (level, message) => {
        if (level !== 'warning') throw new Error(message);
      },
    }).parseFromString(text, 'text/xml');
  } catch (e) {
    const reason = (e instanceof Error ? e.message : String(e)).split('\n')[0];
    throw new ToastyError('avm', `the image's XMP metadata is not well-formed XML: ${reason}`, { cause: e });
  }
  const tags = new Map<string, AvmValue>();
  const descriptions = doc.getElementsByTagNameNS(RDF, 'Description');
  for (let i = 0; i < descriptions.length; i++) {
    const d = descriptions[i];
    for (let a = 0; a < d.attributes.length; a++) {
      const attr = d.attributes[a];
      const name = avmName(attr.namespaceURI, attr.localName);
      if (name) tags.set(name, attr.value.trim());
    }
    for (const el of childElements(d)) {
      const name = avmName(el.namespaceURI, el.localName);
      const value = name && elementValue(el);
      if (name && value !== null) tags.set(name, value);
    }
  }
  return tags;
}
