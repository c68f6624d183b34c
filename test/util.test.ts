// Shared helpers under src/util: the xxh64 digests.
import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { digestBytes, digestFile, hex64 } from '../src/util/digest.js';

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

test.run();
