// Module boundaries, read from the import statements: src/wwt stands alone (no engine, no feed
// sources), and the WTML side of a study never loads sharp, not even through another module.
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** Every module specifier in a TypeScript source: static imports, re-exports and import(). */
function specifiers(source: string): string[] {
  const out: string[] = [];
  for (const m of source.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|^\s*import\s+)'([^']+)'/gm)) out.push(m[1]!);
  return out;
}

/** A relative `.js` specifier -> the `.ts` file it names. */
const resolveTs = (from: string, spec: string) => path.resolve(path.dirname(from), spec).replace(/\.js$/, '.ts');

/** Every module `file` loads, directly or through other project modules (packages by name). */
async function importClosure(file: string): Promise<Map<string, string>> {
  const seen = new Map<string, string>(); // module -> the file that imports it first
  const queue = [file];
  while (queue.length > 0) {
    const f = queue.shift()!;
    for (const spec of specifiers(await fsp.readFile(f, 'utf8'))) {
      const key = spec.startsWith('.') ? resolveTs(f, spec) : spec;
      if (seen.has(key)) continue;
      seen.set(key, f);
      if (spec.startsWith('.')) queue.push(key);
    }
  }
  return seen;
}

test('src/wwt imports neither the engine nor the feed sources', async () => {
  const dir = path.join(ROOT, 'src', 'wwt');
  for (const name of (await fsp.readdir(dir)).filter((n) => n.endsWith('.ts'))) {
    const file = path.join(dir, name);
    for (const spec of specifiers(await fsp.readFile(file, 'utf8'))) {
      if (!spec.startsWith('.')) continue;
      const target = path.relative(path.join(ROOT, 'src'), resolveTs(file, spec));
      assert.ok(!target.startsWith('engine') && !target.startsWith('sources'), `${name} imports ${spec}`);
    }
  }
});

test('the engine imports only itself and generic utilities, and never names the product', async () => {
  const dir = path.join(ROOT, 'src', 'engine');
  for (const name of (await fsp.readdir(dir)).filter((n) => n.endsWith('.ts'))) {
    const file = path.join(dir, name);
    const source = await fsp.readFile(file, 'utf8');
    for (const spec of specifiers(source)) {
      if (!spec.startsWith('.')) continue;
      const target = path.relative(path.join(ROOT, 'src'), resolveTs(file, spec));
      assert.ok(target.startsWith('engine') || target.startsWith('util'), `${name} imports ${spec}`);
      assert.ok(!/errors/.test(target), `${name} uses the product's error type (${spec})`);
    }
    assert.not.match(source, /toasty|\bimage|\bWWT\b|wtml/i, `${name} names the product or its images`);
  }
});

test('rules and the pipeline context do not import each other in a circle', async () => {
  const context = await importClosure(path.join(ROOT, 'src', 'pipeline', 'context.ts'));
  const intoRules = [...context.keys()].filter((m) => m.startsWith(path.join(ROOT, 'rules')));
  assert.equal(intoRules, [], 'context.ts reaches rules/');
});

test('study-wtml and study-files never load sharp, directly or transitively', async () => {
  for (const name of ['study-wtml.ts', 'study-files.ts']) {
    const closure = await importClosure(path.join(ROOT, 'src', 'wwt', name));
    assert.ok(closure.size > 0 || name === 'study-files.ts', `${name}: no imports found (parser broken?)`);
    const via = closure.get('sharp');
    assert.is(via, undefined, `${name} loads sharp via ${via && path.relative(ROOT, via)}`);
  }
  // The check itself sees sharp where it is loaded.
  assert.ok((await importClosure(path.join(ROOT, 'src', 'wwt', 'study-pixels.ts'))).has('sharp'));
});

test.run();
