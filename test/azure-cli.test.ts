// Azure as a production repository, through the real CLI and a real Azurite: pre-flight
// failures stop with exit 2 before any work and never show a secret; Azurite dying in the
// middle of a publish leaves every image complete or invisible, and the next run completes.
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import {
  AccountSASPermissions,
  AccountSASResourceTypes,
  AccountSASServices,
  BlobServiceClient,
  StorageSharedKeyCredential,
  generateAccountSASQueryParameters,
} from '@azure/storage-blob';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { AzureRepository } from '../src/storage/azure.js';
import { parseWtml } from '../src/wwt/wtml.js';
import { tileFileName } from '../src/wwt/study-files.js';
import { tilesPerLevel } from '../src/wwt/tiling.js';
import { DEV_ACCOUNT, DEV_ACCOUNT_KEY, devConnectionString, startAzurite } from './helpers/azurite.js';
import { Fixture, IDS, runToasty, sharedAzurite, stopSharedAzurite } from './helpers/pipeline-fixture.js';

const SECRETS = [DEV_ACCOUNT_KEY, 'AccountKey', 'sig='];
const noSecrets = (text: string) => {
  for (const s of SECRETS) assert.not.ok(text.includes(s), `output shows a secret (${s.slice(0, 10)}...)`);
};

test('pre-flight: missing container, bad key, unreachable endpoint -> exit 2, no work, no secret', async () => {
  const az = await sharedAzurite();
  const work = await fsp.mkdtemp(path.join((await import('node:os')).tmpdir(), 'toasty-azcli-'));
  try {
    const badKey = devConnectionString(az.blobEndpoint, Buffer.from('not the key at all, really not').toString('base64'));
    const closed = devConnectionString('http://127.0.0.1:9/devstoreaccount1');
    const cases: Array<[string, Record<string, string>, string[], RegExp]> = [
      ['missing container', { AZ: az.connectionString }, ['--azure-container=nosuchcontainer'], /nosuchcontainer/],
      ['bad credentials', { AZ: badKey }, ['--azure-container=nosuchcontainer2'], /nosuchcontainer2/],
      ['unreachable endpoint', { AZ: closed }, ['--azure-container=somewhere'], /somewhere/],
      ['variable unset', {}, ['--azure-container=somewhere'], /AZ.*(not set|empty)/],
    ];
    for (const [label, env, args, message] of cases) {
      const r = await runToasty(['make', '--azure-conn-env=AZ', ...args, path.join(work, label.replace(/ /g, '-')), '--json'], { AZ: '', ...env });
      assert.is(r.code, 2, `${label}: exit 2\n${r.stderr}`);
      assert.match(r.stderr, message, label);
      noSecrets(r.stdout + r.stderr);
      assert.not.ok(
        await fsp.access(path.join(work, label.replace(/ /g, '-'), 'cache_todo')).then(
          () => true,
          () => false,
        ),
        `${label}: no work started`,
      );
    }
  } finally {
    await fsp.rm(work, { recursive: true, force: true });
  }
});

/** A connection string holding only an account SAS for blobs with `permissions` (e.g. 'rl'). */
function sasConnectionString(blobEndpoint: string, permissions: string): { conn: string; sig: string } {
  const sas = generateAccountSASQueryParameters(
    {
      services: AccountSASServices.parse('b').toString(),
      resourceTypes: AccountSASResourceTypes.parse('sco').toString(),
      permissions: AccountSASPermissions.parse(permissions),
      expiresOn: new Date(Date.now() + 3600_000),
    },
    new StorageSharedKeyCredential(DEV_ACCOUNT, DEV_ACCOUNT_KEY),
  );
  return { conn: `BlobEndpoint=${blobEndpoint};SharedAccessSignature=${sas.toString()}`, sig: sas.signature };
}

test('pre-flight: a read-only SAS is refused before any work (exit 2); a SAS that may write passes, leaving no probe', async () => {
  const f = await Fixture.create({ kind: 'azure', prefix: 'feeds/astropix' });
  try {
    const az = await sharedAzurite();
    const container = f.repoArgs.find((a) => a.startsWith('--azure-container='))!.split('=')[1]!;
    const before = await f.repo.list('');
    const readOnly = sasConnectionString(az.blobEndpoint, 'rl');
    f.env.TOASTY_TEST_AZ = readOnly.conn;
    const r = await f.run('make', '--json');
    assert.is(r.code, 2, r.stderr);
    assert.match(
      r.stderr,
      new RegExp(`cannot write to Azure container ${container} at .* under feeds/astropix/: the credentials allow reading but not writing`),
    );
    noSecrets(r.stdout + r.stderr);
    assert.not.ok((r.stdout + r.stderr).includes(readOnly.sig), 'the SAS signature is not shown');
    assert.not.ok(
      await fsp.access(path.join(f.workdir, 'cache_todo')).then(
        () => true,
        () => false,
      ),
      'nothing downloaded',
    );
    assert.equal(await f.repo.list(''), before, 'the repository is unchanged');

    f.env.TOASTY_TEST_AZ = sasConnectionString(az.blobEndpoint, 'racwdl').conn;
    const ok = await f.run('make');
    assert.is(ok.code, 0, ok.stderr);
    for (const id of [IDS.ngc253, IDS.ngc7552]) assert.ok(await f.text(`${id}/index.wtml`), `${id} published`);
    assert.not.ok(
      (await f.repo.list('')).some((e) => e.name.startsWith('.toasty-write-probe')),
      'the probe blob was removed',
    );
  } finally {
    await f.close();
  }
});

test('a successful run prints no secret either', async () => {
  const f = await Fixture.create({ kind: 'azure', prefix: 'p' });
  try {
    const r = await f.run('make', '--json', '-v');
    assert.is(r.code, 0, r.stderr);
    noSecrets(r.stdout + r.stderr);
    const manifest = await fsp.readFile(path.join(f.workdir, 'toasty-manifest.json'), 'utf8');
    noSecrets(manifest);
  } finally {
    await f.close();
  }
});

test('Azurite killed mid-publish, restarted: complete or invisible, then the next run completes', async () => {
  const az = await startAzurite();
  const f = await Fixture.create({ kind: 'local' }); // replaced by an Azure repository below
  try {
    const container = 'midpublish';
    await BlobServiceClient.fromConnectionString(az.connectionString).createContainer(container);
    f.repo = new AzureRepository({ connectionString: az.connectionString, container, pathPrefix: '' });
    f.env.AZ = az.connectionString;
    f.repoArgs = ['--azure-conn-env=AZ', `--azure-container=${container}`];
    await f.writeConfig();
    // Fetch and process first, so the publish is what gets interrupted.
    assert.is((await f.run('pipeline-fetch-inputs')).code, 0);
    assert.is((await f.run('pipeline-process-todos')).code, 0);
    // Azurite saves its metadata every few seconds: make sure the container itself survives.
    await az.waitPersisted();
    const publishing = f.run('make', '--json');
    // Kill Azurite once the first files have gone up.
    const done = path.join(f.workdir, 'out_done');
    for (
      let i = 0;
      i < 500 &&
      !(await fsp.access(done).then(
        () => true,
        () => false,
      ));
      i++
    )
      await new Promise((r) => setTimeout(r, 10));
    az.kill();
    const first = await publishing;
    assert.is(first.code, 1, `the interrupted run reports failure\n${first.stderr}`);
    noSecrets(first.stdout + first.stderr);
    await az.restart();
    await checkComplete(f);
    const again = await f.run('make', '--json');
    assert.is(again.code, 0, again.stderr);
    const complete = await checkComplete(f);
    assert.equal(complete, [IDS.ngc7552, IDS.ngc253].sort());
    const root = parseWtml((await f.text('index.wtml'))!);
    assert.is(root.children.length, 2);
  } finally {
    await f.close();
    await az.stop();
    await stopSharedAzurite();
  }
});

const SIZES: Record<string, [number, number]> = { [IDS.ngc253]: [2166, 2129], [IDS.ngc7552]: [1280, 876] };

async function checkComplete(f: Fixture): Promise<string[]> {
  const complete: string[] = [];
  for (const e of await f.repo.list('')) {
    if (!e.isFolder) continue;
    const text = await f.text(`${e.name}/index.wtml`);
    if (!text) continue;
    const place = parseWtml(text).children[0];
    const names = new Set((await f.repo.list(e.name)).map((x) => x.name));
    const [w, h] = SIZES[e.name];
    const needed = ['thumb.jpg'];
    if (place.imageSet.tileLevels > 0) {
      for (const [level, tiles] of tilesPerLevel(w, h)) for (const [x, y] of tiles) needed.push(tileFileName(level, x, y));
    } else needed.push('image.jpg');
    for (const n of needed) assert.ok(names.has(n), `${e.name}/index.wtml is published but ${n} is missing`);
    complete.push(e.name);
  }
  const rootText = await f.text('index.wtml');
  if (rootText) {
    for (const p of parseWtml(rootText).children) {
      const id = p.imageSet.url.split('/').at(-2)!;
      assert.ok(complete.includes(id), `root index lists ${id}, which is not completely published`);
    }
  }
  return complete.sort();
}

test.run();
