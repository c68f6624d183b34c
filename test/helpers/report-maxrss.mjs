// `node --import` entry point for a child `toasty` process in memory tests: prints the process's
// peak resident set size (libvips' memory included) to stderr when it exits. Test-only.
process.on('exit', () => {
  process.stderr.write(`toasty-test-maxrss-kb=${process.resourceUsage().maxRSS}\n`);
});
