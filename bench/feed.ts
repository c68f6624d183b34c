/**
 * One AstroPix-style record for a generated bench image: a TAN study centred on its image,
 * 0.36"/px, at the given sky position. The benches differ only in ids, positions and dates.
 */
import { pathToFileURL } from 'node:url';

export interface BenchImage {
  id: string;
  title: string;
  file: string;
  width: number;
  height: number;
  /** Degrees. */
  ra: number;
  dec: number;
  lastUpdated: string;
}

export function benchRecord(b: BenchImage, extra: Record<string, string> = {}): Record<string, unknown> {
  return {
    title: b.title,
    ...extra,
    image_id: b.id,
    publisher_id: 'bench',
    resource_url: pathToFileURL(b.file).href,
    image_credit: 'toasty bench',
    reference_url: '',
    wcs_reference_value: [String(b.ra), String(b.dec)],
    wcs_reference_dimension: [String(b.width), String(b.height)],
    wcs_reference_pixel: [String(b.width / 2 + 0.5), String(b.height / 2 + 0.5)],
    wcs_scale: ['-0.0001', '0.0001'],
    wcs_rotation: '0',
    wcs_projection: 'TAN',
    last_updated: b.lastUpdated,
    image_max_boundry: String(Math.max(b.width, b.height)),
  };
}
