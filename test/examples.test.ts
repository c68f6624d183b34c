// The cluster and CI examples are real: the Kubernetes Jobs validate against the Kubernetes
// schemas (kubernetes-models), and their exact toasty arguments run against Azurite, shard by
// shard as an Indexed Job would, then the reindex Job; the CI workflow shards the same way.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BlobServiceClient } from '@azure/storage-blob';
import { Job } from 'kubernetes-models/batch/v1';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import YAML from 'yaml';
import { AzureRepository } from '../src/storage/azure.js';
import { parseWtml } from '../src/wwt/wtml.js';
import { startAzurite } from './helpers/azurite.js';
import { ROOT, runToasty } from './helpers/pipeline-fixture.js';
import { type Handler, startTestServer } from './helpers/http-server.js';

const read = async (name: string) => YAML.parse(await fsp.readFile(path.join(ROOT, 'examples', name), 'utf8'));

interface Container {
  args: string[];
  env: Array<{ name: string; valueFrom?: { secretKeyRef?: { name: string; key: string } } }>;
  volumeMounts: Array<{ name: string; mountPath: string }>;
  resources: { requests: { memory: string } };
}

function containerOf(doc: { spec: { template: { spec: { containers: Container[] } } } }): Container {
  return doc.spec.template.spec.containers[0];
}

test('the Kubernetes Jobs validate against the Kubernetes schemas and are wired as toasty needs', async () => {
  const ingest = await read('kubernetes/indexed-job.yaml');
  const reindex = await read('kubernetes/reindex-job.yaml');
  for (const doc of [ingest, reindex]) new Job(doc).validate(); // throws on any schema violation
  // A schema check catches wrong fields: prove it does on a broken copy.
  assert.throws(() => new Job({ ...ingest, spec: { ...ingest.spec, completionMode: 7 } }).validate());

  assert.is(ingest.spec.completionMode, 'Indexed');
  assert.is(ingest.spec.template.spec.restartPolicy, 'Never');
  assert.ok(ingest.spec.backoffLimitPerIndex >= 1, 'a retry limit per index');
  const c = containerOf(ingest);
  const shards = Number(c.args.find((a) => a.startsWith('--shard-count='))!.split('=')[1]);
  assert.is(shards, ingest.spec.completions, '--shard-count matches the completions');
  for (const doc of [ingest, reindex]) {
    const k = containerOf(doc);
    const varName = k.args.find((a) => a.startsWith('--azure-conn-env='))!.split('=')[1];
    const env = k.env.find((e) => e.name === varName);
    assert.ok(env?.valueFrom?.secretKeyRef, `${varName} comes from a Secret, never a literal`);
    const workdir = k.args.at(-1)!;
    const mount = k.volumeMounts.find((m) => m.mountPath === workdir)!;
    assert.ok(mount, 'the work directory is a mounted volume');
    assert.ok('emptyDir' in doc.spec.template.spec.volumes.find((v: { name: string }) => v.name === mount.name), 'an emptyDir');
  }
  // Memory request at least the tiling benchmark's peak RSS for 24000x24000 (about 330 MB) per job.
  const mib = (q: string) => (q.endsWith('Gi') ? Number(q.slice(0, -2)) * 1024 : Number(q.slice(0, -2)));
  const jobs = Number(c.args.find((a) => a.startsWith('--jobs='))?.split('=')[1] ?? 1);
  assert.ok(mib(c.resources.requests.memory) >= 330 * jobs);
});

test("the Jobs' own arguments bring a repository up to date, shard by shard, then reindex", async () => {
  const az = await startAzurite();
  const tmp = await fsp.mkdtemp(path.join(os.tmpdir(), 'toasty-k8s-'));
  const routes: Record<string, Handler> = {};
  const server = await startTestServer({ root: path.join(ROOT, 'examples', 'images'), routes });
  try {
    const ingest = containerOf(await read('kubernetes/indexed-job.yaml'));
    const reindex = containerOf(await read('kubernetes/reindex-job.yaml'));
    const arg = (name: string) => ingest.args.find((a) => a.startsWith(`--${name}=`))!.split('=')[1];
    await BlobServiceClient.fromConnectionString(az.connectionString).createContainer(arg('azure-container'));
    const repo = new AzureRepository({ connectionString: az.connectionString, container: arg('azure-container'), pathPrefix: arg('azure-path-prefix') });
    const feed = (await fsp.readFile(path.join(ROOT, 'examples', 'astropix-feed.template.json'), 'utf8')).replaceAll('{{BASE}}', server.baseUrl);
    await repo.put(
      'toasty-pipeline-config.yaml',
      `source_type: astropix\nastropix:\n  json_query_url: ${JSON.stringify(`${server.baseUrl}/feed.json`)}\npublish_url_prefix: http://example.org/hst/\nfolder_name: Hubble\n`,
    );
    routes['/feed.json'] = (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(feed);
    };
    const env = { [arg('azure-conn-env')]: az.connectionString };
    const withWorkdir = (args: string[], dir: string) => [...args.slice(0, -1), dir];
    const shards = Number(arg('shard-count'));
    for (let i = 0; i < shards; i++) {
      const r = await runToasty(withWorkdir(ingest.args, path.join(tmp, `pod-${i}`)), { ...env, JOB_COMPLETION_INDEX: String(i) });
      assert.is(r.code, 0, r.stderr);
    }
    assert.is(await repo.exists('index.wtml'), false, 'the shards leave the root index alone');
    const r = await runToasty(withWorkdir(reindex.args, path.join(tmp, 'reindex')), env);
    assert.is(r.code, 0, r.stderr);
    assert.is(parseWtml((await repo.get('index.wtml'))!.toString()).children.length, 2);
  } finally {
    await server.close();
    await az.stop();
    await fsp.rm(tmp, { recursive: true, force: true });
  }
});

test('the CI example shards the same way: a matrix of shards, then one reindex', async () => {
  const wf = await read('ci/github-actions.yml');
  const shards: number[] = wf.jobs.shards.strategy.matrix.shard;
  assert.equal(shards, [...shards.keys()]);
  const make = wf.jobs.shards.steps.map((s: { run?: string }) => s.run ?? '').find((r: string) => r.includes(' make '));
  assert.match(make, new RegExp(`--shard=\\$\\{\\{ matrix.shard \\}\\}/${shards.length} `));
  assert.is(wf.jobs.reindex.needs, 'shards');
  assert.ok(wf.jobs.reindex.steps.some((s: { run?: string }) => s.run?.includes('pipeline-reindex')));
});

test('npm run demo keeps an edited config, and ends with a preview command that works', async () => {
  const out = await fsp.mkdtemp(path.join(os.tmpdir(), "toasty demo's "));
  const demo = () => spawnSync(process.execPath, [path.join(ROOT, 'examples', 'demo.mjs'), `--out=${out}`], { encoding: 'utf8' });
  let preview: ChildProcess | null = null;
  try {
    assert.is(demo().status, 0);
    const config = path.join(out, 'repo', 'toasty-pipeline-config.yaml');
    const edited = (await fsp.readFile(config, 'utf8')).replace('folder_name: AstroPix demo', 'folder_name: My own folder');
    await fsp.writeFile(config, edited);
    const second = demo();
    assert.is(second.status, 0, second.stderr);
    assert.is(await fsp.readFile(config, 'utf8'), edited, 'the edit survived');
    assert.is(parseWtml(await fsp.readFile(path.join(out, 'repo', 'index.wtml'))).name, 'My own folder', 'and took effect');

    // The last line is the command to look at the result: run it as printed, through a shell.
    const line = second.stdout.trim().split('\n').at(-1)!.trim();
    assert.match(line, / preview /);
    preview = spawn('sh', ['-c', `exec ${line}`], { stdio: ['ignore', 'pipe', 'pipe'] });
    const url = await new Promise<string>((resolve, reject) => {
      let text = '';
      preview!.stdout!.on('data', (d) => {
        text += d;
        const m = /toasty preview: (http:\/\/127\.0\.0\.1:\d+\/)/.exec(text);
        if (m) resolve(m[1]!);
      });
      preview!.stderr!.on('data', (d) => (text += d));
      preview!.on('exit', () => reject(new Error(`preview exited: ${text}`)));
    });
    const listing = (await (await fetch(`${url}api/images`)).json()) as { done: Array<{ id: string }> };
    assert.equal(listing.done.map((i) => i.id).sort(), ['noirlab_geminiann11015a', 'nrao_nrao_gallery009']);
  } finally {
    preview?.kill('SIGINT');
    await fsp.rm(out, { recursive: true, force: true });
  }
});

test.run();
