/** `toasty tile-study`: one image -> a study folder, with or without an AstroPix record. */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { Command, Option } from 'clipanion';
import { ToastyCommand } from './options.js';
import { writeFileAtomic } from '../util/fs.js';
import { ToastyError } from '../util/errors.js';
import { type AstroPixRecord, astropixStudy } from '../sources/astropix-record.js';
import { uniqueId } from '../sources/ids.js';
import { INDEX_REL_WTML, THUMBNAIL_NAME, UNTILED_IMAGE_NAME, tileFileName } from '../wwt/study-files.js';
import { exitCodeFor } from './exit.js';
import { STUDY_MARKER, openStudyOutdir } from './study-outdir.js';

export class TileStudyCommand extends ToastyCommand {
  static override paths = [['tile-study']];
  static override usage = Command.Usage({
    category: 'Studies',
    description: 'Tile one image into a WWT study folder',
    details: `
      Writes OUTDIR with the study: 256x256 PNG tiles named by level, column and row (\`${tileFileName(4, 3, 12)}\`
      is level 4, column 3, row 12), or \`${UNTILED_IMAGE_NAME}\` for images up to 2048 px on both sides;
      \`${THUMBNAIL_NAME}\` and \`${INDEX_REL_WTML}\`. With an AstroPix record
      (a JSON object as served in an AstroPix feed) the study is placed on the sky from its WCS;
      with \`--avm\` from the AVM tags embedded in the image (check them first with
      \`toasty check-avm\`); with neither it is written "untethered" (no sky position).
      Accepts JPEG, PNG and TIFF.
      OUTDIR must be new or empty; the study appears there only once it is complete. toasty marks
      each study folder with a \`${STUDY_MARKER}\` file listing the files it wrote: \`--force\`
      replaces such a previous study, and only when the folder holds nothing else. Any other
      non-empty OUTDIR, or one holding the input image, is refused (exit status 2): toasty never
      deletes what it did not write.
    `,
    examples: [
      ['Tile an image placed by its AstroPix record', '$0 tile-study image.jpg ./out --astropix-json record.json'],
      ['Tile an image placed by its own AVM tags', '$0 tile-study release.tif ./out --avm'],
      ['Tile an image without sky position', '$0 tile-study big.tif ./out --name "My mosaic"'],
    ],
  });

  image = Option.String({ name: 'IMAGE' });
  outdir = Option.String({ name: 'OUTDIR' });
  astropixJson = Option.String('--astropix-json', { description: 'AstroPix record (JSON) giving the WCS and metadata' });
  avm = Option.Boolean('--avm', false, {
    description: "Place the study from the image's embedded AVM tags (Spatial.*; Title, Credit, Description, ReferenceURL as text)",
  });
  name = Option.String('--name', { description: 'Name of the study (default: the record or AVM title, else the image file name)' });
  force = Option.Boolean('--force', false, { description: `Replace a previous study in OUTDIR (a folder holding only the files its ${STUDY_MARKER} lists)` });
  maxPixels = Option.String('--max-pixels', { description: 'Refuse images with more pixels than this (default 1e9)' });

  async execute(): Promise<number> {
    const log = this.makeLog();
    const t0 = performance.now();
    try {
      let record: AstroPixRecord | null = null;
      if (this.avm && this.astropixJson) throw new ToastyError('usage', 'give either --avm or --astropix-json, not both');
      if (this.astropixJson) {
        let parsed: unknown;
        try {
          parsed = JSON.parse(await fsp.readFile(this.astropixJson, 'utf8'));
        } catch (e) {
          throw new ToastyError('usage', `--astropix-json ${this.astropixJson}: ${(e as Error).message}`, { field: 'astropix-json' });
        }
        if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) {
          throw new ToastyError('usage', `--astropix-json ${this.astropixJson} must hold one JSON object (an AstroPix record)`);
        }
        record = parsed as AstroPixRecord;
      }
      const maxPixels = this.maxPixels ? Number(this.maxPixels) : undefined;
      if (maxPixels !== undefined && !(maxPixels > 0)) throw new ToastyError('usage', '--max-pixels must be a positive number');
      // Loaded here, not at start-up: every other command starts faster without sharp and the
      // WTML writer.
      const [{ writeStudyPixels }, { studyWtml }, { readAvmStudy }] = await Promise.all([
        import('../wwt/study-pixels.js'),
        import('../wwt/study-wtml.js'),
        import('../wwt/avm-image.js'),
      ]);
      const fileName = path.parse(this.image).name;
      // Checked before any tiling: an image its metadata cannot place costs nothing.
      let study = record ? astropixStudy(record) : this.avm ? await readAvmStudy(this.image, { maxPixels, title: fileName }) : null;
      if (study && this.name) study = { ...study, text: { ...study.text, title: this.name } };
      const out = await openStudyOutdir(this.outdir, this.image, { force: this.force });
      const tmp = out.dir;
      try {
        const pixels = await writeStudyPixels(this.image, tmp, { wcs: study?.wcs, maxPixels, log });
        const id = record ? safeId(record) : fileName;
        const { indexRel } = studyWtml({ uniqueId: id, study, shape: pixels, name: this.name ?? fileName });
        await writeFileAtomic(path.join(tmp, INDEX_REL_WTML), indexRel);
        await out.commit();
        // The level count as the WTML says it (TileLevels = the deepest level; levels 0..n).
        const tiles = Object.keys(pixels.files).filter((n) => n !== THUMBNAIL_NAME).length;
        const what = pixels.tiled ? `TileLevels ${pixels.tileLevels} (levels 0-${pixels.tileLevels}), ${tiles} tiles` : `untiled ${UNTILED_IMAGE_NAME}`;
        const where = study ? (pixels.flipX ? ' (flopped: positive-parity WCS)' : '') : ' (untethered: no sky position; --astropix-json or --avm places it)';
        log.info(`${this.image}: ${pixels.width}x${pixels.height}, ${what}${where} -> ${out.path}`);
        log.debug(`${Object.keys(pixels.files).length + 1} files written in ${Math.round(performance.now() - t0)} ms`);
        return 0;
      } catch (e) {
        await out.abort();
        throw e;
      }
    } catch (e) {
      return exitCodeFor(e, log);
    }
  }
}

function safeId(record: AstroPixRecord): string {
  try {
    return uniqueId(record);
  } catch {
    return typeof record.image_id === 'string' ? record.image_id : 'study';
  }
}
