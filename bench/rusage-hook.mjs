// `node --import` entry point for a bench's child `toasty` process: prints the process's own
// resource usage (CPU time of every thread, libvips' included, and peak RSS) to stderr on exit.
process.on('exit', () => {
  const r = process.resourceUsage();
  process.stderr.write(`toasty-bench-rusage=${JSON.stringify({ userUs: r.userCPUTime, systemUs: r.systemCPUTime, maxRssKb: r.maxRSS })}\n`);
});
