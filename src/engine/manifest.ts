/**
 * The manifest: for every node, the key it was built with and what it produced.
 *
 * Stored as a snapshot (`manifest.json`, rewritten atomically) plus an append-only journal
 * (`manifest.journal`, one JSON line per finished node, fsynced). A crash loses at most the
 * node that was running; a torn last journal line is ignored on load. `compact()` folds the
 * journal into a new snapshot.
 *
 * Snapshot format 2 (written since): a header line `{"format":2}`, then one line per node:
 * its id, its record without the input leaves, and the leaves, as three JSON texts separated
 * by tabs (JSON text never holds a raw tab). Lines stay text until a node's record is asked
 * for (`get`, once per node in a run), and leaves until they are (they only explain a changed
 * key): parsed up front, every record lived as long as the run, and the garbage collector
 * copying them was a large part of planning an up-to-date run. A line that is not JSON is
 * taken for no record (its node runs again). Format 1 (one JSON object
 * `{"format":1,"nodes":{id: record}}`) is still read, and rewritten as format 2 on the next
 * compaction.
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { writeFileAtomic } from '../util/fs.js';
import type { NodeRecord } from './types.js';

export type ManifestEntry = NodeRecord;

interface SnapshotV1 {
  format: 1;
  nodes: Record<string, ManifestEntry>;
}

const HEADER_V2 = '{"format":2}';

/** How many records parsed from the snapshot `get` keeps for a second read. */
const RECENT_PARSED = 256;

/** A node's line of a format-2 snapshot, as text: parsed by `get`, written back as it is. */
class StoredLine {
  /** Offsets into the snapshot's text: no string is cut out of it until asked for. */
  constructor(
    private readonly text: string,
    private readonly recordStart: number,
    private readonly leavesStart: number,
    private readonly end: number,
  ) {}

  get recordText(): string {
    return this.text.slice(this.recordStart, this.leavesStart - 1);
  }

  get leavesText(): string {
    return this.text.slice(this.leavesStart, this.end);
  }

  /** A new record object each time (nothing parsed is kept), or null if the text is not one. */
  parse(): ParsedRecord | null {
    let r: Omit<ManifestEntry, 'leaves'>;
    try {
      r = JSON.parse(this.recordText) as Omit<ManifestEntry, 'leaves'>;
    } catch {
      return null;
    }
    if (!r || typeof r !== 'object' || typeof r.key !== 'string' || !r.result || typeof r.result !== 'object') return null;
    return new ParsedRecord(r.rule, r.version, r.key, r.result, r.at, this.leavesText);
  }

  /** The whole record, as data (for tools that read a snapshot). */
  toJSON(): ManifestEntry | null {
    return this.parse()?.toJSON() ?? null;
  }
}

/** A record parsed from a stored line; its leaves are parsed when first read. */
class ParsedRecord implements ManifestEntry {
  private parsed: Record<string, string> | null = null;

  constructor(
    readonly rule: string,
    readonly version: number,
    readonly key: string,
    readonly result: ManifestEntry['result'],
    readonly at: string,
    readonly leavesText: string,
  ) {}

  get leaves(): Record<string, string> {
    this.parsed ??= JSON.parse(this.leavesText) as Record<string, string>;
    return this.parsed;
  }

  toJSON(): ManifestEntry {
    return { rule: this.rule, version: this.version, key: this.key, leaves: this.leaves, result: this.result, at: this.at };
  }
}

/** One snapshot line of `id` and `entry` (no newline). */
function snapshotLine(id: string, entry: ManifestEntry | StoredLine): string {
  if (entry instanceof StoredLine) return `${JSON.stringify(id)}\t${entry.recordText}\t${entry.leavesText}`;
  const leaves = entry instanceof ParsedRecord ? entry.leavesText : JSON.stringify(entry.leaves);
  const rest = { rule: entry.rule, version: entry.version, key: entry.key, result: entry.result, at: entry.at };
  return `${JSON.stringify(id)}\t${JSON.stringify(rest)}\t${leaves}`;
}

/** The records of a snapshot's text (format 1 or 2); throws a message saying what is wrong. */
export function parseSnapshot(text: string): Map<string, ManifestEntry | StoredLine> {
  const nodes = new Map<string, ManifestEntry | StoredLine>();
  if (!text.startsWith(`${HEADER_V2}\n`)) {
    let parsed: SnapshotV1;
    try {
      parsed = JSON.parse(text) as SnapshotV1;
    } catch (e) {
      throw new Error(`not valid JSON: ${(e as Error).message}`);
    }
    if (!parsed || typeof parsed !== 'object' || typeof parsed.nodes !== 'object' || parsed.nodes === null) throw new Error('no nodes object');
    for (const [id, entry] of Object.entries(parsed.nodes)) nodes.set(id, entry);
    return nodes;
  }
  let at = HEADER_V2.length + 1;
  let line = 2;
  while (at < text.length) {
    let end = text.indexOf('\n', at);
    if (end < 0) end = text.length;
    const tab1 = text.indexOf('\t', at);
    const tab2 = tab1 < 0 ? -1 : text.indexOf('\t', tab1 + 1);
    if (tab2 < 0 || tab2 > end) throw new Error(`line ${line} is not id, record and leaves`);
    let id: unknown;
    try {
      // Ids rarely hold a character JSON escapes: then the text between the quotes is the id.
      let plain = tab1 - at >= 2 && text.charCodeAt(at) === 34 && text.charCodeAt(tab1 - 1) === 34;
      for (let c = at + 1; plain && c < tab1 - 1; c++) {
        const ch = text.charCodeAt(c);
        if (ch === 34 || ch === 92) plain = false;
      }
      id = plain ? text.slice(at + 1, tab1 - 1) : JSON.parse(text.slice(at, tab1));
    } catch (e) {
      throw new Error(`line ${line} is not valid JSON: ${(e as Error).message}`);
    }
    // The record is checked when parsed; here only that it is one whole JSON object.
    if (typeof id !== 'string' || text[tab1 + 1] !== '{' || text[tab2 - 1] !== '}') throw new Error(`line ${line} is not a node record`);
    nodes.set(id, new StoredLine(text, tab1 + 1, tab2 + 1, end));
    at = end + 1;
    line++;
  }
  return nodes;
}

interface JournalLine {
  set: string;
  entry: ManifestEntry;
}

/** The snapshot exists but cannot be read as a manifest. */
export class ManifestDamagedError extends Error {
  constructor(
    readonly file: string,
    readonly detail: string,
  ) {
    super(`manifest ${file} is damaged (${detail})`);
    this.name = 'ManifestDamagedError';
  }
}

export class Manifest {
  private readonly nodes = new Map<string, ManifestEntry | StoredLine>();
  /** Records parsed from stored lines lately, oldest first. */
  private readonly recent = new Map<string, ParsedRecord>();
  private readonly recentIds: (string | undefined)[] = new Array(RECENT_PARSED);
  private recentNext = 0;
  private journal: fsp.FileHandle | null = null;
  private dirty = false;
  private tail: Promise<void> = Promise.resolve();

  private constructor(
    readonly snapshotPath: string,
    readonly journalPath: string,
  ) {}

  /** Load `<dir>/<name>.json` and replay `<dir>/<name>.journal`. Missing files = empty. */
  static async load(dir: string, name: string): Promise<Manifest> {
    const m = new Manifest(path.join(dir, `${name}.json`), path.join(dir, `${name}.journal`));
    const snap = await readIfExists(m.snapshotPath);
    if (snap) {
      let nodes: Map<string, ManifestEntry | StoredLine>;
      try {
        nodes = parseSnapshot(snap);
      } catch (e) {
        throw new ManifestDamagedError(m.snapshotPath, (e as Error).message);
      }
      for (const [id, entry] of nodes) m.nodes.set(id, entry);
      // An older format is rewritten in this one at the next compaction.
      if (!snap.startsWith(`${HEADER_V2}\n`)) m.dirty = true;
    }
    const journal = await readIfExists(m.journalPath);
    if (journal) {
      for (const line of journal.split('\n')) {
        if (!line.trim()) continue;
        let j: JournalLine | null;
        try {
          j = JSON.parse(line) as JournalLine | null;
        } catch {
          continue; // torn write from a crash: the node simply counts as not finished
        }
        if (!j || typeof j.set !== 'string' || !j.entry) continue; // not a line this journal writes
        m.nodes.set(j.set, j.entry);
        m.dirty = true;
      }
    }
    return m;
  }

  /**
   * The node's record. One read from the snapshot is parsed when asked for and not kept for
   * long (a run asks about once per node): read it once per use, and never change it.
   */
  get(id: string): ManifestEntry | undefined {
    const entry = this.nodes.get(id);
    if (!(entry instanceof StoredLine)) return entry;
    // A record is often read twice in quick succession (a dependent's inputs look at it just
    // before its own node does): the last few parsed are kept.
    const known = this.recent.get(id);
    if (known) return known;
    const parsed = entry.parse();
    if (parsed === null) return undefined;
    // A ring of the ids kept: the oldest goes when a new one comes.
    const slot = this.recentNext++ % RECENT_PARSED;
    const oldest = this.recentIds[slot];
    if (oldest !== undefined) this.recent.delete(oldest);
    this.recentIds[slot] = id;
    this.recent.set(id, parsed);
    return parsed;
  }

  /** Whether the manifest has a line for the node (without parsing it). */
  has(id: string): boolean {
    return this.nodes.has(id);
  }

  ids(): string[] {
    return [...this.nodes.keys()];
  }

  get size(): number {
    return this.nodes.size;
  }

  /**
   * Take a node's record from elsewhere (a shared record of the same build), in memory: the
   * next compaction keeps it, and a crash before then only means taking it again.
   */
  adopt(id: string, entry: ManifestEntry): void {
    this.nodes.set(id, entry);
    this.dirty = true;
  }

  /** Record a finished node durably (journal line + fsync). */
  async set(id: string, entry: ManifestEntry): Promise<void> {
    this.nodes.set(id, entry);
    await this.append({ set: id, entry });
  }

  private async append(line: JournalLine): Promise<void> {
    this.dirty = true;
    // Appends are serialised: nodes finish concurrently, and interleaved writes (or two
    // opens of the journal) would corrupt it.
    const write = this.tail.then(async () => {
      if (!this.journal) {
        await fsp.mkdir(path.dirname(this.journalPath), { recursive: true });
        this.journal = await fsp.open(this.journalPath, 'a');
      }
      await this.journal.write(`${JSON.stringify(line)}\n`);
      await this.journal.sync();
    });
    this.tail = write.catch(() => {});
    await write;
  }

  /** Fold the journal into a fresh snapshot (atomic), then drop the journal. */
  async compact(): Promise<void> {
    if (!this.dirty) return;
    const lines = [HEADER_V2];
    for (const id of [...this.nodes.keys()].sort()) lines.push(snapshotLine(id, this.nodes.get(id)!));
    await writeFileAtomic(this.snapshotPath, `${lines.join('\n')}\n`);
    await this.close();
    await fsp.rm(this.journalPath, { force: true });
    this.dirty = false;
  }

  async close(): Promise<void> {
    await this.tail;
    const j = this.journal;
    this.journal = null;
    await j?.close();
  }
}

async function readIfExists(p: string): Promise<string | null> {
  try {
    // Decoded whole, in one piece: read as text, a large file came as a chain of chunks that
    // the first search through it copied into one string again.
    return (await fsp.readFile(p)).toString('utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
}
