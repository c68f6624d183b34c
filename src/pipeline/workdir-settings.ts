/**
 * `WORKDIR/toasty-workdir.yaml`: the repository arguments `toasty init` recorded, so later
 * commands take just WORKDIR. Never a secret: for Azure only the NAME of the environment
 * variable holding the connection string is kept (the reference pipeline stored the string
 * itself; this one does not).
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import type { StorageArgs } from '../storage/select.js';
import { ToastyError } from '../util/errors.js';
import { writeFileAtomic } from '../util/fs.js';
import type { Log } from '../util/log.js';
import { yamlModule } from '../util/yaml.js';

export const WORKDIR_SETTINGS = 'toasty-workdir.yaml';

/** Recorded names of the repository arguments (the options' own names, without dashes). */
const FIELDS = { local: 'local', azureConnEnv: 'azure-conn-env', azureContainer: 'azure-container', azurePathPrefix: 'azure-path-prefix' } as const;

type Field = keyof typeof FIELDS;

const given = (v: string | undefined): v is string => v !== undefined && v !== '';

/** Whether any repository option was given. */
export function anyRepositoryArgs(args: StorageArgs): boolean {
  return (Object.keys(FIELDS) as Field[]).some((k) => given(args[k]));
}

/** Only the options given; a local folder made absolute (the recording outlives the cwd). */
export function normalizeRepositoryArgs(args: StorageArgs): StorageArgs {
  const out: StorageArgs = {};
  for (const k of Object.keys(FIELDS) as Field[]) if (given(args[k])) out[k] = args[k];
  if (out.local) out.local = path.resolve(out.local);
  return out;
}

/** The recording as it goes in the file: `repository: {local: DIR}` or the Azure names. */
export function settingsText(args: StorageArgs): string {
  const repository: Record<string, string> = {};
  for (const k of Object.keys(FIELDS) as Field[]) if (given(args[k])) repository[FIELDS[k]] = args[k];
  const note = args.azureConnEnv ? ` The connection string stays in $${args.azureConnEnv}; it is never written here.` : '';
  return `# Written by \`toasty init\`: the data repository of this work directory.${note}\n${yamlModule().stringify({ repository })}`;
}

/** The recorded repository arguments of a work dir, or null when `toasty init` was not run there. */
export async function readWorkdirSettings(workdir: string): Promise<StorageArgs | null> {
  const file = path.join(workdir, WORKDIR_SETTINGS);
  let text: string;
  try {
    text = await fsp.readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new ToastyError('state', `cannot read ${file}: ${(e as Error).message}`, { cause: e });
  }
  const bad = (field: string, why: string) =>
    new ToastyError('state', `${file}: ${why} (run \`toasty init --force\` to record the repository again)`, { field });
  let doc: unknown;
  try {
    doc = yamlModule().parse(text);
  } catch {
    throw bad('(file)', 'not valid YAML');
  }
  const repository = (doc as { repository?: unknown } | null)?.repository;
  if (!repository || typeof repository !== 'object' || Array.isArray(repository)) throw bad('repository', 'no repository mapping');
  const out: StorageArgs = {};
  const known = new Set<string>(Object.values(FIELDS));
  for (const [key, value] of Object.entries(repository)) {
    if (!known.has(key)) throw bad(key, `unknown setting repository.${key}`);
    if (typeof value !== 'string' || value === '') throw bad(key, `repository.${key} must be a non-empty string`);
    const field = (Object.keys(FIELDS) as Field[]).find((k) => FIELDS[k] === key)!;
    out[field] = value;
  }
  return out;
}

export async function writeWorkdirSettings(workdir: string, args: StorageArgs): Promise<void> {
  await fsp.mkdir(workdir, { recursive: true });
  await writeFileAtomic(path.join(workdir, WORKDIR_SETTINGS), settingsText(args));
}

/** Whether two recordings name the same repository. */
export function sameRepositoryArgs(a: StorageArgs, b: StorageArgs): boolean {
  const na = normalizeRepositoryArgs(a);
  const nb = normalizeRepositoryArgs(b);
  return (Object.keys(FIELDS) as Field[]).every((k) => (na[k] ?? '') === (nb[k] ?? ''));
}

/** One line naming a recording, for people: no secret is in it to begin with. */
export function describeRepositoryArgs(args: StorageArgs): string {
  if (args.local) return `local folder ${args.local}`;
  const prefix = args.azurePathPrefix ? `, prefix ${args.azurePathPrefix}` : '';
  return `Azure container ${args.azureContainer ?? '?'}${prefix}, connection string from $${args.azureConnEnv ?? '?'}`;
}

/**
 * The repository a command uses: the options given on its command line (all of them, replacing
 * the recording; said at debug level), else the ones `toasty init` recorded in the work dir,
 * else none (the caller's usage error then says how to give them).
 */
export async function resolveRepositoryArgs(explicit: StorageArgs, workdir: string | undefined, log: Log): Promise<StorageArgs> {
  if (anyRepositoryArgs(explicit) || explicit.local === '') {
    // The recording is only looked at to say it is overridden: a damaged one does not matter here.
    const recorded = workdir ? await readWorkdirSettings(workdir).catch(() => null) : null;
    if (recorded && workdir && !sameRepositoryArgs(explicit, recorded)) {
      log.debug(
        `repository options on the command line override the ones recorded in ${path.join(workdir, WORKDIR_SETTINGS)} (${describeRepositoryArgs(recorded)})`,
      );
    }
    return explicit;
  }
  const recorded = workdir ? await readWorkdirSettings(workdir) : null;
  if (recorded && workdir) {
    log.debug(`repository from ${path.join(workdir, WORKDIR_SETTINGS)}: ${describeRepositoryArgs(recorded)}`);
    return recorded;
  }
  return explicit;
}
