/**
 * A synthetic image whose orientation cannot be mistaken: a big bright "F" on a dark blue
 * (not black) background, with a red square near the bottom-right corner. Mirrored, flipped,
 * rotated or mis-rotated copies all look different. Edges are blurred so a resampled copy
 * (a coarser tile level, a smaller screen) compares well with the source.
 */
import sharp from 'sharp';

const BACKGROUND = [35, 40, 75] as const;
const LETTER = [250, 235, 170] as const;
const MARKER = [225, 35, 35] as const;

/** Boxes as fractions of the image: [x0, y0, x1, y1] (x right, y down from the top-left). */
const F_BOXES: Array<[number, number, number, number]> = [
  [0.28, 0.14, 0.4, 0.86], // stem
  [0.28, 0.14, 0.74, 0.27], // top arm
  [0.28, 0.45, 0.6, 0.56], // middle arm
];
const MARKER_BOX: [number, number, number, number] = [0.8, 0.74, 0.94, 0.92];

/** Write the "F" image as a JPEG of `width` x `height` to `file`. */
export async function writeFImage(file: string, width: number, height: number): Promise<void> {
  const data = Buffer.alloc(width * height * 3);
  const fill = (box: [number, number, number, number], rgb: readonly number[]) => {
    const [x0, y0, x1, y1] = [box[0] * width, box[1] * height, box[2] * width, box[3] * height].map(Math.round);
    for (let y = y0; y < y1; y++) {
      for (let x = x0; x < x1; x++) data.set(rgb, (y * width + x) * 3);
    }
  };
  fill([0, 0, 1, 1], BACKGROUND);
  for (const box of F_BOXES) fill(box, LETTER);
  fill(MARKER_BOX, MARKER);
  await sharp(data, { raw: { width, height, channels: 3 } })
    .blur(3)
    .jpeg({ quality: 92 })
    .toFile(file);
}

export interface FRecordArgs {
  imageId: string;
  resourceUrl: string;
  /** Sky position of the reference pixel, degrees. */
  ra: number;
  dec: number;
  referencePixel: [number, number];
  referenceDimension: [number, number];
  /** Degrees per reference pixel, AstroPix sign convention (normal JPEGs: [-s, +s]). */
  scale: [number, number];
  rotation: number;
  astropixId: number;
}

/** An AstroPix feed record (values as strings, like the real feed) for an "F" image. */
export function fRecord(a: FRecordArgs): Record<string, unknown> {
  const [w, h] = a.referenceDimension;
  return {
    creator: 'toasty tests',
    title: `Synthetic F (${a.imageId})`,
    description: 'A synthetic asymmetric test image for orientation checks.',
    object_name: ['F'],
    reference_url: 'https://example.org/f/',
    resource_url: a.resourceUrl,
    image_id: a.imageId,
    image_credit: 'toasty tests',
    wcs_coordinate_frame: 'ICRS',
    wcs_equinox: 'J2000',
    wcs_reference_value: [String(a.ra), String(a.dec)],
    wcs_reference_dimension: [String(w), String(h)],
    wcs_reference_pixel: a.referencePixel.map(String),
    wcs_scale: a.scale.map(String),
    wcs_rotation: String(a.rotation),
    wcs_projection: 'TAN',
    wcs_quality: 'Full',
    wcs_notes: '',
    publisher: 'Toasty Tests',
    publisher_id: 'toastytest',
    resource_id: a.imageId,
    last_updated: '2024-01-01T00:00:00',
    metadata_version: '1.1',
    image_width: String(w),
    image_height: String(h),
    image_max_boundry: String(Math.max(w, h)),
    astropix_id: a.astropixId,
  };
}
