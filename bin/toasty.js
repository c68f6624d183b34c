#!/usr/bin/env node
// Thin launcher: the CLI is compiled to dist/ by `npm run build` (run on `npm install` via prepare).
// `--version` is answered before the command line (clipanion, every command) is loaded.
import { toastyVersion, wantsVersion } from '../dist/src/cli/version.js';

const argv = process.argv.slice(2);
if (wantsVersion(argv)) {
  process.stdout.write(`${toastyVersion()}\n`);
} else {
  const { main } = await import('../dist/src/cli/main.js');
  process.exitCode = await main(argv);
}
