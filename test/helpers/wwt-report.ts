/**
 * The problems WWT's own checker (`wwtdatatool wtml report` in wwt_data_formats) flags in a
 * per-image WTML file, re-stated from what that command checks: one Place with a foreground
 * ImageSet; Folder, Place and ImageSet with one Name; a Place Annotation that is JSON with
 * `channel`, `itemid` and a `publishedUTCISO8601` that Python's `datetime.fromisoformat`
 * reads and that carries a time zone; a Place Description; ImageSet Credits and CreditsUrl.
 * The document is read with a plain DOM, not toasty's own WTML reader.
 */
import { create } from 'xmlbuilder2';

interface El {
  nodeType: number;
  nodeName: string;
  textContent: string | null;
  childNodes: ArrayLike<El>;
  getAttribute(name: string): string | null;
}

const children = (n: El, name: string) => Array.from(n.childNodes).filter((c) => c.nodeType === 1 && c.nodeName === name);
const text = (n: El, name: string) => children(n, name)[0]?.textContent ?? '';

/**
 * What `datetime.fromisoformat` accepts on every Python 3 since 3.7 (3.11 accepts more): date,
 * `T` or one other character, time with 3 or 6 fraction digits, `+HH:MM` offset.
 */
const PY_ISO = /^\d{4}-\d{2}-\d{2}(.\d{2}(:\d{2}(:\d{2}(\.\d{3}|\.\d{6})?)?)?([+-]\d{2}:\d{2}(:\d{2}(\.\d{6})?)?)?)?$/;
const HAS_ZONE = /[+-]\d{2}:\d{2}(:\d{2}(\.\d{6})?)?$/;

/** The checker's complaints about `doc` (none for a file it passes). */
export function wwtReportProblems(doc: string): string[] {
  const problems: string[] = [];
  const folder = create(doc).root().node as unknown as El;
  const places = Array.from(folder.childNodes).filter((c) => c.nodeType === 1);
  if (places.length !== 1) problems.push(`expected exactly one item, found ${places.length}`);
  const place = places[0];
  if (place?.nodeName !== 'Place') return [...problems, 'the item must be a Place'];
  const imageSet = children(place, 'ForegroundImageSet').flatMap((f) => children(f, 'ImageSet'))[0];
  if (!imageSet) return [...problems, 'the Place has no ForegroundImageSet'];

  const [fName, pName, iName] = [folder, place, imageSet].map((n) => n.getAttribute('Name') ?? '');
  if (fName !== pName) problems.push(`name of folder (${fName}) and name of Place (${pName}) disagree`);
  if (fName !== iName) problems.push(`name of folder (${fName}) and name of ImageSet (${iName}) disagree`);

  let annotation: Record<string, unknown> = {};
  const raw = place.getAttribute('Annotation');
  if (!raw) problems.push('Place contains no Annotation metadata');
  else {
    try {
      annotation = JSON.parse(raw);
    } catch {
      problems.push(`Place annotation is not valid JSON: ${raw}`);
    }
  }
  if (annotation.channel == null) problems.push('Place Annotation has no channel name');
  if (annotation.itemid == null) problems.push('Place Annotation has no itemid');
  const published = annotation.publishedUTCISO8601;
  if (typeof published !== 'string' || !PY_ISO.test(published)) problems.push('Place Annotation has no valid publication date');
  else if (!HAS_ZONE.test(published)) problems.push('publication date has no time zone');

  if (!text(place, 'Description')) problems.push('Place has no Description');
  if (!text(imageSet, 'Credits')) problems.push('ImageSet has no credits');
  if (!text(imageSet, 'CreditsUrl')) problems.push('ImageSet has no CreditsUrl');
  return problems;
}
