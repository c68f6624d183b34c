/**
 * Repository storage layer: one contract suite run against a local folder and against Azure
 * Blob Storage (a private Azurite, with an empty prefix and with `feeds/nrao`), plus the
 * Azure-only facts (raw blob names, Content-Type, secret-free check() errors, crash/restart).
 */
import { createHash, randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { BlobServiceClient } from '@azure/storage-blob';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { AzureRepository, scrubSecrets } from '../src/storage/azure.js';
import { contentTypeFor } from '../src/storage/content-type.js';
import { BATCH_PROBE_MIN, LocalRepository } from '../src/storage/local.js';
import { putMany, type PutItem } from '../src/storage/parallel.js';
import { openRepositoryLazily } from '../src/storage/select.js';
import type { Repository } from '../src/storage/types.js';
import { ToastyError } from '../src/util/errors.js';
import { DEV_ACCOUNT_KEY, devConnectionString, freePort, startAzurite, type AzuriteHandle } from './helpers/azurite.js';

/** Entries as the contract compares them (a listing may also carry MD5s). */
const entries = (list: Array<{ name: string; isFolder: boolean }>) => list.map(({ name, isFolder }) => ({ name, isFolder }));

const md5 = (b: Buffer | string) => createHash('md5').update(b).digest('base64');

async function rejects(p: Promise<unknown>, code: string): Promise<ToastyError> {
  try {
    await p;
  } catch (e) {
    assert.instance(e, ToastyError, `expected a ToastyError, got ${String(e)}`);
    assert.is((e as ToastyError).code, code, (e as Error).message);
    return e as ToastyError;
  }
  assert.unreachable(`expected rejection with code ${code}`);
  throw new Error('unreachable');
}

/** Messages must name the container but never carry a secret. */
function assertNoSecrets(msg: string, secrets: string[] = []) {
  assert.not.ok(msg.includes(DEV_ACCOUNT_KEY), 'message contains the account key');
  assert.not.ok(msg.includes('AccountKey'), `message contains 'AccountKey': ${msg}`);
  assert.not.ok(msg.includes('sig='), `message contains 'sig=': ${msg}`);
  for (const s of secrets) assert.not.ok(msg.includes(s), `message contains secret ${s}`);
}

// ---------------------------------------------------------------------------------------------
// One Azurite for the Azure suites (started lazily, stopped after the last Azure suite).

let shared: Promise<AzuriteHandle> | null = null;
const azurite = () => (shared ??= startAzurite());
let containerSeq = 0;

async function freshContainer(): Promise<{ az: AzuriteHandle; name: string; svc: BlobServiceClient }> {
  const az = await azurite();
  const svc = BlobServiceClient.fromConnectionString(az.connectionString);
  const name = `toasty-${process.pid}-${++containerSeq}`;
  await svc.getContainerClient(name).create();
  return { az, name, svc };
}

// ---------------------------------------------------------------------------------------------
// Contract suite, identical for every backend.

interface Backend {
  label: string;
  /** A fresh, empty, usable repository. */
  fresh(): Promise<Repository>;
  cleanup(): Promise<void>;
}

let bigFile: string | null = null;
async function tenMegFile(): Promise<string> {
  if (bigFile) return bigFile;
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'toasty-storage-big-'));
  const f = path.join(dir, 'big.bin');
  await fsp.writeFile(f, randomBytes(10 * 1024 * 1024 + 12345));
  bigFile = f;
  return f;
}

function contract(b: Backend) {
  const t = suite(`storage contract: ${b.label}`);
  t.after(() => b.cleanup());

  t('check() passes on a usable repository', async () => {
    const repo = await b.fresh();
    await repo.check();
    assert.type(repo.description, 'string');
  });

  t('put/get round trip (Buffer and string), missing item is null', async () => {
    const repo = await b.fresh();
    const png = randomBytes(3000);
    await repo.put('nrao_x/L0X0Y0.png', png);
    await repo.put('index.wtml', '<Folder Name="ü"/>');
    assert.ok((await repo.get('nrao_x/L0X0Y0.png'))!.equals(png));
    assert.is((await repo.get('index.wtml'))!.toString('utf8'), '<Folder Name="ü"/>');
    assert.is(await repo.get('nrao_x/missing.png'), null);
    assert.is(await repo.get('nope/missing.png'), null);
    // A folder is not an item.
    assert.is(await repo.get('nrao_x'), null);
  });

  t('exists and stat (size, content MD5)', async () => {
    const repo = await b.fresh();
    const data = randomBytes(777);
    await repo.put('a/b/c.jpg', data);
    assert.ok(await repo.exists('a/b/c.jpg'));
    assert.not.ok(await repo.exists('a/b/d.jpg'));
    assert.not.ok(await repo.exists('a/b'), 'a folder is not an item');
    const st = await repo.stat('a/b/c.jpg');
    assert.is(st!.size, 777);
    assert.is(st!.md5, md5(data));
    assert.is(await repo.stat('a/b/zzz.jpg'), null);
    await repo.put('empty.flag', Buffer.alloc(0));
    assert.is((await repo.stat('empty.flag'))!.size, 0);
    assert.is((await repo.get('empty.flag'))!.length, 0);
  });

  t('put overwrites', async () => {
    const repo = await b.fresh();
    await repo.put('x/index.wtml', 'first version, longer');
    await repo.put('x/index.wtml', 'second');
    assert.is((await repo.get('x/index.wtml'))!.toString(), 'second');
    assert.is((await repo.stat('x/index.wtml'))!.md5, md5('second'));
  });

  t('list one level: folders vs items, root and inside, same-prefix names, sorted', async () => {
    const repo = await b.fresh();
    for (const p of ['img1/index.wtml', 'img1/L0X0Y0.png', 'img1/sub/x.png', 'img1.wtml', 'img10/a.png', 'index.wtml', 'B.txt']) {
      await repo.put(p, p);
    }
    assert.equal(entries(await repo.list('')), [
      { name: 'B.txt', isFolder: false },
      { name: 'img1', isFolder: true },
      { name: 'img1.wtml', isFolder: false },
      { name: 'img10', isFolder: true },
      { name: 'index.wtml', isFolder: false },
    ]);
    assert.equal(entries(await repo.list('img1')), [
      { name: 'L0X0Y0.png', isFolder: false },
      { name: 'index.wtml', isFolder: false },
      { name: 'sub', isFolder: true },
    ]);
    assert.equal(entries(await repo.list('img1/sub')), [{ name: 'x.png', isFolder: false }]);
    assert.equal(entries(await repo.list('img')), [], 'no folder "img": prefix of names is not a folder');
    assert.equal(entries(await repo.list('nothing/here')), []);
  });

  t('probeFolder: which names a folder holds, from one listing, past its tiles', async () => {
    const repo = await b.fresh();
    const tiles = Array.from({ length: 40 }, (_, i) => `L3X${i % 8}Y${i >> 3}.png`);
    for (const p of ['pub/index.wtml', 'pub/thumb.jpg', ...tiles.map((t) => `pub/${t}`), 'pub/0123456789abcdef/L0X0Y0.png', 'pub/sub/skip.flag']) {
      await repo.put(p, p);
    }
    await repo.put('rejected/skip.flag', '');
    await repo.put('rejected/index.wtml', 'rejected after publishing');
    await repo.put('unfinished/L0X0Y0.png', 'tile');
    await repo.put('unfinished/toasty-build.json', '{}');
    await repo.put('index.wtml', 'root');
    const names = ['index.wtml', 'skip.flag'];
    for (const bulk of [undefined, 'L']) {
      const probe = (folder: string) => repo.probeFolder(folder, names, { bulk });
      const pub = await probe('pub');
      assert.equal([...pub.keys()], ['index.wtml'], "a skip.flag in a subfolder is not the folder's");
      if (pub.get('index.wtml')?.md5 !== undefined) assert.is(pub.get('index.wtml')!.md5, md5('pub/index.wtml'));
      assert.equal([...(await probe('rejected')).keys()].sort(), ['index.wtml', 'skip.flag']);
      assert.equal([...(await probe('unfinished')).keys()], [], 'no index.wtml: not published');
      assert.equal([...(await probe('nothing')).keys()], [], 'a missing folder holds nothing');
      assert.equal([...(await probe('pub/sub')).keys()], ['skip.flag']);
      assert.equal([...(await probe('')).keys()], ['index.wtml'], 'the root is a folder too');
    }
    // A subfolder is not an item, even when it is named like one; tiles are found when asked for.
    assert.equal([...(await repo.probeFolder('pub', ['0123456789abcdef', 'sub', 'L3X7Y4.png', 'L9X0Y0.png'])).keys()], ['L3X7Y4.png']);
    if (repo.keepsMeta) assert.is((await repo.probeFolder('rejected', ['index.wtml'])).get('index.wtml')?.md5, md5('rejected after publishing'));
    await rejects(repo.probeFolder('pub', ['a/b']), 'storage');
    await rejects(repo.probeFolder('pub', ['..']), 'storage');
    await rejects(repo.probeFolder('pub', ['Lx.png'], { bulk: 'L' }), 'storage');
    await rejects(repo.probeFolder('pub/', ['index.wtml']), 'storage');
  });

  t('list of an empty repository is empty', async () => {
    const repo = await b.fresh();
    assert.equal(entries(await repo.list('')), []);
  });

  t('delete: item gone, missing is fine, emptied folder disappears', async () => {
    const repo = await b.fresh();
    await repo.put('gone/a.png', 'a');
    await repo.put('stay/b.png', 'b');
    await repo.delete('gone/a.png');
    await repo.delete('gone/a.png');
    await repo.delete('never/was.png');
    assert.not.ok(await repo.exists('gone/a.png'));
    assert.equal(entries(await repo.list('')), [{ name: 'stay', isFolder: true }]);
    assert.is((await repo.get('stay/b.png'))!.toString(), 'b');
  });

  t('putFile: ~10 MB file round trip', async () => {
    const repo = await b.fresh();
    const f = await tenMegFile();
    const want = await fsp.readFile(f);
    await repo.putFile('big_image/image.jpg', f);
    const got = await repo.get('big_image/image.jpg');
    assert.is(got!.length, want.length);
    assert.ok(got!.equals(want), 'content differs');
    const st = await repo.stat('big_image/image.jpg');
    assert.is(st!.size, want.length);
    assert.is(st!.md5, md5(want));
  });

  t('invalid item paths are storage errors', async () => {
    const repo = await b.fresh();
    for (const bad of ['', '/abs.png', 'a//b.png', 'a/', 'a/../b.png', '..', './a.png', 'a\\b.png', 'a/./b']) {
      await rejects(repo.put(bad, 'x'), 'storage');
      await rejects(repo.get(bad), 'storage');
      await rejects(repo.exists(bad), 'storage');
      await rejects(repo.delete(bad), 'storage');
    }
    await rejects(repo.list('/x'), 'storage');
    await rejects(repo.list('x/'), 'storage');
    await rejects(repo.list('..'), 'storage');
    // Nothing was written by the rejected calls.
    assert.equal(entries(await repo.list('')), []);
  });

  t('metadata: bad keys rejected; stored when the backend keeps it', async () => {
    const repo = await b.fresh();
    await rejects(repo.put('m.png', 'x', { meta: { 'Bad-Key': '1' } }), 'storage');
    await repo.put('m.png', 'x', { meta: { toasty_hash: 'abc123' } });
    const st = await repo.stat('m.png');
    if (repo.keepsMeta) assert.equal(st!.meta, { toasty_hash: 'abc123' });
    else assert.is(st!.meta, undefined);
  });

  t('putMany: bounded concurrency uploads all, from data and files', async () => {
    const repo = await b.fresh();
    const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'toasty-putmany-'));
    try {
      const items: PutItem[] = [];
      for (let i = 0; i < 40; i++) items.push({ path: `many/L2X${i % 4}Y${i >> 2}.png`, data: `tile ${i}` });
      await fsp.writeFile(path.join(dir, 'thumb.jpg'), 'thumb bytes');
      items.push({ path: 'many/thumb.jpg', file: path.join(dir, 'thumb.jpg') });
      const seen: string[] = [];
      const n = await putMany(repo, items, 8, { onDone: (it) => void seen.push(it.path) });
      assert.is(n, 41);
      assert.is(seen.length, 41);
      assert.is((await repo.list('many')).length, 41);
      assert.is((await repo.get('many/L2X3Y9.png'))!.toString(), 'tile 39');
      assert.is((await repo.get('many/thumb.jpg'))!.toString(), 'thumb bytes');
    } finally {
      await fsp.rm(dir, { recursive: true, force: true });
    }
  });

  t('putMany: first failure is thrown and no new uploads start', async () => {
    const repo = await b.fresh();
    function* gen(): Generator<PutItem> {
      yield { path: 'f/a.png', data: 'a' };
      yield { path: 'f//bad.png', data: 'x' };
      for (let i = 0; i < 50; i++) yield { path: `f/late${i}.png`, data: 'late' };
    }
    await rejects(putMany(repo, gen(), 1), 'storage');
    assert.equal(entries(await repo.list('f')), [{ name: 'a.png', isFolder: false }]);
  });

  t.run();
}

// ---------------------------------------------------------------------------------------------

const ct = suite('contentTypeFor');
ct('maps the published file kinds', () => {
  assert.is(contentTypeFor('x/L4X3Y3.png'), 'image/png');
  assert.is(contentTypeFor('x/image.jpg'), 'image/jpeg');
  assert.is(contentTypeFor('x/IMAGE.JPEG'), 'image/jpeg');
  assert.is(contentTypeFor('index.wtml'), 'text/xml; charset=utf-8');
  assert.is(contentTypeFor('a/b.xml'), 'text/xml; charset=utf-8');
  assert.is(contentTypeFor('astropix.json'), 'application/json');
  assert.is(contentTypeFor('toasty-pipeline-config.yaml'), 'text/yaml');
  assert.is(contentTypeFor('c.yml'), 'text/yaml');
  assert.is(contentTypeFor('x/done.flag'), 'application/octet-stream');
  assert.is(contentTypeFor('x/noext'), 'application/octet-stream');
  assert.is(contentTypeFor('a.png/noext'), 'application/octet-stream');
});
ct.run();

// ---------------------------------------------------------------------------------------------

const scrub = suite('scrubSecrets');
scrub('drops query strings, keys, signatures and SharedKey headers', () => {
  const text =
    'GET https://acct.blob.core.windows.net/c/x.png?sv=2021&sig=abcDEF%2B123 failed; ' +
    'DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=c2VjcmV0a2V5MTIzNDU2Nzg=;EndpointSuffix=core.windows.net ' +
    'Authorization: SharedKey acct:ZmFrZXNpZ25hdHVyZQ== sig=loose';
  const out = scrubSecrets(text, ['c2VjcmV0a2V5MTIzNDU2Nzg=']);
  assert.ok(out.includes('https://acct.blob.core.windows.net/c/x.png'), out);
  assertNoSecrets(out, ['c2VjcmV0a2V5MTIzNDU2Nzg=', 'abcDEF', 'ZmFrZXNpZ25hdHVyZQ']);
});
scrub.run();

// ---------------------------------------------------------------------------------------------

const open = suite('openRepositoryLazily');
const conn = `DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=${DEV_ACCOUNT_KEY};BlobEndpoint=http://127.0.0.1:9/devstoreaccount1;`;

open('neither kind given', async () => {
  const e = await rejects(openRepositoryLazily({}, {}), 'usage');
  assert.match(e.message, /--local/);
  assert.match(e.message, /--azure-conn-env/);
});
open('both kinds given: pick one', async () => {
  for (const az of [{ azureConnEnv: 'V', azureContainer: 'c-1' }, { azureContainer: 'c-1' }, { azurePathPrefix: 'p' }]) {
    const e = await rejects(openRepositoryLazily({ local: '/tmp/x', ...az }, { V: conn }), 'usage');
    assert.match(e.message, /pick one/);
  }
});
open('conn-env without container and container without conn-env', async () => {
  assert.match((await rejects(openRepositoryLazily({ azureConnEnv: 'V' }, { V: conn }), 'usage')).message, /--azure-container/);
  assert.match((await rejects(openRepositoryLazily({ azureContainer: 'c-1' }, { V: conn }), 'usage')).message, /--azure-conn-env/);
});
open('unset or empty variable is named, value never shown', async () => {
  const unset = await rejects(openRepositoryLazily({ azureConnEnv: 'TOASTY_CONN', azureContainer: 'c-1' }, {}), 'usage');
  assert.match(unset.message, /TOASTY_CONN/);
  assert.match(unset.message, /not set/);
  const empty = await rejects(openRepositoryLazily({ azureConnEnv: 'TOASTY_CONN', azureContainer: 'c-1' }, { TOASTY_CONN: '  ' }), 'usage');
  assert.match(empty.message, /TOASTY_CONN/);
  assert.match(empty.message, /empty/);
  // Someone pasting the connection string itself instead of a variable name.
  const pasted = await rejects(openRepositoryLazily({ azureConnEnv: conn, azureContainer: 'c-1' }, {}), 'usage');
  assertNoSecrets(pasted.message);
});
open('bad connection string and bad container name are usage errors without secrets', async () => {
  const e = await rejects(openRepositoryLazily({ azureConnEnv: 'V', azureContainer: 'c-1' }, { V: `AccountKey=${DEV_ACCOUNT_KEY}` }), 'usage');
  assert.match(e.message, /\$V/);
  assertNoSecrets(e.message);
  await rejects(openRepositoryLazily({ azureConnEnv: 'V', azureContainer: 'Bad_Name' }, { V: conn }), 'usage');
});
open('opens the right backend with a secret-free description', async () => {
  const local = await openRepositoryLazily({ local: 'some/dir' }, {});
  assert.instance(local, LocalRepository);
  assert.is(local.description, `local folder ${path.resolve('some/dir')}`);
  assert.is((await openRepositoryLazily({ local: '/data/wwt' }, {})).description, 'local folder /data/wwt');
  const az = await openRepositoryLazily({ azureConnEnv: 'V', azureContainer: 'c-1', azurePathPrefix: '/feeds//nrao/' }, { V: conn });
  assert.instance(az, AzureRepository);
  assert.is((az as AzureRepository).pathPrefix, 'feeds/nrao');
  assert.match(az.description, /Azure container c-1/);
  assert.match(az.description, /prefix feeds\/nrao/);
  assert.match(az.description, /127\.0\.0\.1:9/);
  assertNoSecrets(az.description);
});
open.run();

// ---------------------------------------------------------------------------------------------

const localDirs: string[] = [];
contract({
  label: 'local folder',
  async fresh() {
    const d = await fsp.mkdtemp(path.join(os.tmpdir(), 'toasty-repo-'));
    localDirs.push(d);
    return new LocalRepository(d);
  },
  async cleanup() {
    for (const d of localDirs.splice(0)) await fsp.rm(d, { recursive: true, force: true });
  },
});

const local = suite('local folder specifics');
local('check(): missing folder and a file instead of a folder', async () => {
  const d = await fsp.mkdtemp(path.join(os.tmpdir(), 'toasty-repo-'));
  try {
    const missing = await rejects(new LocalRepository(path.join(d, 'nope')).check(), 'storage');
    assert.match(missing.message, /does not exist/);
    assert.ok(missing.message.includes(path.join(d, 'nope')));
    await fsp.writeFile(path.join(d, 'file'), 'x');
    assert.match((await rejects(new LocalRepository(path.join(d, 'file')).check(), 'storage')).message, /not a folder/);
  } finally {
    await fsp.rm(d, { recursive: true, force: true });
  }
});
local('writes land atomically and temp files are never listed', async () => {
  const d = await fsp.mkdtemp(path.join(os.tmpdir(), 'toasty-repo-'));
  try {
    const repo = new LocalRepository(d);
    await repo.put('id/L0X0Y0.png', 'x');
    assert.equal(await fsp.readdir(path.join(d, 'id')), ['L0X0Y0.png']);
    // A temp file left by a crashed writer (util/fs.ts naming) is not an item.
    await fsp.writeFile(path.join(d, 'id', '.L1X0Y0.png.1234.deadbeef.tmp'), 'half');
    assert.equal(entries(await repo.list('id')), [{ name: 'L0X0Y0.png', isFolder: false }]);
    assert.is(await fsp.readFile(path.join(d, 'id', 'L0X0Y0.png'), 'utf8'), 'x');
  } finally {
    await fsp.rm(d, { recursive: true, force: true });
  }
});
local('symbolic links leading out of the repository are never written, deleted, read or listed through', async () => {
  const d = await fsp.mkdtemp(path.join(os.tmpdir(), 'toasty-repo-'));
  try {
    const repo = path.join(d, 'repo');
    const outside = path.join(d, 'outside');
    await fsp.mkdir(path.join(repo, 'real'), { recursive: true });
    await fsp.mkdir(outside);
    await fsp.writeFile(path.join(outside, 'index.wtml'), 'outside');
    await fsp.symlink(outside, path.join(repo, 'escape'));
    await fsp.symlink(path.join(outside, 'index.wtml'), path.join(repo, 'real', 'linked.wtml'));
    await fsp.symlink(path.join(repo, 'real'), path.join(repo, 'inside'));
    await fsp.symlink(path.join(d, 'nothing-here'), path.join(repo, 'dangling'));
    const r = new LocalRepository(repo);

    for (const p of ['escape/thumb.jpg', 'escape/index.wtml', 'dangling/x.png']) {
      const e = await rejects(r.put(p, 'x'), 'storage');
      assert.match(e.message, new RegExp(`refused to write ${p.replace('.', '\\.')}: ${p.split('/')[0]} is a symbolic link to .*, outside the repository`));
    }
    await rejects(r.putFile('escape/y.jpg', path.join(outside, 'index.wtml')), 'storage');
    await rejects(r.delete('escape/index.wtml'), 'storage');
    assert.equal(await fsp.readdir(outside), ['index.wtml'], 'nothing written or deleted outside');
    assert.is(await fsp.readFile(path.join(outside, 'index.wtml'), 'utf8'), 'outside');
    // Reads find nothing, listings leave the links out.
    assert.is(await r.get('escape/index.wtml'), null);
    assert.is(await r.exists('escape/index.wtml'), false);
    const probe = async (folder: string, ...names: string[]) => [...(await r.probeFolder(folder, names)).keys()].sort();
    assert.equal(await probe('escape', 'index.wtml'), [], 'the survey does not see through the link either');
    assert.equal(await probe('real', 'linked.wtml'), []);
    assert.equal(await probe('dangling', 'x.png'), []);
    await fsp.writeFile(path.join(repo, 'real', 'index.wtml'), 'inside');
    await fsp.symlink(path.join(repo, 'real', 'index.wtml'), path.join(repo, 'real', 'skip.flag'));
    assert.equal(await probe('real', 'index.wtml', 'linked.wtml', 'skip.flag'), ['index.wtml', 'skip.flag'], 'a link to a file inside is an item');
    assert.equal(await probe('inside', 'index.wtml', 'linked.wtml'), ['index.wtml'], 'a link that stays inside is followed');
    assert.equal(await probe('', 'real', 'inside', 'escape'), [], 'a folder is not an item');
    assert.equal(await probe('real/index.wtml', 'x'), []);
    await fsp.rm(path.join(repo, 'real', 'skip.flag'));
    await fsp.rm(path.join(repo, 'real', 'index.wtml'));
    assert.is(await r.stat('real/linked.wtml'), null);
    assert.equal(await r.list('escape'), []);
    assert.equal(await r.list(''), [
      { name: 'inside', isFolder: true },
      { name: 'real', isFolder: true },
    ]);
    assert.equal(await r.list('real'), []);
    // Probed after a listing of the root, as the survey does: a linked folder still goes the careful way.
    await fsp.writeFile(path.join(repo, 'real', 'index.wtml'), 'inside');
    await r.list('');
    assert.equal(await probe('escape', 'index.wtml'), [], 'not through the link after a listing either');
    assert.equal(await probe('inside', 'index.wtml'), ['index.wtml']);
    assert.equal(await probe('real', 'index.wtml', 'linked.wtml'), ['index.wtml']);
    await fsp.rm(path.join(repo, 'real', 'index.wtml'));
    // A link that stays inside works as before; replacing a linked file replaces the link only.
    await r.put('inside/a.txt', 'a');
    assert.is(await fsp.readFile(path.join(repo, 'real', 'a.txt'), 'utf8'), 'a');
    assert.is((await r.get('inside/a.txt'))?.toString(), 'a');
    await r.put('real/linked.wtml', 'mine');
    assert.is(await fsp.readFile(path.join(outside, 'index.wtml'), 'utf8'), 'outside');
    assert.is((await r.get('real/linked.wtml'))?.toString(), 'mine');
  } finally {
    await fsp.rm(d, { recursive: true, force: true });
  }
});
local('probeFolders over many folders (a worker thread) answers as probeFolder does, links included', async () => {
  const d = await fsp.mkdtemp(path.join(os.tmpdir(), 'toasty-repo-'));
  try {
    const repo = path.join(d, 'repo');
    const outside = path.join(d, 'outside');
    await fsp.mkdir(outside);
    await fsp.writeFile(path.join(outside, 'index.wtml'), 'outside');
    const count = BATCH_PROBE_MIN + 200;
    const folders = Array.from({ length: count }, (_, i) => `img${i}`);
    for (const [i, f] of folders.entries()) {
      const dir = path.join(repo, f);
      await fsp.mkdir(dir, { recursive: true });
      if (i % 5 === 0) await fsp.writeFile(path.join(dir, 'index.wtml'), f);
      if (i % 7 === 0) await fsp.writeFile(path.join(dir, 'skip.flag'), '');
    }
    await fsp.symlink(path.join(outside, 'index.wtml'), path.join(repo, 'img1', 'index.wtml'));
    await fsp.symlink(path.join(repo, 'img0', 'index.wtml'), path.join(repo, 'img2', 'index.wtml'));
    await fsp.mkdir(path.join(repo, 'img3', 'index.wtml'));
    await fsp.symlink(outside, path.join(repo, 'escape'));
    await fsp.symlink(path.join(repo, 'img0'), path.join(repo, 'inside'));
    const r = new LocalRepository(repo);
    const listed = (await r.list('')).filter((e) => e.isFolder).map((e) => e.name);
    assert.equal(listed.length, count + 1, 'the link leading out is not listed');
    const names = ['index.wtml', 'skip.flag'];
    const all = [...listed, 'escape', 'missing'];
    const batch = await r.probeFolders(all, names, { bulk: 'L' });
    const keys = (m: Map<string, unknown> | undefined) => [...(m ?? new Map()).keys()].sort();
    for (const f of all) assert.equal(keys(batch.get(f)), keys(await r.probeFolder(f, names, { bulk: 'L' })), f);
    assert.equal(keys(batch.get('img1')), [], 'a link leading out is no item');
    assert.equal(keys(batch.get('img2')), ['index.wtml'], 'a link to a file inside is one');
    assert.equal(keys(batch.get('img3')), [], 'a folder is no item');
    assert.equal(keys(batch.get('inside')), ['index.wtml', 'skip.flag']);
    assert.equal(keys(batch.get('escape')), []);
    // Every fifth folder, plus img2 (a link inside) and inside (a linked folder).
    assert.is([...batch.values()].filter((m) => m.has('index.wtml')).length, Math.ceil(count / 5) + 2);
  } finally {
    await fsp.rm(d, { recursive: true, force: true });
  }
});
local.run();

// ---------------------------------------------------------------------------------------------

for (const prefix of ['', 'feeds/nrao']) {
  const containers: string[] = [];
  contract({
    label: `Azure (Azurite), prefix '${prefix}'`,
    async fresh() {
      const { az, name } = await freshContainer();
      containers.push(name);
      return new AzureRepository({ connectionString: az.connectionString, container: name, pathPrefix: prefix });
    },
    async cleanup() {
      const az = await azurite();
      const svc = BlobServiceClient.fromConnectionString(az.connectionString);
      for (const c of containers.splice(0)) await svc.getContainerClient(c).deleteIfExists();
    },
  });
}

const azs = suite('Azure specifics (Azurite)');

azs('blob names: prefix + path joined with "/", no leading "/", prefix slashes normalised', async () => {
  const { az, name, svc } = await freshContainer();
  const cc = svc.getContainerClient(name);
  const names = async () => {
    const out: string[] = [];
    for await (const b of cc.listBlobsFlat()) out.push(b.name);
    return out.sort();
  };
  await new AzureRepository({ connectionString: az.connectionString, container: name }).put('id1/L0X0Y0.png', 'a');
  await new AzureRepository({ connectionString: az.connectionString, container: name, pathPrefix: 'feeds/nrao' }).put('index.wtml', 'b');
  await new AzureRepository({ connectionString: az.connectionString, container: name, pathPrefix: '/feeds//nrao/' }).put('id2/thumb.jpg', 'c');
  await new AzureRepository({ connectionString: az.connectionString, container: name, pathPrefix: 'single' }).put('x.png', 'd');
  assert.equal(await names(), ['feeds/nrao/id2/thumb.jpg', 'feeds/nrao/index.wtml', 'id1/L0X0Y0.png', 'single/x.png']);
  // The prefixed repository sees only its own part of the container.
  const pre = new AzureRepository({ connectionString: az.connectionString, container: name, pathPrefix: 'feeds/nrao' });
  assert.equal(entries(await pre.list('')), [
    { name: 'id2', isFolder: true },
    { name: 'index.wtml', isFolder: false },
  ]);
  assert.is(pre.blobName('a/b.png'), 'feeds/nrao/a/b.png');
});

azs('Content-Type is set on blobs (put and putFile), explicit type wins', async () => {
  const { az, name, svc } = await freshContainer();
  const repo = new AzureRepository({ connectionString: az.connectionString, container: name, pathPrefix: 'p' });
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'toasty-ct-'));
  try {
    await fsp.writeFile(path.join(dir, 'thumb.jpg'), 'jpegish');
    await repo.put('i/L1X0Y0.png', 'x');
    await repo.putFile('i/thumb.jpg', path.join(dir, 'thumb.jpg'));
    await repo.put('i/index.wtml', '<x/>');
    await repo.put('toasty-pipeline-config.yaml', 'a: 1');
    await repo.put('i/astropix.json', '{}');
    await repo.put('i/done.flag', '');
    await repo.put('i/custom.bin', 'x', { contentType: 'image/webp' });
    const typeOf = async (blob: string) => (await svc.getContainerClient(name).getBlobClient(blob).getProperties()).contentType;
    assert.is(await typeOf('p/i/L1X0Y0.png'), 'image/png');
    assert.is(await typeOf('p/i/thumb.jpg'), 'image/jpeg');
    assert.is(await typeOf('p/i/index.wtml'), 'text/xml; charset=utf-8');
    assert.is(await typeOf('p/toasty-pipeline-config.yaml'), 'text/yaml');
    assert.is(await typeOf('p/i/astropix.json'), 'application/json');
    assert.is(await typeOf('p/i/done.flag'), 'application/octet-stream');
    assert.is(await typeOf('p/i/custom.bin'), 'image/webp');
  } finally {
    await fsp.rm(dir, { recursive: true, force: true });
  }
});

azs('putFile of a big file goes up in blocks and keeps Content-Type and MD5', async () => {
  const { az, name, svc } = await freshContainer();
  const repo = new AzureRepository({ connectionString: az.connectionString, container: name, blockSize: 1024 * 1024, maxSingleShotSize: 2 * 1024 * 1024 });
  const f = await tenMegFile();
  await repo.putFile('big/image.jpg', f);
  const bbc = svc.getContainerClient(name).getBlockBlobClient('big/image.jpg');
  const blocks = await bbc.getBlockList('committed');
  assert.is(blocks.committedBlocks!.length, 11, 'expected 1 MiB blocks');
  const props = await bbc.getProperties();
  assert.is(props.contentType, 'image/jpeg');
  assert.is(Buffer.from(props.contentMD5!).toString('base64'), md5(await fsp.readFile(f)));
});

const checkSecrets = (e: ToastyError, container: string, host: string, extra: string[] = []) => {
  assert.ok(e.message.includes(container), `names the container: ${e.message}`);
  assert.ok(e.message.includes(host), `names the endpoint host: ${e.message}`);
  assertNoSecrets(e.message, extra);
  assert.is(e.cause, undefined, 'the raw SDK error (with its request) is not attached');
  assert.not.ok(JSON.stringify(e).includes('AccountKey'));
};

azs('check(): missing container', async () => {
  const az = await azurite();
  const repo = new AzureRepository({ connectionString: az.connectionString, container: 'no-such-container' });
  const e = await rejects(repo.check(), 'storage');
  assert.match(e.message, /does not exist/);
  checkSecrets(e, 'no-such-container', `127.0.0.1:${az.port}`);
});

azs('check(): wrong AccountKey', async () => {
  const { az, name } = await freshContainer();
  const wrongKey = randomBytes(64).toString('base64');
  const repo = new AzureRepository({ connectionString: devConnectionString(az.blobEndpoint, wrongKey), container: name });
  const e = await rejects(repo.check(), 'storage');
  assert.match(e.message, /403/);
  checkSecrets(e, name, `127.0.0.1:${az.port}`, [wrongKey]);
  // Ordinary operations with the wrong key fail the same way, also without secrets.
  const g = await rejects(repo.get('x/index.wtml'), 'storage');
  checkSecrets(g, name, `127.0.0.1:${az.port}`, [wrongKey]);
  const p = await rejects(repo.put('x/index.wtml', 'x'), 'storage');
  checkSecrets(p, name, `127.0.0.1:${az.port}`, [wrongKey]);
});

azs('check(): bad SAS signature, message carries no SAS', async () => {
  const { az, name } = await freshContainer();
  const sig = encodeURIComponent(randomBytes(32).toString('base64'));
  const sas = `sv=2021-08-06&ss=b&srt=sco&sp=rwdlac&se=2099-01-01T00:00:00Z&spr=http&sig=${sig}`;
  const cs = `BlobEndpoint=${az.blobEndpoint};SharedAccessSignature=${sas}`;
  const repo = new AzureRepository({ connectionString: cs, container: name });
  const e = await rejects(repo.check(), 'storage');
  checkSecrets(e, name, `127.0.0.1:${az.port}`, [sig, sas]);
  const g = await rejects(repo.list('x'), 'storage');
  checkSecrets(g, name, `127.0.0.1:${az.port}`, [sig, sas]);
  assert.not.ok(repo.description.includes('sig'));
});

azs('check(): unreachable endpoint (closed port) fails in seconds', async () => {
  const port = await freePort();
  const repo = new AzureRepository({
    connectionString: devConnectionString(`http://127.0.0.1:${port}/devstoreaccount1`),
    container: 'toasty-unreachable',
  });
  const t0 = Date.now();
  const e = await rejects(repo.check(), 'storage');
  assert.ok(Date.now() - t0 < 5_000, `took ${Date.now() - t0} ms`);
  assert.match(e.message, /cannot reach/);
  assert.match(e.message, /ECONNREFUSED/);
  checkSecrets(e, 'toasty-unreachable', `127.0.0.1:${port}`);
});

azs('check(): endpoint that never answers is bounded by checkTimeoutMs', async () => {
  const sockets: net.Socket[] = [];
  const srv = net.createServer((s) => void sockets.push(s));
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as net.AddressInfo).port;
  try {
    const repo = new AzureRepository({
      connectionString: devConnectionString(`http://127.0.0.1:${port}/devstoreaccount1`),
      container: 'toasty-silent',
      checkTimeoutMs: 800,
    });
    const t0 = Date.now();
    const e = await rejects(repo.check(), 'storage');
    assert.ok(Date.now() - t0 < 3_000, `took ${Date.now() - t0} ms`);
    assert.match(e.message, /no answer within/);
    checkSecrets(e, 'toasty-silent', `127.0.0.1:${port}`);
  } finally {
    for (const s of sockets) s.destroy();
    await new Promise((r) => srv.close(r));
  }
});

azs('operations on a missing container are errors, not "missing item"', async () => {
  const az = await azurite();
  const repo = new AzureRepository({ connectionString: az.connectionString, container: 'gone-container' });
  for (const p of [repo.get('a.png'), repo.exists('a.png'), repo.stat('a.png'), repo.list('')]) {
    const e = await rejects(p, 'storage');
    assert.match(e.message, /container does not exist/);
  }
});

azs.after(async () => {
  if (shared) await (await shared).stop();
  shared = null;
  if (bigFile) await fsp.rm(path.dirname(bigFile), { recursive: true, force: true });
  bigFile = null;
});
azs.run();

// ---------------------------------------------------------------------------------------------

const crash = suite('Azurite killed mid-way, restarted on the same location');
crash('data written before the kill is readable after restart; calls during the outage fail cleanly', async () => {
  const az = await startAzurite();
  try {
    const svc = BlobServiceClient.fromConnectionString(az.connectionString);
    await svc.getContainerClient('crash-test').create();
    const repo = new AzureRepository({
      connectionString: az.connectionString,
      container: 'crash-test',
      pathPrefix: 'feeds/nrao',
      retry: { maxTries: 2, retryDelayInMs: 50, maxRetryDelayInMs: 50 },
    });
    const tiles = Array.from({ length: 20 }, (_, i) => ({ path: `img/L1X${i % 2}Y${i >> 1}.png`, data: randomBytes(500 + i) }));
    await putMany(repo, tiles, 8);
    await repo.put('img/index.wtml', '<Folder/>');
    await az.waitPersisted();
    az.kill();
    const down = await rejects(repo.get('img/index.wtml'), 'storage');
    assert.match(down.message, /crash-test/);
    await az.restart();
    await repo.check();
    for (const t of tiles) assert.ok((await repo.get(t.path))!.equals(t.data), t.path);
    assert.is((await repo.get('img/index.wtml'))!.toString(), '<Folder/>');
    assert.is((await repo.list('img')).length, 21);
    // And it takes writes again.
    await repo.put('img/after.png', 'ok');
    assert.is((await repo.get('img/after.png'))!.toString(), 'ok');
  } finally {
    await az.stop();
  }
  assert.not.ok(
    await fsp.stat(az.location).then(
      () => true,
      () => false,
    ),
    'temp location removed',
  );
});
crash.run();
