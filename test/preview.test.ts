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
 */
import { promises as fsp } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import sharp from 'sharp';
import path from 'node:path';
import { startPreviewServer, type PreviewImage } from '../src/preview/server.js';
import { haveChromium, openTestBrowser, CHROMIUM } from './helpers/browser.js';
import { Fixture, IDS, TESTDATA } from './helpers/pipeline-fixture.js';

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
  return (
    at(x0, y0) * (1 - fx) * (1 - fy) + at(x0 + 1, y0) * fx * (1 - fy) + at(x0, y0 + 1) * (1 - fx) * fy + at(x0 + 1, y0 + 1) * fx * fy
  );
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
  return ((canvasHeight / 2) / Math.tan(halfFov)) * (Math.PI / 180);
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
    server = await startPreviewServer({ workdir: f.workdir });

    // The server refuses anything outside the image folders.
    for (const bad of ['/files/out_todo/..%2F..%2Fetc/passwd', '/files/out_todo/../cache_done/x', '/files/cache_done/' + IDS.ngc253 + '/astropix.json', '/files/out_todo/' + IDS.ngc253 + '/.hidden']) {
      const res = await fetch(server.url.replace(/\/$/, '') + bad);
      assert.ok(res.status === 404 || res.status === 403, `${bad} -> ${res.status}`);
    }

    browser = await openTestBrowser();
    const { page } = browser;
    await page.goto(server.url);
    await page.waitForFunction('window.previewReady === true || window.previewError', null, { timeout: 20000 });
    assert.is(await page.evaluate('window.previewError'), undefined);
    const listed = await page.locator('#list li').count();
    assert.is(listed, 2, 'both studies are listed as waiting');

    const records = (await f.baseRecords()) as Array<Record<string, unknown>>;
    const cases: Array<{ id: string; file: string; kind: PreviewImage['kind'] }> = [
      { id: IDS.ngc253, file: 'NGC253ALMA.jpg', kind: 'tiled' },
      { id: IDS.ngc7552, file: 'geminiann11015a.jpg', kind: 'single' },
    ];
    for (const c of cases) {
      const img = (await page.evaluate(`window.selectImage(${JSON.stringify(c.id)})`)) as PreviewImage;
      assert.is(img.kind, c.kind, `${c.id} kind`);
      const canvas = page.locator('#wwt canvas');
      const rec = records.find((r) => String(r.resource_url).endsWith(c.file))!;
      const src = await rawRgb(path.join(TESTDATA, c.file));
      const cd = cdMatrix(rec, src.width, src.height);

      // At the Place's zoom: points the WCS puts well outside the image are dark sky.
      const wide = await rawRgb(await canvas.screenshot());
      const ppdWide = pxPerDegree(img.zoomLevel, wide.height);
      let darkChecked = 0;
      for (const [fx, fy] of [[0.04, 0.04], [0.96, 0.04], [0.04, 0.96], [0.96, 0.96], [0.5, 0.03], [0.02, 0.5]]) {
        const i = Math.floor(fx * wide.width);
        const j = Math.floor(fy * wide.height);
        const [x, y] = screenToImage(cd, ppdWide, src, i + 0.5 - wide.width / 2, j + 0.5 - wide.height / 2);
        const margin = 0.1 * Math.min(src.width, src.height);
        if (x > -margin && x < src.width + margin && y > -margin && y < src.height + margin) continue;
        const p = (j * wide.width + i) * wide.channels;
        const lum = (wide.data[p] + wide.data[p + 1] + wide.data[p + 2]) / 3;
        assert.ok(lum < 30, `${c.id}: off-image point (${i},${j}) should be dark sky, got ${lum}`);
        darkChecked++;
      }
      assert.ok(darkChecked >= 3, `${c.id}: only ${darkChecked} off-image points in view`);
      // ... and the image itself is there: the view centre is not dark.
      const mid = ((wide.height >> 1) * wide.width + (wide.width >> 1)) * wide.channels;
      assert.ok(wide.data[mid] + wide.data[mid + 1] + wide.data[mid + 2] > 60, `${c.id}: the view centre is dark`);

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

    // The published tab is empty, with a message saying so.
    await page.click('#tab-done');
    assert.ok(await page.locator('#empty').isVisible());
    assert.match((await page.locator('#empty').textContent()) ?? '', /published/i);

    assert.equal(browser.errors, [], 'page errors');
    assert.equal(browser.blocked, [], 'requests off 127.0.0.1');
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

test.run();
