/**
 * toasty's help text, rendered from clipanion's own registrations.
 *
 * Clipanion 3 has no way to name an option's value (it prints `--local #0`), sorts categories
 * alphabetically, repeats every option in every usage line, and colours whenever the terminal
 * type could show colour, even when the output is piped. `ToastyCli` overrides its one
 * `usage()` method, which every help path goes through (`--help`, `-h`, `COMMAND --help`): value
 * names come from one table below, the repository arguments print as one group, categories
 * come in workflow order, and colour is used only on a terminal (NO_COLOR / FORCE_COLOR
 * honoured).
 */
import { Cli, type ColorFormat, type Command, type CommandClass } from 'clipanion';
import { closest } from '../util/closest.js';
import { toastyVersion } from './version.js';

/** What an option's value is called in help. Options not listed get their long name in capitals. */
const VALUE_NAMES: Record<string, string> = {
  '--local': 'DIR',
  '--azure-conn-env': 'VAR',
  '--azure-container': 'NAME',
  '--azure-path-prefix': 'PREFIX',
  '--jobs': 'N',
  '--shard': 'I/N',
  '--shard-count': 'N',
  '--download-timeout': 'SECONDS',
  '--force': 'ID',
  '--only': 'ID',
  '--port': 'N',
  '--astropix-json': 'FILE',
  '--name': 'NAME',
  '--max-pixels': 'N',
};

/** The data-repository arguments, in the order they are listed. */
const REPOSITORY_OPTIONS = ['--local', '--azure-conn-env', '--azure-container', '--azure-path-prefix'];
/** Options every command takes: listed last, after the command's own. */
const COMMON_OPTIONS = ['--verbose', '--quiet'];
/** Categories in the order of the work: run the pipeline, look after the repository, one-offs, review. */
const CATEGORY_ORDER = ['Pipeline', 'Pipeline stages', 'Repository', 'Studies', 'Review'];

const valueName = (names: string[]): string => {
  const long = names.find((n) => n.startsWith('--')) ?? names[0];
  return VALUE_NAMES[long] ?? long.replace(/^-+/, '').replace(/-/g, '_').toUpperCase();
};

const withValue = (name: string) => `${name} ${VALUE_NAMES[name]}`;

/** `{--local DIR | --azure-conn-env VAR --azure-container NAME [--azure-path-prefix PREFIX]}` */
export const REPOSITORY_ARGS = `{${withValue('--local')} | ${withValue('--azure-conn-env')} ${withValue('--azure-container')} [${withValue('--azure-path-prefix')}]}`;

const ABOUT =
  'Turns image feeds (AstroPix, Djangoplicity) into WorldWide Telescope sky studies and publishes them to a data repository, rebuilding only what changed.';

/**
 * Colour on `stream`? Only on a terminal, unless NO_COLOR (any non-empty value: never) or
 * FORCE_COLOR (colour even when piped; `0` or `false`: never) says otherwise.
 */
export function colourWanted(stream: { isTTY?: boolean }, env: NodeJS.ProcessEnv = process.env): boolean {
  if (env.NO_COLOR) return false;
  const force = env.FORCE_COLOR;
  if (force !== undefined) return force !== '0' && force !== 'false';
  return Boolean(stream.isTTY) && env.TERM !== 'dumb';
}

const PLAIN: ColorFormat = { header: (s) => s, bold: (s) => s, error: (s) => s, code: (s) => s };
const RICH: ColorFormat = {
  header: (s) => `\x1b[1m${s}\x1b[22m`,
  bold: (s) => `\x1b[1m${s}\x1b[22m`,
  error: (s) => `\x1b[31m${s}\x1b[39m`,
  code: (s) => `\x1b[36m${s}\x1b[39m`,
};

const WIDTH = 80;

/** Break `text` into lines of at most `width` characters (longer words stand alone). */
function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/).filter(Boolean)) {
    if (line && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else {
      line = line ? `${line} ${word}` : word;
    }
  }
  if (line) lines.push(line);
  return lines;
}

/** `term` then `text` wrapped beside it at column `col`; on the next line when `term` is wider. */
function definitionLines(term: string, text: string, col: number, fmt: ColorFormat): string {
  const lines = wrap(text, Math.max(20, WIDTH - col));
  const pad = ' '.repeat(col);
  const first = term.length + 4 <= col ? `  ${fmt.bold(term)}${' '.repeat(col - term.length - 2)}${lines.shift() ?? ''}` : `  ${fmt.bold(term)}`;
  return [first, ...lines.map((l) => pad + l)].join('\n').trimEnd();
}

/** A command's details (indented source text, paragraphs apart): wrapped, indented, `code` marked. */
function paragraphs(text: string, fmt: ColorFormat): string {
  return text
    .trim()
    .split(/\n\s*\n/)
    .map((p) =>
      wrap(p, WIDTH - 2)
        .map((l) => `  ${l}`)
        .join('\n')
        .replace(/`([^`]+)`/g, (_, code: string) => fmt.code(`\`${code}\``)),
    )
    .join('\n\n');
}

interface OptionHelp {
  names: string[];
  term: string;
  description: string;
}

interface CommandHelp {
  path: string;
  category: string;
  description: string;
  details: string;
  examples: [string, string][];
  repository: boolean;
  options: OptionHelp[];
  positionals: string[];
}

export class ToastyCli extends Cli {
  /** Colour for help on stdout; `usage()`'s own `colored` overrides it. */
  constructor(private readonly colour = colourWanted(process.stdout)) {
    super({ binaryLabel: 'toasty', binaryName: 'toasty', enableColors: colour });
  }

  /** Every registered command, in registration order. */
  commands(): CommandHelp[] {
    // Undocumented ones (clipanion's `-h` built-in) are not listed.
    return [...this.registrations.keys()].filter((c) => c.usage).map((c) => this.describe(c));
  }

  /** The command registered under `path` (`['make']`), if any. */
  find(path: string[]): CommandClass | undefined {
    return [...this.registrations.keys()].find((c) => c.paths?.some((p) => p.join(' ') === path.join(' ')));
  }

  /** The command name nearest to a mistyped one. */
  nearestCommand(word: string): string {
    return closest(
      word,
      this.commands().map((c) => c.path),
      1,
    )[0]!;
  }

  override usage(command: CommandClass | Command | null = null, opts: { colored?: boolean; detailed?: boolean; prefix?: string } = {}): string {
    const fmt = (opts.colored ?? this.colour) ? RICH : PLAIN;
    const klass = command === null ? null : typeof command === 'function' ? command : (command.constructor as CommandClass);
    if (!klass) return this.overview(fmt);
    const c = this.describe(klass);
    return opts.detailed ? this.detailed(c, fmt) : `${opts.prefix ?? '$ '}${this.usageLine(c)}\n`;
  }

  private describe(klass: CommandClass): CommandHelp {
    const { builder } = this.registrations.get(klass)!;
    const usage = klass.usage ?? {};
    const options = builder.options
      .filter((o) => !o.hidden)
      .map((o) => {
        const names = [...o.names].sort((a, b) => a.length - b.length);
        const term = names.join(', ') + (o.arity > 0 ? ` ${Array(o.arity).fill(valueName(names)).join(' ')}` : '');
        return { names, term, description: o.description ?? '' };
      });
    const { leading, extra, trailing } = builder.arity;
    const positionals = [...leading, ...(Array.isArray(extra) ? extra.map((n) => `[${n}]`) : ['...']), ...trailing];
    return {
      path: (builder.paths[0] ?? []).join(' '),
      category: usage.category ?? 'Other',
      description: usage.description ?? '',
      details: usage.details ?? '',
      examples: (usage.examples ?? []) as [string, string][],
      repository: options.some((o) => o.names.includes('--local')),
      options,
      positionals,
    };
  }

  /** `toasty make [options] {--local DIR | ...} WORKDIR` */
  private usageLine(c: CommandHelp): string {
    return [this.binaryName, c.path, '[options]', ...(c.repository ? [REPOSITORY_ARGS] : []), ...c.positionals].join(' ');
  }

  private detailed(c: CommandHelp, fmt: ColorFormat): string {
    const out: string[] = [];
    if (c.description)
      out.push(
        c.description.replace(/^./, (x) => x.toUpperCase()),
        '',
      );
    out.push(fmt.header('Usage'), `  $ ${this.usageLine(c)}`);
    const named = (names: string[]) => (o: OptionHelp) => o.names.some((n) => names.includes(n));
    const repo = c.options.filter(named(REPOSITORY_OPTIONS));
    const common = c.options.filter(named(COMMON_OPTIONS));
    const own = c.options.filter((o) => !repo.includes(o) && !common.includes(o));
    const help: OptionHelp = { names: ['-h', '--help'], term: '-h, --help', description: 'Print this help' };
    const col = Math.min(30, Math.max(...c.options.map((o) => o.term.length), 0) + 6);
    const section = (title: string, list: OptionHelp[]) => {
      if (list.length) out.push('', fmt.header(title), ...list.map((o) => definitionLines(o.term, o.description, col, fmt)));
    };
    section('Repository', repo);
    section('Options', [...own, ...common, help]);
    if (c.details) out.push('', fmt.header('Details'), paragraphs(c.details, fmt));
    if (c.examples.length) {
      out.push('', fmt.header('Examples'));
      for (const [label, example] of c.examples) out.push(`  ${label}`, `    $ ${example.replace(/\$0/g, this.binaryName)}`);
    }
    return `${out.join('\n')}\n`;
  }

  private overview(fmt: ColorFormat): string {
    const commands = this.commands();
    const rank = (cat: string) => (CATEGORY_ORDER.includes(cat) ? CATEGORY_ORDER.indexOf(cat) : CATEGORY_ORDER.length);
    const categories = [...new Set(commands.map((c) => c.category))].sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
    const out = [
      fmt.bold(`toasty ${toastyVersion()}`),
      ...wrap(ABOUT, WIDTH),
      '',
      fmt.header('Usage'),
      '  $ toasty COMMAND [options] ARGUMENTS',
      '  $ toasty help COMMAND',
    ];
    for (const cat of categories) {
      out.push('', fmt.header(cat));
      for (const c of commands.filter((x) => x.category === cat)) {
        const args = [...(c.repository ? ['REPOSITORY'] : []), ...c.positionals].join(' ');
        out.push(`  ${fmt.bold(c.path)} ${args}`.trimEnd(), ...wrap(c.description, WIDTH - 6).map((l) => `      ${l}`));
      }
    }
    const azure = `${withValue('--azure-conn-env')} ${withValue('--azure-container')} [${withValue('--azure-path-prefix')}]`;
    out.push(
      '',
      fmt.header('Arguments'),
      '  REPOSITORY, the data repository, is one of',
      definitionLines(`  ${withValue('--local')}`, 'a local folder', 24, fmt),
      `    ${fmt.bold(azure)}`,
      ...wrap('an Azure Blob Storage container; VAR names the environment variable holding its connection string', WIDTH - 24).map((l) => ' '.repeat(24) + l),
      '  WORKDIR, the work directory, holds downloads, studies and build records.',
      '',
      fmt.header('Every command takes'),
      definitionLines('-v, --verbose', 'Print more: debugging detail, timings, retries, stack traces', 20, fmt),
      definitionLines('-q, --quiet', 'Only print warnings and errors', 20, fmt),
      definitionLines('-h, --help', 'Describe the command (as toasty help COMMAND does)', 20, fmt),
      definitionLines('-V, --version', 'Print the version', 20, fmt),
    );
    return `${out.join('\n')}\n`;
  }
}
