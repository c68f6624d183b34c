// Shared helpers under src/util: the xxh64 digests and image format sniffing.
import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { digestBytes, digestFile, hex64 } from '../src/util/digest.js';
import { describeNonImage, sniffImageFormat } from '../src/util/image-format.js';

test('digests are xxh64 (seed 0) as 16 hex digits', async () => {
  // Published XXH64 values of "" and "abc".
  assert.is(await digestBytes(''), 'ef46db3751d8e999');
  assert.is(await digestBytes('abc'), '44bc2cf5ad770999');
  assert.is(await digestBytes(new TextEncoder().encode('abc')), '44bc2cf5ad770999', 'a string hashes as its UTF-8 bytes');
  assert.is(hex64(1n), '0000000000000001');
  assert.is(hex64(0xffffffffffffffffn), 'ffffffffffffffff');
});

test('a file streamed in chunks digests like its bytes in one piece', async () => {
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'toasty-digest-'));
  try {
    const bytes = randomBytes((3 << 20) + 12345); // several 1 MiB chunks and a ragged end
    const file = path.join(dir, 'blob.bin');
    await fsp.writeFile(file, bytes);
    assert.is(await digestFile(file), await digestBytes(bytes));
    await fsp.writeFile(file, '');
    assert.is(await digestFile(file), 'ef46db3751d8e999');
  } finally {
    await fsp.rm(dir, { recursive: true, force: true });
  }
});

test('image magic numbers', () => {
  const b = (...x: number[]) => new Uint8Array(x);
  assert.is(sniffImageFormat(b(0xff, 0xd8, 0xff, 0xe0)), 'jpeg');
  assert.is(sniffImageFormat(b(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a)), 'png');
  assert.is(sniffImageFormat(b(0x49, 0x49, 0x2a, 0x00)), 'tiff');
  assert.is(sniffImageFormat(b(0x4d, 0x4d, 0x00, 0x2a)), 'tiff');
  assert.is(sniffImageFormat(b(0x49, 0x49, 0x2b, 0x00)), 'tiff');
  assert.is(sniffImageFormat(b(0x89, 0x50, 0x4e, 0x47)), null);
  assert.is(sniffImageFormat(Buffer.from('GIF89a')), null);
  assert.is(sniffImageFormat(b()), null);
});

test('what a refused file looks like', () => {
  const text = (s: string) => new TextEncoder().encode(s);
  assert.is(describeNonImage(text('GIF89a')), 'GIF');
  assert.is(describeNonImage(text('\uFEFF  <!DOCTYPE html><html>')), 'HTML (an error page instead of an image?)');
  assert.is(describeNonImage(text('<?xml version="1.0"?><svg/>')), 'XML/SVG');
  assert.is(describeNonImage(text('SIMPLE  =                    T')), 'FITS');
  assert.is(describeNonImage(text('just some text\n')), 'text');
  assert.is(describeNonImage(new Uint8Array([0x89, 0x50, 0x4e, 0x47])), 'unrecognised data');
});

test.run();
