/** `toasty check-avm`: which AVM tags an image carries, and whether they can place it on the sky. */
import { Command, Option } from 'clipanion';
import { ToastyCommand } from './options.js';
import { ASPECT_TOLERANCE, AVM_FRAME_SPATIAL, AVM_REQUIRED_SPATIAL, AVM_TEXT_TAGS, assessAvm, type AvmTags, type AvmValue } from '../wwt/avm.js';
import { EXIT_OK, EXIT_SOME_FAILED, exitCodeFor } from './exit.js';

/** Long texts (descriptions) are cut for the report: it is for vetting, not reading (--verbose: whole). */
const MAX_TEXT = 160;

function show(value: AvmValue | undefined, whole: boolean): string {
  if (value === undefined) return '(missing)';
  if (Array.isArray(value)) return value.map((v) => v || '(empty)').join(', ');
  const flat = value.replace(/\s+/g, ' ').trim();
  if (flat === '') return '(empty)';
  return flat.length > MAX_TEXT && !whole ? `${flat.slice(0, MAX_TEXT)}… (${flat.length} characters)` : flat;
}

function section(title: string, names: readonly string[], tags: AvmTags, whole: boolean): string[] {
  const width = Math.max(...names.map((n) => n.length)) + 2;
  return [title, ...names.map((n) => `  ${n.padEnd(width)}${show(tags.get(n), whole)}`)];
}

export class CheckAvmCommand extends ToastyCommand {
  static override paths = [['check-avm']];
  static override usage = Command.Usage({
    category: 'Studies',
    description: "Check an image's embedded AVM tags before tiling it with --avm",
    details: `
      Reads the XMP metadata of IMAGE (JPEG, PNG or TIFF; no pixels are decoded) and prints the
      AVM (Astronomy Visualization Metadata) tags it finds: the spatial ones that place the
      image on the sky (\`Spatial.ReferenceValue\`, \`ReferenceDimension\`, \`ReferencePixel\`,
      \`Scale\`, \`Rotation\`, \`CoordsystemProjection\`, with \`CoordinateFrame\` and \`Equinox\`)
      and the text ones a study takes its words from (\`Title\`, \`Credit\`, \`Description\`,
      \`ReferenceURL\`). Texts longer than ${MAX_TEXT} characters are cut; \`--verbose\` prints them whole.

      It then says whether the spatial tags are complete, whether the image's size matches
      \`Spatial.ReferenceDimension\` (aspect ratios within ${ASPECT_TOLERANCE * 100}%: a resized copy is fine, a crop
      is not), and whether \`toasty tile-study IMAGE OUTDIR --avm\` can place it.

      Exit status: 0 the AVM can place the image; 1 it cannot (no XMP, tags missing or
      unusable, size mismatch, or the image cannot be read); 2 bad usage.
    `,
    examples: [
      ['Check a press-release image', '$0 check-avm heic0506a.tif'],
      ['Check, then tile it where its AVM puts it', '$0 check-avm m51.jpg && $0 tile-study m51.jpg ./m51 --avm'],
    ],
  });

  image = Option.String({ name: 'IMAGE' });

  async execute(): Promise<number> {
    const log = this.makeLog();
    try {
      const { readImageAvm } = await import('../wwt/avm-image.js');
      // Header only: the pixel limit that guards decoding does not apply.
      const { image, tags } = await readImageAvm(this.image, { maxPixels: Number.POSITIVE_INFINITY });
      const out: string[] = [`${this.image}: ${image.format.toUpperCase()}, ${image.width} x ${image.height} pixels`];
      if (!tags) {
        out.push('no XMP metadata: the image carries no AVM tags', 'usable: no');
        this.context.stdout.write(`${out.join('\n')}\n`);
        return EXIT_SOME_FAILED;
      }
      // The tags toasty uses first, then any other Spatial tags found (Quality, Notes, ...).
      const known: string[] = [...AVM_FRAME_SPATIAL, ...AVM_REQUIRED_SPATIAL];
      const otherSpatial = [...tags.keys()].filter((k) => k.startsWith('Spatial.') && !known.includes(k)).sort();
      const a = assessAvm(tags, image.width, image.height);
      out.push('', ...section('AVM spatial tags', [...known, ...otherSpatial], tags, this.verbose));
      out.push('', ...section('AVM text tags', AVM_TEXT_TAGS, tags, this.verbose), '');
      out.push(a.missing.length ? `spatial tags: incomplete, missing ${a.missing.join(', ')}` : 'spatial tags: complete');
      if (a.size) {
        const { reference, aspectDifference, matches } = a.size;
        const verdict = matches ? `aspect ratios agree within ${ASPECT_TOLERANCE * 100}%` : `aspect ratios differ by more than ${ASPECT_TOLERANCE * 100}%`;
        out.push(
          `size: image ${image.width} x ${image.height}, Spatial.ReferenceDimension ${reference.join(' x ')}: ${verdict} (${(aspectDifference * 100).toFixed(3)}%)`,
        );
      } else {
        out.push('size: not checked (no usable Spatial.ReferenceDimension)');
      }
      for (const note of a.notes) out.push(`note: ${note}`);
      for (const problem of a.problems) out.push(`problem: ${problem}`);
      out.push(a.usable ? 'usable: yes (toasty tile-study IMAGE OUTDIR --avm places it)' : 'usable: no');
      this.context.stdout.write(`${out.join('\n')}\n`);
      return a.usable ? EXIT_OK : EXIT_SOME_FAILED;
    } catch (e) {
      return exitCodeFor(e, log);
    }
  }
}
