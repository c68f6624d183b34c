/**
 * The one logging/progress abstraction. Library code takes a `Log` and never prints directly;
 * the CLI picks a concrete one: progress bars on a terminal, plain lines otherwise, nothing
 * in tests (`silentLog`). Everything goes to stderr so stdout stays free for `--json`.
 */
import { createRequire } from 'node:module';
import type cliProgressTypes from 'cli-progress';
import { redactSecrets } from './redact.js';

// Loaded when a bar is first drawn: runs without a terminal (CI, tests, --help) never need it.
const requireCjs = createRequire(import.meta.url);
let cliProgress: typeof cliProgressTypes | null = null;

export interface Progress {
  /** Advance by `n` (default 1). */
  tick(n?: number): void;
  /** Finish (removes a terminal bar). */
  done(): void;
}

export interface Log {
  info(msg: string): void;
  warn(msg: string): void;
  error(msg: string): void;
  debug(msg: string): void;
  /** A bounded task with a known size (tiles to write, files to upload...). */
  progress(label: string, total: number): Progress;
}

const noProgress: Progress = { tick() {}, done() {} };

export const silentLog: Log = {
  info() {},
  warn() {},
  error() {},
  debug() {},
  progress: () => noProgress,
};

export interface ConsoleLogOptions {
  stream?: NodeJS.WriteStream;
  verbose?: boolean;
  /** Show progress bars (default: when the stream is a TTY and CI is not set). */
  bars?: boolean;
  /** Suppress info lines (warnings and errors still print). */
  quiet?: boolean;
}

export function consoleLog(opts: ConsoleLogOptions = {}): Log {
  const stream = opts.stream ?? process.stderr;
  const bars = opts.bars ?? (Boolean(stream.isTTY) && !process.env.CI);
  let active: cliProgressTypes.SingleBar | null = null;
  const write = (text: string) => {
    // The last guard: no URL credentials or signatures reach the terminal or a log file.
    const line = redactSecrets(text);
    if (active) {
      // Keep the bar on its own line: clear it, print, redraw.
      stream.write(`\r\x1b[K${line}\n`);
      active.render();
    } else {
      stream.write(`${line}\n`);
    }
  };
  return {
    info: (m) => {
      if (!opts.quiet) write(m);
    },
    warn: (m) => write(`warning: ${m}`),
    error: (m) => write(`error: ${m}`),
    debug: (m) => {
      if (opts.verbose) write(`debug: ${m}`);
    },
    progress(label, total) {
      if (!bars || opts.quiet || total <= 1) return noProgress;
      cliProgress ??= requireCjs('cli-progress') as typeof cliProgressTypes;
      const bar = new cliProgress.SingleBar(
        { stream, format: `${label} [{bar}] {value}/{total} {eta_formatted}`, hideCursor: false, clearOnComplete: true },
        cliProgress.Presets.shades_classic,
      );
      bar.start(total, 0);
      active = bar;
      return {
        tick: (n = 1) => bar.increment(n),
        done: () => {
          bar.stop();
          if (active === bar) active = null;
        },
      };
    },
  };
}
