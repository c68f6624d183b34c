/**
 * `toasty preview` in the real WWT engine (headless Debian Chromium): the pipeline's own
 * studies (one tiled, one single image) are shown where and how their WCS says.
 *
 * Pixel check: the view is put on the image centre (the Place) at a zoom where one screen
 * pixel is one image pixel. The expected central patch is computed here, independently of the
 * pipeline, from the feed record's WCS (spec 5: parity flip, CD matrix) and the source JPEG:
 * for each screen pixel, the sky offset (east left, north up) goes through the inverse CD
 * matrix to an image pixel, sampled bilinearly. The screenshot patch must match it (mean
 * absolute difference), and match it clearly better than the mirrored or 180°-rotated patch.
 * At the Place's own zoom, points that the WCS puts well outside the image must be dark.
 *
 * Orientation check: a synthetic "F" (test/helpers/f-image.ts), once tiled with a rotated,
 * positive-parity WCS (which the pipeline flops) and once untiled with another rotation, is
 * viewed whole; the screenshot must match the F placed by the record's own WCS, and beat the
 * mirrored, flipped, 180°-rotated, rotation-negated, rotation-ignored and parity-ignored F.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import http from 'node:http';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import sharp from 'sharp';
import path from 'node:path';
import { publishCommand, rejectCommand, shellQuote, startPreviewServer, type PreviewImage, type PreviewListing } from '../src/preview/server.js';
import { readRejections } from '../src/pipeline/reject.js';
import { parseWtml } from '../src/wwt/wtml.js';
import { haveChromium, openTestBrowser, CHROMIUM } from './helpers/browser.js';
import { Fixture, IDS, TESTDATA, TOASTY, runToasty } from './helpers/pipeline-fixture.js';
import { fRecord, writeFImage, type FRecordArgs } from './helpers/f-image.js';

interface Raw {
  data: Buffer;
  width: number;
  height: number;
  channels: number;
}

async function rawRgb(input: Buffer | string): Promise<Raw> {
  const { data, info } = await sharp(input).removeAlpha().toColorspace('srgb').raw().toBuffer({ resolveWithObject: true });
  return { data, width: info.width, height: info.height, channels: info.channels };
}

/** CD matrix (degrees per pixel, x right, y down) of an AstroPix record for a W x H image (spec 5). */
function cdMatrix(rec: Record<string, unknown>, W: number, H: number): [number, number, number, number] {
  const pair = (k: string) => (rec[k] as string[]).map(Number);
  const [s0, s1] = pair('wcs_scale');
  const [d0, d1] = pair('wcs_reference_dimension');
  const rot = (Number(rec.wcs_rotation) * Math.PI) / 180;
  const c = Math.cos(rot);
  const s = Math.sin(rot);
  const lam = s1 / s0;
  const cdelt1 = s0 / (W / d0);
  const cdelt2 = s1 / (H / d1);
  return [cdelt1 * c, -cdelt1 * -lam * s, cdelt2 * (s / lam), -cdelt2 * c];
}

function bilinear(img: Raw, x: number, y: number, ch: number): number {
  const x0 = Math.max(0, Math.min(img.width - 2, Math.floor(x)));
  const y0 = Math.max(0, Math.min(img.height - 2, Math.floor(y)));
  const fx = Math.max(0, Math.min(1, x - x0));
  const fy = Math.max(0, Math.min(1, y - y0));
  const at = (xx: number, yy: number) => img.data[(yy * img.width + xx) * img.channels + ch];
  return at(x0, y0) * (1 - fx) * (1 - fy) + at(x0 + 1, y0) * fx * (1 - fy) + at(x0, y0 + 1) * (1 - fx) * fy + at(x0 + 1, y0 + 1) * fx * fy;
}

/** Image pixel (0-based, x right, y down) shown at screen offset (u, v) px from the view centre. */
function screenToImage(cd: number[], pxPerDeg: number, src: Raw, u: number, v: number): [number, number] {
  const xi = -u / pxPerDeg; // east is left on the sky
  const eta = -v / pxPerDeg; // north is up
  const det = cd[0] * cd[3] - cd[1] * cd[2];
  const dx = (cd[3] * xi - cd[1] * eta) / det;
  const dy = (-cd[2] * xi + cd[0] * eta) / det;
  return [(src.width - 1) / 2 + dx, (src.height - 1) / 2 + dy];
}

/** Mean absolute difference (0-255) between the shot's central patch and the expected one. */
function patchDiff(shot: Raw, src: Raw, cd: number[], pxPerDeg: number, half: number, flipU: 1 | -1, flipV: 1 | -1): number {
  let sum = 0;
  let n = 0;
  const cx = shot.width / 2;
  const cy = shot.height / 2;
  for (let j = Math.floor(cy - half); j < cy + half; j++) {
    for (let i = Math.floor(cx - half); i < cx + half; i++) {
      const u = (i + 0.5 - cx) * flipU;
      const v = (j + 0.5 - cy) * flipV;
      const [x, y] = screenToImage(cd, pxPerDeg, src, u, v);
      for (let ch = 0; ch < 3; ch++) {
        sum += Math.abs(shot.data[(j * shot.width + i) * shot.channels + ch] - bilinear(src, x, y, ch));
        n++;
      }
    }
  }
  return sum / n;
}

/** Screen pixels per degree at the view centre for a zoom (zoom = 6 x the view height in degrees). */
function pxPerDegree(zoom: number, canvasHeight: number): number {
  const halfFov = ((zoom / 6) * Math.PI) / 360;
  return (canvasHeight / 2 / Math.tan(halfFov)) * (Math.PI / 180);
}

/**
 * In a screenshot at the Place's zoom (centred on the image centre), points the WCS puts well
 * outside the image are dark sky, and the view centre (the image) is not.
 */
function assertDarkOffImage(id: string, wide: Raw, ppdWide: number, cd: number[], src: Raw): void {
  let darkChecked = 0;
  for (const [fx, fy] of [
    [0.04, 0.04],
    [0.96, 0.04],
    [0.04, 0.96],
    [0.96, 0.96],
    [0.5, 0.03],
    [0.02, 0.5],
  ]) {
    const i = Math.floor(fx * wide.width);
    const j = Math.floor(fy * wide.height);
    const [x, y] = screenToImage(cd, ppdWide, src, i + 0.5 - wide.width / 2, j + 0.5 - wide.height / 2);
    const margin = 0.1 * Math.min(src.width, src.height);
    if (x > -margin && x < src.width + margin && y > -margin && y < src.height + margin) continue;
    const p = (j * wide.width + i) * wide.channels;
    const lum = (wide.data[p] + wide.data[p + 1] + wide.data[p + 2]) / 3;
    assert.ok(lum < 30, `${id}: off-image point (${i},${j}) should be dark sky, got ${lum}`);
    darkChecked++;
  }
  assert.ok(darkChecked >= 3, `${id}: only ${darkChecked} off-image points in view`);
  const mid = ((wide.height >> 1) * wide.width + (wide.width >> 1)) * wide.channels;
  assert.ok(wide.data[mid] + wide.data[mid + 1] + wide.data[mid + 2] > 60, `${id}: the view centre is dark`);
}

test('preview shows each processed study in the WWT engine where its WCS puts it', async () => {
  if (!haveChromium()) {
    console.log(`  SKIPPED preview browser test: ${CHROMIUM} is not installed (apt-get install chromium)`);
    return;
  }
  const f = await Fixture.create({ kind: 'local' });
  let server: Awaited<ReturnType<typeof startPreviewServer>> | null = null;
  let browser: Awaited<ReturnType<typeof openTestBrowser>> | null = null;
  try {
    for (const stage of ['pipeline-fetch-inputs', 'pipeline-process-todos']) {
      const r = await f.run(stage);
      assert.is(r.code, 0, `${stage} failed: ${r.stderr}`);
    }
    const commandArgs = { repoArgs: f.repoArgs, workdir: f.workdir };
    server = await startPreviewServer({ workdir: f.workdir, commandArgs });

    // The server refuses anything outside the image folders.
    for (const bad of [
      '/files/out_todo/..%2F..%2Fetc/passwd',
      '/files/out_todo/../cache_done/x',
      `/files/cache_done/${IDS.ngc253}/astropix.json`,
      `/files/out_todo/${IDS.ngc253}/.hidden`,
    ]) {
      const res = await fetch(server.url.replace(/\/$/, '') + bad);
      assert.ok(res.status === 404 || res.status === 403, `${bad} -> ${res.status}`);
    }

    browser = await openTestBrowser();
    const { page } = browser;
    const failed: string[] = [];
    const served = new Map<string, string>();
    page.on('response', (r) => {
      if (r.status() >= 400) failed.push(`${r.status()} ${r.url()}`);
      if (r.url().includes('/engine-assets/')) served.set(new URL(r.url()).pathname, r.headers()['content-type'] ?? '');
    });
    await page.goto(server.url);
    await page.waitForFunction('window.previewReady === true || window.previewError', null, { timeout: 20000 });
    assert.is(await page.evaluate('window.previewError'), undefined);
    const listed = await page.locator('#list li').count();
    assert.is(listed, 2, 'both studies are listed as waiting');

    // Grid and constellation boundaries are on, the boundaries drawn from the local IAU table.
    assert.equal(await page.evaluate('[wwtlib.Settings.get_active().get_showGrid(), wwtlib.Settings.get_active().get_showConstellationBoundries()]'), [
      true,
      true,
    ]);
    await page.waitForFunction('wwtlib.WWTControl.constellationsBoundries?.lines?.length > 0', null, { timeout: 20000 });
    const boundaries = (await page.evaluate(
      '({ polygons: wwtlib.WWTControl.constellationsBoundries.lines.length, points: wwtlib.WWTControl.constellationsBoundries.lines.reduce((n, l) => n + l.points.length, 0) })',
    )) as { polygons: number; points: number };
    assert.is(boundaries.polygons, 89, 'all 89 boundary polygons (Serpens in two)');
    assert.ok(boundaries.points > 1564, `the edges are followed between the 1564 corners (${boundaries.points} points)`);
    assert.ok(served.has('/engine-assets/constellations.txt'), 'the engine fetched its boundaries from this server');
    // The engine's own lookup, over the served file, agrees with the pipeline's.
    for (const [ra, dec, abbr] of [
      [0.7925, -25.288, 'SCL'],
      [23.2677, -42.5847, 'GRU'],
      [5.5881, -5.391, 'ORI'],
    ] as const) {
      assert.is(await page.evaluate(`wwtlib.Constellations.containment.findConstellationForPoint(${ra}, ${dec})`), abbr);
    }

    const records = (await f.baseRecords()) as Array<Record<string, unknown>>;
    const cases: Array<{ id: string; file: string; kind: PreviewImage['kind']; constellation: string }> = [
      { id: IDS.ngc253, file: 'NGC253ALMA.jpg', kind: 'tiled', constellation: 'SCL' },
      { id: IDS.ngc7552, file: 'geminiann11015a.jpg', kind: 'single', constellation: 'GRU' },
    ];
    for (const [n, c] of cases.entries()) {
      const img = (await page.evaluate(`window.selectImage(${JSON.stringify(c.id)})`)) as PreviewImage;
      assert.is(img.kind, c.kind, `${c.id} kind`);
      assert.is(await page.locator('#d-constellation').textContent(), c.constellation, `${c.id} constellation in the details`);
      const canvas = page.locator('#wwt canvas');
      const rec = records.find((r) => String(r.resource_url).endsWith(c.file))!;
      const src = await rawRgb(path.join(TESTDATA, c.file));
      const cd = cdMatrix(rec, src.width, src.height);

      // The size shown is the file's; the record's too when it says another.
      const [rw, rh] = (rec.wcs_reference_dimension as string[]).map(Number);
      const sizeText = `${src.width} × ${src.height} px${rw !== src.width || rh !== src.height ? ` (the record says ${rw} × ${rh})` : ''}`;
      assert.is(await page.locator('#d-size').textContent(), sizeText, `${c.id} size`);
      if (c.id === IDS.ngc7552) assert.is(sizeText, '1280 × 876 px (the record says 4958 × 3392)');

      // The commands to reject it or publish everything, with the preview's repository arguments.
      const commands = await page.locator('#commands code').allTextContents();
      assert.equal(commands, [
        `toasty reject ${f.repoArgs.join(' ')} ${f.workdir} ${c.id} --reason "..."`,
        `toasty pipeline-publish-todos ${f.repoArgs.join(' ')} ${f.workdir}`,
      ]);

      if (n === 0) {
        // Wide around the image: boundary lines are drawn (Sculptor's highlighted in yellow).
        await page.evaluate(`window.previewGoto(${img.ra}, ${img.dec}, 120)`);
        const yellow = async () => {
          const shot = await rawRgb(await canvas.screenshot());
          let count = 0;
          for (let p = 0; p < shot.data.length; p += shot.channels) {
            if (shot.data[p] > 150 && shot.data[p + 1] > 150 && shot.data[p + 2] < 80) count++;
          }
          return count;
        };
        const on = await yellow();
        await page.uncheck('#overlays');
        await page.evaluate(`window.previewGoto(${img.ra}, ${img.dec}, 120)`);
        const off = await yellow();
        assert.ok(on > 200 && off === 0, `boundary pixels with the overlays on ${on}, off ${off}`);
        // The pixel checks below compare the image unobstructed.
        await page.evaluate(`window.previewGoto(${img.ra}, ${img.dec}, ${img.zoomLevel})`);
      }

      // At the Place's zoom: points the WCS puts well outside the image are dark sky.
      const wide = await rawRgb(await canvas.screenshot());
      assertDarkOffImage(c.id, wide, pxPerDegree(img.zoomLevel, wide.height), cd, src);

      // One screen pixel = one image pixel, centred on the Place (the image centre).
      const sy = Math.hypot(cd[2], cd[3]);
      const zoom = 6 * wide.height * sy;
      await page.evaluate(`window.previewGoto(${img.ra}, ${img.dec}, ${zoom})`);
      const shot = await rawRgb(await canvas.screenshot());
      const ppd = pxPerDegree(zoom, shot.height);
      const half = 60;
      const diff = patchDiff(shot, src, cd, ppd, half, 1, 1);
      const mirrored = patchDiff(shot, src, cd, ppd, half, -1, 1);
      const flipped = patchDiff(shot, src, cd, ppd, half, 1, -1);
      const rotated = patchDiff(shot, src, cd, ppd, half, -1, -1);
      const summary = `${c.id}: MAD ${diff.toFixed(2)} (mirrored ${mirrored.toFixed(2)}, flipped ${flipped.toFixed(2)}, rotated 180° ${rotated.toFixed(2)})`;
      console.log(`  ${summary}`);
      assert.ok(diff < 12, `central patch differs from the source: ${summary}`);
      assert.ok(diff < 0.6 * Math.min(mirrored, flipped, rotated), `orientation is not distinguishable: ${summary}`);
    }

    // The published tab is empty, with a message saying so, and nothing of the image selected
    // on the other tab; back there, nothing is selected.
    await page.click('#tab-done');
    assert.ok(await page.locator('#empty').isVisible());
    assert.match((await page.locator('#empty').textContent()) ?? '', /published/i);
    for (const tab of ['#tab-done', '#tab-todo']) {
      if (tab === '#tab-todo') await page.click(tab);
      assert.not.ok(await page.locator('#details').isVisible(), `${tab}: no details`);
      // All text, hidden or not: nothing of the image may linger.
      const text = ((await page.locator('#sidebar').textContent()) ?? '').replace(/\s+/g, ' ');
      for (const stale of ['1280 × 876', 'GRU', `${IDS.ngc7552} (waiting)`, 'toasty reject']) assert.not.ok(text.includes(stale), `${tab} shows ${stale}`);
      assert.is(await page.evaluate('wwtlib.WWTControl.singleton.renderContext.get_foregroundImageset()'), null, `${tab}: no foreground`);
    }
    assert.equal(failed, [], 'every request the page made was answered');

    assert.equal(browser.errors, [], 'page errors');
    assert.equal(browser.blocked, [], 'requests off 127.0.0.1');
  } finally {
    await browser?.close();
    await server?.close();
    await f.close();
  }
});

/** Sky position (RA hours, Dec degrees) of the image centre, from the record's WCS (spec 5, 6.6). */
function imageCentre(rec: Record<string, unknown>, W: number, H: number): { ra: number; dec: number } {
  const pair = (k: string) => (rec[k] as string[]).map(Number);
  const [d0, d1] = pair('wcs_reference_dimension');
  const [p0, p1] = pair('wcs_reference_pixel');
  const [a0, de0] = pair('wcs_reference_value').map((v) => (v * Math.PI) / 180);
  const crpix1 = (p0 - 0.5) * (W / d0) + 0.5;
  const crpix2 = H + 1 - ((p1 - 0.5) * (H / d1) + 0.5);
  const cd = cdMatrix(rec, W, H);
  const dx = (W + 1) / 2 - crpix1;
  const dy = (H + 1) / 2 - crpix2;
  const xi = ((cd[0] * dx + cd[1] * dy) * Math.PI) / 180;
  const eta = ((cd[2] * dx + cd[3] * dy) * Math.PI) / 180;
  const q = Math.cos(de0) - eta * Math.sin(de0);
  const ra = (((a0 + Math.atan2(xi, q)) * 180) / Math.PI + 360) % 360;
  const dec = (Math.atan2(eta * Math.cos(de0) + Math.sin(de0), Math.hypot(xi, q)) * 180) / Math.PI;
  return { ra: ra / 15, dec };
}

/**
 * Mean absolute difference (0-255) between the shot's central (2 half)^2 patch and the image
 * `src` placed by the CD matrix `cd` (per `src` pixel) at the view centre, screen offsets
 * transformed by (flipU, flipV). Screen pixels that land outside the image (or within 3 px of
 * its edge) are left out; `n` says how many were compared.
 */
function placedDiff(shot: Raw, src: Raw, cd: number[], pxPerDeg: number, half: number, flipU: 1 | -1, flipV: 1 | -1): { mad: number; n: number } {
  let sum = 0;
  let n = 0;
  const cx = shot.width / 2;
  const cy = shot.height / 2;
  for (let j = Math.floor(cy - half); j < cy + half; j++) {
    for (let i = Math.floor(cx - half); i < cx + half; i++) {
      const [x, y] = screenToImage(cd, pxPerDeg, src, (i + 0.5 - cx) * flipU, (j + 0.5 - cy) * flipV);
      if (x < 3 || y < 3 || x > src.width - 4 || y > src.height - 4) continue;
      for (let ch = 0; ch < 3; ch++) sum += Math.abs(shot.data[(j * shot.width + i) * shot.channels + ch] - bilinear(src, x, y, ch));
      n++;
    }
  }
  return { mad: n ? sum / (3 * n) : Infinity, n };
}

test('preview shows a rotated and a mirrored-parity "F" the right way round', async () => {
  if (!haveChromium()) {
    console.log(`  SKIPPED preview orientation test: ${CHROMIUM} is not installed (apt-get install chromium)`);
    return;
  }
  const f = await Fixture.create({ kind: 'local' });
  let server: Awaited<ReturnType<typeof startPreviewServer>> | null = null;
  let browser: Awaited<ReturnType<typeof openTestBrowser>> | null = null;
  try {
    // (a) tiled (> 2048 px), rotated, positive parity: the pipeline flops it and uses the
    //     mirrored record; WWT must still show the sky the record describes.
    // (b) untiled, rotated the other way, normal parity, AstroPix-size record (2x the file).
    const cases: Array<{ id: string; kind: PreviewImage['kind']; size: [number, number]; args: Omit<FRecordArgs, 'resourceUrl'> }> = [
      {
        id: 'toastytest_f_tiled_parity',
        kind: 'tiled',
        size: [2300, 1800],
        args: {
          imageId: 'F_Tiled_Parity',
          ra: 150.25,
          dec: 20.5,
          referencePixel: [700.3, 1100.8],
          referenceDimension: [2300, 1800],
          scale: [2e-4, 2e-4],
          rotation: 30,
          astropixId: 11003,
        },
      },
      {
        id: 'toastytest_f_single_rot',
        kind: 'single',
        size: [1200, 900],
        args: {
          imageId: 'F_Single_Rot',
          ra: 80.5,
          dec: -5.5,
          referencePixel: [1500.5, 600.25],
          referenceDimension: [2400, 1800],
          scale: [-1e-4, 1e-4],
          rotation: -60,
          astropixId: 11004,
        },
      },
    ];
    const records: Array<Record<string, unknown>> = [];
    const files: Record<string, string> = {};
    for (const c of cases) {
      const file = path.join(f.tmp, `${c.args.imageId}.jpg`);
      await writeFImage(file, c.size[0], c.size[1]);
      files[c.id] = file;
      records.push(fRecord({ ...c.args, resourceUrl: f.serve(`${c.args.imageId}.jpg`, file) }));
    }
    f.setRecords(records);
    for (const stage of ['pipeline-fetch-inputs', 'pipeline-process-todos']) {
      const r = await f.run(stage);
      assert.is(r.code, 0, `${stage} failed: ${r.stderr}`);
    }
    server = await startPreviewServer({ workdir: f.workdir });
    browser = await openTestBrowser();
    const { page } = browser;
    await page.goto(server.url);
    await page.waitForFunction('window.previewReady === true || window.previewError', null, { timeout: 20000 });
    assert.is(await page.evaluate('window.previewError'), undefined);
    assert.is(await page.locator('#list li').count(), cases.length);
    await page.uncheck('#overlays'); // the F is compared unobstructed

    for (const [n, c] of cases.entries()) {
      const rec = records[n];
      const img = (await page.evaluate(`window.selectImage(${JSON.stringify(c.id)})`)) as PreviewImage;
      assert.is(img.kind, c.kind, `${c.id} kind`);
      const canvas = page.locator('#wwt canvas');
      const src = await rawRgb(files[c.id]);
      const cd = cdMatrix(rec, src.width, src.height);
      const sy = Math.hypot(cd[2], cd[3]);

      // The Place is the image centre the record's WCS gives (within a pixel).
      const centre = imageCentre(rec, src.width, src.height);
      const off = Math.hypot((img.ra - centre.ra) * 15 * Math.cos((centre.dec * Math.PI) / 180), img.dec - centre.dec);
      assert.ok(off < sy, `${c.id}: Place is ${(off / sy).toFixed(2)} px from the WCS image centre`);

      const wide = await rawRgb(await canvas.screenshot());
      assertDarkOffImage(c.id, wide, pxPerDegree(img.zoomLevel, wide.height), cd, src);

      // The whole F on screen: k image pixels per screen pixel, compared with the source
      // shrunk by k (same pixel centres), so both sides are equally smooth.
      const k = Math.ceil(src.height / (0.7 * wide.height));
      const zoom = 6 * wide.height * sy * k;
      await page.evaluate(`window.previewGoto(${centre.ra}, ${centre.dec}, ${zoom})`);
      const shot = await rawRgb(await canvas.screenshot());
      const ppd = pxPerDegree(zoom, shot.height);
      const small = await rawRgb(
        await sharp(files[c.id])
          .resize(src.width / k, src.height / k)
          .toBuffer(),
      );
      const scaled = (r: Record<string, unknown>) => cdMatrix(r, src.width, src.height).map((v) => v * k);
      const half = Math.floor(shot.height / 2) - 10;
      const truth = placedDiff(shot, small, scaled(rec), ppd, half, 1, 1);
      assert.ok(truth.n > 0.5 * small.width * small.height, `${c.id}: only ${truth.n} screen pixels fall on the image`);
      // Wrong ways round: screen mirror/flip/180°, rotation negated or ignored, parity ignored.
      const negS0 = (rec.wcs_scale as string[]).map((v, i) => (i === 0 ? String(-Number(v)) : v));
      const alternatives: Record<string, number> = {
        mirrored: placedDiff(shot, small, scaled(rec), ppd, half, -1, 1).mad,
        flipped: placedDiff(shot, small, scaled(rec), ppd, half, 1, -1).mad,
        'rotated 180°': placedDiff(shot, small, scaled(rec), ppd, half, -1, -1).mad,
        'rotation negated': placedDiff(shot, small, scaled({ ...rec, wcs_rotation: String(-Number(rec.wcs_rotation)) }), ppd, half, 1, 1).mad,
        'rotation ignored': placedDiff(shot, small, scaled({ ...rec, wcs_rotation: '0' }), ppd, half, 1, 1).mad,
        'parity ignored': placedDiff(shot, small, scaled({ ...rec, wcs_scale: negS0 }), ppd, half, 1, 1).mad,
      };
      const summary = `${c.id}: MAD ${truth.mad.toFixed(2)} over ${truth.n} px (${Object.entries(alternatives)
        .map(([name, v]) => `${name} ${v.toFixed(2)}`)
        .join(', ')})`;
      console.log(`  ${summary}`);
      assert.ok(truth.mad < 12, `the F differs from the source placed by its WCS: ${summary}`);
      assert.ok(truth.mad < 0.5 * Math.min(...Object.values(alternatives)), `orientation is not clearly right: ${summary}`);
    }
    assert.equal(browser.errors, [], 'page errors');
    assert.equal(browser.blocked, [], 'requests off 127.0.0.1');
  } finally {
    await browser?.close();
    await server?.close();
    await f.close();
  }
});

test('a re-processed published study previews from its content-addressed pixel folder', async () => {
  const f = await Fixture.create({ kind: 'local' });
  let server: Awaited<ReturnType<typeof startPreviewServer>> | null = null;
  try {
    assert.is((await f.run('make')).code, 0);
    const recs = await f.baseRecords();
    const brighter = path.join(f.tmp, 'brighter.jpg');
    await sharp(path.join(TESTDATA, 'geminiann11015a.jpg')).modulate({ brightness: 1.2 }).jpeg().toFile(brighter);
    recs[1].resource_url = f.serve('brighter.jpg', brighter);
    recs[1].last_updated = '2025-01-01T00:00:00';
    f.setRecords(recs);
    for (const stage of ['pipeline-fetch-inputs', 'pipeline-process-todos']) assert.is((await f.run(stage)).code, 0);
    server = await startPreviewServer({ workdir: f.workdir });
    const wtml = await (await fetch(`${server.url.replace(/\/$/, '')}/wtml/out_todo/${IDS.ngc7552}.wtml`)).text();
    const url = parseWtml(wtml).children[0].imageSet.url;
    assert.match(url, /\/[0-9a-f]{16}\/image\.jpg$/, 'the WTML addresses a pixel folder');
    const res = await fetch(url);
    assert.is(res.status, 200);
    const meta = await sharp(Buffer.from(await res.arrayBuffer())).metadata();
    assert.equal([meta.width, meta.height], [1280, 876]);
  } finally {
    await server?.close();
    await f.close();
  }
});

test('a rejected published image is struck through with its reason and offers the undo command', async () => {
  if (!haveChromium()) return;
  const f = await Fixture.create({ kind: 'local' });
  let server: Awaited<ReturnType<typeof startPreviewServer>> | null = null;
  let browser: Awaited<ReturnType<typeof openTestBrowser>> | null = null;
  try {
    assert.is((await f.run('make')).code, 0);
    const r = await f.run('reject', IDS.ngc253, '--reason', 'duplicate of another image');
    assert.is(r.code, 0, r.stderr);
    server = await startPreviewServer({
      workdir: f.workdir,
      commandArgs: { repoArgs: f.repoArgs, workdir: f.workdir },
      rejections: (ids) => readRejections(f.repo, ids),
    });
    browser = await openTestBrowser();
    const { page } = browser;
    await page.goto(server.url);
    await page.waitForFunction('window.previewReady === true', null, { timeout: 20000 });
    await page.locator('#tab-done').click();
    const rejected = page.locator('#list li.rejected');
    assert.is(await rejected.count(), 1, 'one published image is marked rejected');
    assert.match((await rejected.textContent()) ?? '', new RegExp(`${IDS.ngc253} — rejected: duplicate of another image`));
    assert.is(await page.locator('#list li:not(.rejected)').count(), 1, 'the other is not');
    await rejected.click();
    await page.waitForFunction(`document.getElementById('d-id').textContent.includes('not to be published')`, null, { timeout: 20000 });
    const commands = (await page.locator('#commands').textContent()) ?? '';
    assert.ok(commands.includes(['toasty', 'reject', '--undo', ...f.repoArgs, f.workdir, IDS.ngc253].map(shellQuote).join(' ')), commands);
    assert.not.match(commands, /--reason/, 'no reject command for a rejected image');
    assert.equal(browser.errors, []);
    assert.equal(browser.blocked, []);
  } finally {
    await browser?.close();
    await server?.close();
    await f.close();
  }
});

test('preview says so when nothing is waiting', async () => {
  if (!haveChromium()) return;
  const dir = await fsp.mkdtemp(path.join((await import('node:os')).tmpdir(), 'toasty-preview-empty-'));
  const server = await startPreviewServer({ workdir: dir });
  const browser = await openTestBrowser();
  try {
    await browser.page.goto(server.url);
    await browser.page.waitForFunction('window.previewReady === true', null, { timeout: 20000 });
    assert.ok(await browser.page.locator('#empty').isVisible());
    assert.match((await browser.page.locator('#empty').textContent()) ?? '', /Nothing is waiting/);
    assert.equal(browser.errors, []);
    assert.equal(browser.blocked, []);
  } finally {
    await browser.close();
    await server.close();
    await fsp.rm(dir, { recursive: true, force: true });
  }
});

/** GET `pathname` from 127.0.0.1:`port` with the given Host header. */
function getWithHost(port: number, pathname: string, host: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: pathname, headers: { host } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
  });
}

test('toasty preview answers only to 127.0.0.1 and localhost (DNS rebinding)', async () => {
  const f = await Fixture.create({ kind: 'local' });
  f.setRecords([(await f.baseRecords())[1]]);
  let child: ChildProcess | null = null;
  try {
    assert.is((await f.run('pipeline-fetch-inputs')).code, 0);
    assert.is((await f.run('pipeline-process-todos')).code, 0);
    child = spawn(process.execPath, [TOASTY, 'preview', ...f.repoArgs, f.workdir], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, CI: '1' } });
    const exited = new Promise<number | null>((resolve) => child!.on('exit', (code) => resolve(code)));
    const url = await new Promise<string>((resolve, reject) => {
      let out = '';
      child!.stdout!.on('data', (d) => {
        out += d;
        const m = /toasty preview: (http:\/\/127\.0\.0\.1:\d+\/)/.exec(out);
        if (m) resolve(m[1]!);
      });
      child!.on('exit', () => reject(new Error(`preview exited: ${out}`)));
    });
    const port = Number(new URL(url).port);
    // The commands it shows carry the arguments it was started with.
    const listing = JSON.parse((await getWithHost(port, '/api/images', `127.0.0.1:${port}`)).body) as PreviewListing;
    assert.is(listing.todo[0].rejectCommand, `toasty reject ${f.repoArgs.join(' ')} ${f.workdir} ${IDS.ngc7552} --reason "..."`);
    assert.is(listing.publishCommand, `toasty pipeline-publish-todos ${f.repoArgs.join(' ')} ${f.workdir}`);
    for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, 'localhost', `LOCALHOST:${port}`]) {
      const r = await getWithHost(port, '/api/images', host);
      assert.is(r.status, 200, host);
      assert.ok(r.body.includes(IDS.ngc7552), `${host}: the study is listed`);
    }
    for (const host of [`evil.example:${port}`, 'evil.example', `127.0.0.1.evil.example:${port}`, `localhost:${port + 1}`]) {
      for (const pathname of ['/api/images', '/', `/files/out_todo/${IDS.ngc7552}/thumb.jpg`]) {
        const r = await getWithHost(port, pathname, host);
        assert.is(r.status, 421, `${host} ${pathname}`);
        assert.not.ok(r.body.includes(IDS.ngc7552), `${host}: nothing about the studies`);
      }
    }
    child.kill('SIGINT');
    assert.is(await exited, 0, 'Ctrl-C stops it cleanly');
    child = null;
  } finally {
    child?.kill('SIGKILL');
    await f.close();
  }
});

test('toasty preview with a WORKDIR that does not exist: exit 2, one line naming it, no server', async () => {
  const dir = await fsp.mkdtemp(path.join((await import('node:os')).tmpdir(), 'toasty-preview-missing-'));
  try {
    const missing = path.join(dir, 'no-such-work');
    const r = await runToasty(['preview', `--local=${dir}`, missing]);
    assert.is(r.code, 2, r.stdout + r.stderr);
    const lines = r.stderr.trim().split('\n');
    assert.is(lines.length, 1, r.stderr);
    assert.ok(lines[0].includes(missing) && /does not exist/.test(lines[0]), lines[0]);
    assert.not.match(r.stdout, /http:/, 'no server was started');
  } finally {
    await fsp.rm(dir, { recursive: true, force: true });
  }
});

test('the commands shown survive a real shell word for word (quoting)', () => {
  const args = { repoArgs: ["--local=/tmp/my repo/it's", '--azure-conn-env=CONN'], workdir: '/tmp/work $HOME;`x`' };
  const id = 'some_id-1.2';
  const reject = rejectCommand(args, id);
  const publish = publishCommand(args);
  assert.ok(reject.endsWith(' --reason "..."'));
  const words = (line: string) =>
    spawnSync('sh', ['-c', `printf '%s\\n' ${line}`], { encoding: 'utf8' })
      .stdout.split('\n')
      .slice(0, -1);
  assert.equal(words(reject), ['toasty', 'reject', ...args.repoArgs, args.workdir, id, '--reason', '...']);
  assert.equal(words(publish), ['toasty', 'pipeline-publish-todos', ...args.repoArgs, args.workdir]);
  assert.is(shellQuote('--local=./repo'), '--local=./repo', 'plain words stay readable');
});

test.run();
