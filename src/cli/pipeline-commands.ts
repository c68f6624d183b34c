/**
 * `toasty make` and the four stage commands of the original pipeline. All of them run the
 * same build graph; a stage command runs only its own cut of it.
 */
import { Option } from 'clipanion';
import type { Stage } from '../../rules/index.js';
import type { EngineEvent } from '../engine/types.js';
import type { RunReport } from '../pipeline/run.js';
import { ToastyError } from '../util/errors.js';
import type { Log } from '../util/log.js';
import { exitNow, onInterrupt, signalExitCode } from '../util/temporaries.js';
import type { LabelsOf } from './describe.js';
import { exitCodeFor } from './exit.js';
import { RepositoryCommand } from './options.js';

abstract class PipelineCommand extends RepositoryCommand {
  abstract readonly stage: Stage;
  workdir = Option.String({ name: 'WORKDIR' });
  json = Option.Boolean('--json', false, { description: 'Print one JSON object describing the run on stdout' });
  dryRun = Option.Boolean('-n,--dry-run', false, { description: 'Print the plan (what would run, and why); change nothing' });
  // Checked in execute (parseJobs), so a bad value is one `error:` line like every usage error.
  jobs = Option.String('-j,--jobs', '1', { description: 'How many nodes may run at once' });
  fastTiles = Option.Boolean('--fast-tiles', false, {
    description: 'Write tile PNGs for speed (zlib 2, no row filters: about 1.6x the bytes, about half the time); default: small tiles',
  });
  downloadTimeout = Option.String('--download-timeout', {
    description: 'Give up on a download (the feed or an image, retries included) after SECONDS (default: 2 minutes plus 8 s per MiB)',
  });

  force: string[] | undefined = undefined;
  only: string[] | undefined = undefined;
  shard: string | undefined = undefined;
  shardCount: string | undefined = undefined;
  recheck = false;

  async execute(): Promise<number> {
    const log = this.makeLog();
    const started = performance.now();
    // Ctrl-C (or SIGTERM): start no more nodes; running uploads (and other short nodes) finish
    // and are recorded, a running tiling or download is abandoned (rules' `interrupt`: their
    // outputs only appear whole, so that loses only the work); then report and exit 130 (143),
    // removing temporaries. A second one exits at once (temporaries.ts).
    const stop = new AbortController();
    const unlisten = this.dryRun
      ? () => {}
      : onInterrupt((signal) => {
          stop.abort(signal);
          log.warn(
            `${signal === 'SIGINT' ? 'interrupted' : `${signal} received`}: no new work starts; uploads in progress finish, tiling and downloads in progress are abandoned (interrupt again to stop at once)`,
          );
        });
    try {
      const deadlineMs = downloadDeadlineMs(this.downloadTimeout);
      const jobs = parseJobs(this.jobs);
      // Loaded here, not at start-up: `--help` and `--version` stay fast.
      const { inputLabelsOf, runPipeline } = await import('../pipeline/run.js');
      const reporting = await import('./report.js');
      const labels: LabelsOf = (rule) => inputLabelsOf(rule);
      const repo = await this.openRepository();
      const report = await runPipeline({
        workdir: this.workdir,
        repo,
        stage: this.stage,
        dryRun: this.dryRun,
        force: this.force,
        only: this.only,
        jobs,
        shard: parseShard(this.shard, this.shardCount, process.env.JOB_COMPLETION_INDEX),
        fastTiles: this.fastTiles,
        ...(deadlineMs === undefined ? {} : { download: { deadlineMs } }),
        recheck: this.recheck,
        log,
        onEvent: this.dryRun ? undefined : await this.eventPrinter(reporting.eventPrinter(log, labels), log),
        signal: stop.signal,
      });
      // Bars off before the summary, so it is plain text below them.
      log.close?.();
      const signal = stop.signal.aborted ? (stop.signal.reason as NodeJS.Signals) : null;
      const exitCode = signal ? signalExitCode(signal) : report.exitCode;
      this.output(report, labels, reporting, log.info, exitCode, performance.now() - started);
      if (signal) {
        this.context.stderr.write(`${reporting.interruptedLine(report)}\n`);
        // An abandoned tiling may still be writing into its temporary folder: remove what this
        // process made and end now, rather than wait for the work nobody will use.
        unlisten();
        exitNow(signal);
      }
      return exitCode;
    } catch (e) {
      log.close?.();
      return exitCodeFor(e, log, this.verbose);
    } finally {
      unlisten();
    }
  }

  /** The live lines, and with --verbose each node's inputs digest and time too. */
  private async eventPrinter(lines: (e: EngineEvent) => void, log: Log): Promise<(e: EngineEvent) => void> {
    if (!this.verbose) return lines;
    const extra = (await import('./verbose.js')).verboseEvents(log);
    return (e) => {
      lines(e);
      extra(e);
    };
  }

  private output(report: RunReport, labels: LabelsOf, reporting: typeof import('./report.js'), info: (line: string) => void, exitCode: number, ms: number) {
    if (this.json) this.context.stdout.write(`${reporting.jsonReport(report, labels, this.dryRun, exitCode)}\n`);
    if (this.dryRun) {
      // The plan is the product of a dry run: to stdout unless --json took it.
      const out = this.json ? info : (line: string) => this.context.stdout.write(`${line}\n`);
      reporting.printPlan(report, labels, out);
    } else {
      reporting.printSummary(report, labels, info, (line) => this.context.stderr.write(`${line}\n`), ms);
    }
  }
}

/** `--shard I/N`, or `--shard-count N` with I from the environment (Kubernetes Indexed Jobs). */
export function parseShard(shard: string | undefined, count: string | undefined, envIndex: string | undefined): { index: number; count: number } | undefined {
  if (shard !== undefined && count !== undefined) throw new ToastyError('usage', 'give --shard I/N or --shard-count N, not both', { field: 'shard' });
  let i: string | undefined;
  let n: string | undefined;
  if (shard !== undefined) {
    [i, n] = shard.split('/');
  } else if (count !== undefined) {
    if (envIndex === undefined)
      throw new ToastyError('usage', '--shard-count needs JOB_COMPLETION_INDEX in the environment (set by a Kubernetes Indexed Job)', { field: 'shard-count' });
    [i, n] = [envIndex, count];
  } else {
    return undefined;
  }
  const index = Number(i);
  const total = Number(n);
  if (!/^\d+$/.test(i ?? '') || !/^\d+$/.test(n ?? '') || total < 1 || index >= total) {
    throw new ToastyError('usage', `shard ${i ?? ''}/${n ?? ''}: need I/N with whole numbers 0 <= I < N`, { field: 'shard' });
  }
  return { index, count: total };
}

/** `-j N`: a whole number of at least 1. */
export function parseJobs(value: string): number {
  if (!/^\d+$/.test(value.trim()) || Number(value) < 1) {
    throw new ToastyError('usage', `-j/--jobs must be a whole number of 1 or more, not ${JSON.stringify(value)}`, { field: 'jobs' });
  }
  return Number(value);
}

/** `--download-timeout SECONDS` in ms; a usage error unless a positive number. */
function downloadDeadlineMs(seconds: string | undefined): number | undefined {
  if (seconds === undefined) return undefined;
  const n = Number(seconds);
  if (seconds.trim() === '' || !Number.isFinite(n) || n <= 0) {
    throw new ToastyError('usage', `--download-timeout must be a positive number of seconds, not ${JSON.stringify(seconds)}`, { field: 'download-timeout' });
  }
  return n * 1000;
}

/** `--recheck`, for the commands that read the feed. */
const recheckOption = () =>
  Option.Boolean('--recheck', false, {
    description: "Fetch every listed image's details again (Djangoplicity; AstroPix records always come whole), so corrected titles or credits are published",
  });

export class MakeCommand extends PipelineCommand {
  static override paths = [['make']];
  static override usage = PipelineCommand.Usage({
    category: 'Pipeline',
    description: 'Bring the whole repository up to date with the feed, doing the least work',
    details: `
      Runs the build graph fetch -> tile -> wtml -> upload for every image of the feed (AstroPix
      or Djangoplicity) named in the repository's \`toasty-pipeline-config.yaml\`, then rebuilds
      the root \`index.wtml\`.
      Only stale nodes run: a node is stale when it is new, when an input it reads changed
      (the feed record, the image bytes, \`publish_url_prefix\`...), when its outputs are missing,
      or when it is forced. Every node that runs says why.

      Exit status: 0 all good; 1 some images failed (the others completed and are published);
      2 usage or configuration error. Logs go to stderr; \`--json\` prints one JSON object on stdout.
    `,
    examples: [
      ['Minimal rebuild into a local repository', `$0 make --local=./repo ./work`],
      ['Show what would run, and why', `$0 make --dry-run --local=./repo ./work`],
      ['Rebuild two images even if up to date', `$0 make --force 'nrao_*' --force noirlab_x --local=./repo ./work`],
      ['Publish to Azure', `AZ_CONN='...' $0 make --azure-conn-env=AZ_CONN --azure-container=feeds --azure-path-prefix=astropix ./work`],
    ],
  });
  readonly stage = 'make' as const;
  override force = Option.Array('--force', { description: 'Rebuild this image (id or glob) even if up to date; repeatable' });
  override shard = Option.String('--shard', {
    description: 'Only the images of shard I of N (0-based, by a stable hash of the id); the root index is left to a later reindex',
  });
  override shardCount = Option.String('--shard-count', {
    description: 'Like --shard I/N, taking I from JOB_COMPLETION_INDEX (a Kubernetes Indexed Job)',
  });
  override only = Option.Array('--only', { description: 'Only consider this image (id or glob); repeatable. The index still runs' });
  override recheck = recheckOption();
}

export class FetchInputsCommand extends PipelineCommand {
  static override paths = [['pipeline-fetch-inputs']];
  static override usage = PipelineCommand.Usage({
    category: 'Pipeline stages',
    description: 'Download new images of the feed into WORKDIR/cache_todo',
    details: `
      Reads \`toasty-pipeline-config.yaml\` from the repository root, reads the feed, and caches
      every new image in \`cache_todo/<id>/\` (\`image.<ext>\` + its record: \`astropix.json\` or
      \`djangoplicity.json\`). Images whose \`<id>/index.wtml\` or \`<id>/skip.flag\` exists in the
      repository are skipped, as are not-actionable records (AstroPix: an \`image_id\` with "/", a
      non-TAN projection; Djangoplicity: no full WCS).
    `,
    examples: [['Fetch new images', `$0 pipeline-fetch-inputs --local=./repo ./work`]],
  });
  readonly stage = 'fetch' as const;
  override recheck = recheckOption();
}

export class ProcessTodosCommand extends PipelineCommand {
  static override paths = [['pipeline-process-todos']];
  static override usage = PipelineCommand.Usage({
    category: 'Pipeline stages',
    description: 'Turn each cached image into a study in WORKDIR/out_todo',
    details: `
      For each fetched image: tiles (or \`image.jpg\` for images up to 2048 px), \`thumb.jpg\`,
      \`index_rel.wtml\` and \`index.wtml\` in \`out_todo/<id>/\`; the input moves to \`cache_done/<id>\`.
      Review \`out_todo\` before publishing.
    `,
    examples: [['Process fetched images', `$0 pipeline-process-todos --local=./repo ./work`]],
  });
  readonly stage = 'process' as const;
}

export class PublishTodosCommand extends PipelineCommand {
  static override paths = [['pipeline-publish-todos']];
  static override usage = PipelineCommand.Usage({
    category: 'Pipeline stages',
    description: 'Upload WORKDIR/out_todo into the repository, index.wtml last',
    details: `
      Uploads each \`out_todo/<id>/\` to \`<id>/\` in the repository, moving files to \`out_done/\` as they
      go; an image's \`index.wtml\` goes last, so a reader never sees a half-published image and an
      interrupted publish resumes where it stopped.
    `,
    examples: [['Publish processed images', `$0 pipeline-publish-todos --local=./repo ./work`]],
  });
  readonly stage = 'publish' as const;
}

export class ReindexCommand extends PipelineCommand {
  static override paths = [['pipeline-reindex']];
  static override usage = PipelineCommand.Usage({
    category: 'Pipeline stages',
    description: "Rebuild the repository's root index.wtml, newest image first",
    details: `
      Lists every image folder of the repository that has an \`index.wtml\` and writes the root
      \`index.wtml\`: a Folder named \`folder_name\` (thumbnail \`folder_thumbnail_url\`) holding each
      image's Place, sorted by \`XLastUpdated\`, newest first. Folders without a readable
      \`index.wtml\` are skipped with a warning.
    `,
    examples: [['Rebuild the index', `$0 pipeline-reindex --local=./repo ./work`]],
  });
  readonly stage = 'reindex' as const;
}
