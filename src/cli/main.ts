/** The `toasty` command line. */
import { Builtins, Cli } from 'clipanion';
import { FetchInputsCommand, MakeCommand, ProcessTodosCommand, PublishTodosCommand, ReindexCommand } from './pipeline-commands.js';
import { TileStudyCommand } from './tile-study.js';
import { VerifyCommand } from './verify.js';
import { CheckAvmCommand } from './check-avm.js';
import { PreviewCommand } from './preview.js';
import { EXIT_USAGE } from './exit.js';
import { ToastyCli } from './help.js';
import { toastyVersion, wantsVersion } from './version.js';
import { InitCommand } from './init.js';
import { RejectCommand } from './reject.js';

/** The commands, registered in the order `toasty --help` lists them within a category. */
export function buildCli(): ToastyCli {
  const cli = new ToastyCli();
  cli.register(MakeCommand);
  cli.register(FetchInputsCommand);
  cli.register(ProcessTodosCommand);
  cli.register(PublishTodosCommand);
  cli.register(ReindexCommand);
  cli.register(VerifyCommand);
  cli.register(TileStudyCommand);
  cli.register(CheckAvmCommand);
  cli.register(PreviewCommand);
  cli.register(InitCommand);
  cli.register(RejectCommand);
  cli.register(Builtins.HelpCommand);
  return cli;
}

export async function main(argv: string[]): Promise<number> {
  if (wantsVersion(argv)) {
    process.stdout.write(`${toastyVersion()}\n`);
    return 0;
  }
  const cli = buildCli();
  if (argv[0] === 'help') return help(cli, argv.slice(1));
  let command: ReturnType<typeof cli.process>;
  try {
    command = cli.process(argv, Cli.defaultContext);
  } catch (e) {
    process.stderr.write(usageError(cli, argv, e));
    return EXIT_USAGE;
  }
  return cli.run(command, Cli.defaultContext);
}

/** `toasty help [COMMAND]`: the same text as `toasty [COMMAND] --help`. */
function help(cli: ToastyCli, names: string[]): number {
  if (names.length === 0) {
    process.stdout.write(cli.usage(null));
    return 0;
  }
  const command = cli.find(names);
  if (!command) {
    process.stderr.write(unknownCommand(cli, names.join(' ')));
    return EXIT_USAGE;
  }
  process.stdout.write(cli.usage(command, { detailed: true }));
  return 0;
}

const unknownCommand = (cli: ToastyCli, word: string) =>
  `error: unknown command "${word}"; did you mean "${cli.nearestCommand(word)}"? (toasty --help lists the commands)\n`;

/**
 * What clipanion's parser rejected, in our words and with our usage line (its own messages
 * print option values as `#0` and list every command).
 */
function usageError(cli: ToastyCli, argv: string[], e: unknown): string {
  const words = argv.filter((a) => !a.startsWith('-'));
  const command = words.map((w) => cli.find([w])).find(Boolean);
  if (!command && words.length) return unknownCommand(cli, words[0]!);
  const candidates = (e as { candidates?: { reason: string | null }[] }).candidates;
  const reason = candidates ? (candidates.find((c) => c.reason)?.reason ?? 'bad arguments') : e instanceof Error ? e.message : String(e);
  if (!command) return `error: ${reason}\n(toasty --help lists the commands)\n`;
  const path = command.paths?.[0]?.join(' ') ?? '';
  return `error: ${reason}\nusage: ${cli.usage(command, { prefix: '' })}(toasty help ${path} describes it)\n`;
}
