/**
 * The one logging/progress abstraction. Library code takes a `Log` and never prints directly;
 * the CLI picks a concrete one: progress bars on a terminal, plain lines otherwise, nothing
 * in tests (`silentLog`). Everything goes to stderr so stdout stays free for `--json`.
 */
import { createRequire } from 'node:module';
import type cliProgressTypes from 'cli-progress';
import { redactSecrets } from './redact.js';
import { atInterruptExit } from './temporaries.js';

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
  /** A bounded task with a known size (tiles to write, files to upload...); `unit` names what is counted. */
  progress(label: string, total: number, unit?: string): Progress;
  /** True when progress shows as live bars on a terminal (so fewer lines are needed). */
  readonly live?: boolean;
  /**
   * Stop any bars and give the terminal back as it was (line wrapping on, cursor shown).
   * Synchronous and safe to call twice: an interrupted process calls it on its way out.
   */
  close?(): void;
}

const noProgress: Progress = { tick() {}, done() {} };

export const silentLog: Log = {
  info() {},
  warn() {},
  error() {},
  debug() {},
  progress: () => noProgress,
};

/** `log` whose progress is labelled `prefix` (e.g. `tile nrao_x`), counting what the caller labels. */
export function labelled(log: Log, prefix: string): Log {
  return {
    info: (m) => log.info(m),
    warn: (m) => log.warn(m),
    error: (m) => log.error(m),
    debug: (m) => log.debug(m),
    progress: (label, total, unit) => log.progress(prefix, total, unit ?? label),
    live: log.live,
    close: () => log.close?.(),
  };
}

/** Without a terminal, a long task prints a line this often (ms); the variable is for tests. */
export function plainProgressIntervalMs(): number {
  const v = Number(process.env.TOASTY_PROGRESS_INTERVAL_MS);
  return Number.isFinite(v) && v > 0 ? v : 10_000;
}

export interface ConsoleLogOptions {
  stream?: NodeJS.WriteStream;
  verbose?: boolean;
  /** Show progress bars (default: when the stream is a TTY and CI is not set). */
  bars?: boolean;
  /** Suppress info lines (warnings and errors still print). */
  quiet?: boolean;
  /** Without bars, the least time between two progress lines of one task (ms). */
  plainIntervalMs?: number;
}

/** Restores what cli-progress changes on a terminal: line wrapping (`?7`) and the cursor (`?25`). */
export const TERMINAL_RESTORE = '\x1b[?7h\x1b[?25h';

export function consoleLog(opts: ConsoleLogOptions = {}): Log {
  const stream = opts.stream ?? process.stderr;
  const bars = opts.bars ?? (Boolean(stream.isTTY) && !process.env.CI);
  const interval = opts.plainIntervalMs ?? plainProgressIntervalMs();
  // One MultiBar for every running task: with -j N each image has its own labelled line, and
  // log lines go above the bars (MultiBar.log) instead of through them.
  let multi: cliProgressTypes.MultiBar | null = null;
  let drewBars = false;
  const write = (text: string) => {
    // The last guard: no URL credentials or signatures reach the terminal or a log file.
    const line = redactSecrets(text);
    if (multi) multi.log(`${line}\n`);
    else stream.write(`${line}\n`);
  };
  const stopBars = () => {
    if (!multi) return;
    const m = multi;
    multi = null;
    m.update(); // flushes lines logged since the last redraw
    m.stop();
  };
  const log: Log = {
    info: (m) => {
      if (!opts.quiet) write(m);
    },
    warn: (m) => write(`warning: ${m}`),
    error: (m) => write(`error: ${m}`),
    debug: (m) => {
      if (opts.verbose) write(`debug: ${m}`);
    },
    live: bars,
    progress(label, total, unit = '') {
      if (opts.quiet || total <= 1) return noProgress;
      if (!bars) return plainProgress(write, label, total, unit, interval);
      cliProgress ??= requireCjs('cli-progress') as typeof cliProgressTypes;
      multi ??= new cliProgress.MultiBar(
        { stream, format: '{label} [{bar}] {value}/{total} {unit} {eta_formatted}', hideCursor: false, clearOnComplete: true },
        cliProgress.Presets.shades_classic,
      );
      if (!drewBars) {
        drewBars = true;
        // However the process ends on a signal, the terminal gets its line wrapping back.
        atInterruptExit(() => log.close?.());
      }
      const m = multi;
      const bar = m.create(total, 0, { label, unit });
      let finished = false;
      return {
        tick: (n = 1) => {
          if (!finished) bar.increment(n);
        },
        done: () => {
          if (finished) return;
          finished = true;
          if (multi !== m) return; // closed meanwhile
          m.remove(bar);
          if ((m as unknown as { bars: unknown[] }).bars.length === 0) stopBars();
        },
      };
    },
    close() {
      stopBars();
      if (drewBars && stream.isTTY) stream.write(TERMINAL_RESTORE);
    },
  };
  return log;
}

/** A task without a terminal: a line now and then (`tile x: 1200/5461 tiles (22%)`), never more often than `interval`. */
function plainProgress(write: (line: string) => void, label: string, total: number, unit: string, interval: number): Progress {
  let value = 0;
  let last = performance.now();
  return {
    tick: (n = 1) => {
      value += n;
      const now = performance.now();
      if (now - last < interval || value >= total) return;
      last = now;
      write(`${label}: ${value}/${total}${unit ? ` ${unit}` : ''} (${Math.floor((100 * value) / total)}%)`);
    },
    done: () => {},
  };
}
