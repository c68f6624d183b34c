// `npm run demo`: the whole pipeline on the bundled example feed, offline, into a local
// repository under examples/out/. Run it again to see an incremental (no-op) rebuild.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const out = path.join(here, 'out');
const repo = path.join(out, 'repo');
const work = path.join(out, 'work');
if (process.argv.includes('--clean')) rmSync(out, { recursive: true, force: true });
mkdirSync(repo, { recursive: true });

// The feed names its images by URL: point them at the bundled files.
const base = pathToFileURL(path.join(here, 'images')).href;
const feed = readFileSync(path.join(here, 'astropix-feed.template.json'), 'utf8').replaceAll('{{BASE}}', base);
writeFileSync(path.join(out, 'feed.json'), feed);
writeFileSync(
  path.join(repo, 'toasty-pipeline-config.yaml'),
  [
    'source_type: astropix',
    'astropix:',
    `  json_query_url: ${pathToFileURL(path.join(out, 'feed.json')).href}`,
    `publish_url_prefix: ${pathToFileURL(repo).href}/`,
    'folder_name: AstroPix demo',
    'folder_thumbnail_url: ""',
    '',
  ].join('\n'),
);

const toasty = path.join(here, '..', 'bin', 'toasty.js');
const run = (args) => {
  console.log(`\n$ toasty ${args.join(' ')}`);
  const r = spawnSync(process.execPath, [toasty, ...args], { stdio: 'inherit' });
  return r.status ?? 1;
};
const code = run(['make', `--local=${repo}`, work]);
console.log('\nWhat a second run would do:');
run(['make', '--dry-run', `--local=${repo}`, work]);

console.log(`
Repository:        ${repo}
Root index:        ${path.join(repo, 'index.wtml')}
Per-image studies: ${repo}/<id>/ (tiles or image.jpg, thumb.jpg, index.wtml, index_rel.wtml)
Work directory:    ${work} (cache_done/, out_done/, toasty-manifest.json)
`);
process.exit(code);
