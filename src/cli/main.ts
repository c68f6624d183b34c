/** The `toasty` command line. */
import { Builtins, Cli } from 'clipanion';
import { FetchInputsCommand, MakeCommand, ProcessTodosCommand, PublishTodosCommand, ReindexCommand } from './pipeline-commands.js';
import { TileStudyCommand } from './tile-study.js';
import { VerifyCommand } from './verify.js';
import { CheckAvmCommand } from './check-avm.js';
import { PreviewCommand } from './preview.js';
import { EXIT_USAGE } from './exit.js';
import { InitCommand } from './init.js';
import { RejectCommand } from './reject.js';

export function buildCli(): Cli {
  const cli = new Cli({ binaryLabel: 'toasty', binaryName: 'toasty', binaryVersion: '0.1.0' });
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
  cli.register(Builtins.VersionCommand);
  return cli;
}

export async function main(argv: string[]): Promise<number> {
  const cli = buildCli();
  let command: ReturnType<typeof cli.process>;
  try {
    command = cli.process(argv, Cli.defaultContext);
  } catch (e) {
    // Bad usage (unknown command or option): clipanion's message, and exit status 2.
    process.stderr.write(cli.error(e));
    return EXIT_USAGE;
  }
  return cli.run(command, Cli.defaultContext);
}
