/**
 * The AVM embedded in an image file: its XMP read from the header (no pixels decoded) and
 * turned into a study source. Loads sharp, so the CLI imports it lazily.
 */
import { ToastyError } from '../util/errors.js';
import { avmStudyText, requireAvmWcs, type AvmTags } from './avm.js';
import { parseAvmXmp } from './avm-xmp.js';
import { openImage, type SourceImage } from './image.js';
import type { StudySource } from './study-wtml.js';

/** The image opened as the study writers open it, and its AVM tags (null: no XMP at all). */
export async function readImageAvm(file: string, opts: { maxPixels?: number } = {}): Promise<{ image: SourceImage; tags: AvmTags | null }> {
  const image = await openImage(file, opts);
  return { image, tags: image.xmp ? parseAvmXmp(image.xmp) : null };
}

/**
 * A study source from the image's own AVM: its Spatial tags place it (refused with an `avm`
 * error naming what is missing or wrong), its text tags describe it, `title` standing in for
 * a missing Title.
 */
export async function readAvmStudy(file: string, opts: { maxPixels?: number; title: string }): Promise<StudySource> {
  const { image, tags } = await readImageAvm(file, opts);
  if (!tags) throw new ToastyError('avm', 'the image has no XMP metadata, so no AVM tags to place it with', { field: 'Spatial.ReferenceValue' });
  return { wcs: requireAvmWcs(tags, image.width, image.height), text: avmStudyText(tags, opts.title) };
}
