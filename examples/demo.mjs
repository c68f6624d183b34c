// `npm run demo`: the whole pipeline on the bundled example feed, offline, into a local
// repository under examples/out/ (or --out=DIR). Run it again to see an incremental (no-op)
// rebuild; edit examples/out/repo/toasty-pipeline-config.yaml and run it again to see the
// edit take effect (the demo writes that file only when it is missing; --clean starts over).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const outArg = process.argv.find((a) => a.startsWith('--out='));
const out = outArg ? path.resolve(outArg.slice('--out='.length)) : path.join(here, 'out');
const repo = path.join(out, 'repo');
const work = path.join(out, 'work');
if (process.argv.includes('--clean')) rmSync(out, { recursive: true, force: true });
mkdirSync(repo, { recursive: true });

// The feed names its images by URL: point them at the bundled files.
const base = pathToFileURL(path.join(here, 'images')).href;
const feed = readFileSync(path.join(here, 'astropix-feed.template.json'), 'utf8').replaceAll('{{BASE}}', base);
writeFileSync(path.join(out, 'feed.json'), feed);
const config = path.join(repo, 'toasty-pipeline-config.yaml');
if (existsSync(config)) {
  console.log(`Keeping ${config} as it is (remove it, or run with --clean, for the demo's own).`);
} else {
  writeFileSync(
    config,
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
}

const toasty = path.join(here, '..', 'bin', 'toasty.js');
// A word for a POSIX shell: as is when plain, else single-quoted.
const quote = (w) => (/^[A-Za-z0-9_@%+=:,./-]+$/.test(w) ? w : `'${w.replaceAll("'", `'\\''`)}'`);
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

Look at the images in the WWT engine (a page on 127.0.0.1; Ctrl-C stops it):

  ${['node', toasty, 'preview', `--local=${repo}`, work].map(quote).join(' ')}
`);
process.exit(code);
