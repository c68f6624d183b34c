/**
 * The manifest: for every node, the key it was built with and what it produced.
 *
 * Stored as a snapshot (`manifest.json`, rewritten atomically) plus an append-only journal
 * (`manifest.journal`, one JSON line per finished node, fsynced). A crash loses at most the
 * node that was running; a torn last journal line is ignored on load. `compact()` folds the
 * journal into a new snapshot.
 *
 * Snapshot format 3 (written since): a header line `{"format":3,"records":R}`, then R bytes
 * of records, one line per node (its id and its record without the input leaves, two JSON
 * texts separated by a tab; JSON text never holds a raw tab), then the leaves, one line per
 * node (its id and its leaves). An up-to-date run reads the records and never the leaves (they
 * only explain a changed key, and were three fifths of the file): those are read from the same
 * open file when first asked for. Lines stay text until a node's record is asked for (`get`,
 * once per node in a run): parsed up front, every record lived as long as the run, and the
 * garbage collector copying them was a large part of planning an up-to-date run. A line that
 * is not JSON is taken for no record (its node runs again); leaves that cannot be read leave
 * a changed key unexplained. Format 2 (id, record and leaves on each line, after the header
 * `{"format":2}`) and format 1 (one JSON object `{"format":1,"nodes":{id: record}}`) are
 * still read, and rewritten as format 3 on the next compaction.
 */
import { closeSync, fstatSync, openSync, readSync, promises as fsp } from 'node:fs';
import path from 'node:path';
import { writeFileAtomic } from '../util/fs.js';
import type { NodeRecord } from './types.js';

export type ManifestEntry = NodeRecord;

interface SnapshotV1 {
  format: 1;
  nodes: Record<string, ManifestEntry>;
}

const HEADER_V2 = '{"format":2}';
const HEADER_V3_START = '{"format":3,';

/** How many records parsed from the snapshot `get` keeps for a second read. */
const RECENT_PARSED = 256;

/** Where a format-3 snapshot's leaves are: read when first asked for, from the open file. */
class LeavesSection {
  private byId: Map<string, string> | null = null;

  constructor(
    private fd: number | null,
    private readonly start: number,
    private readonly length: number,
  ) {}

  /** The leaves text of `id`; `{}` when there is none (or they cannot be read). */
  leavesOf(id: string): string {
    return this.load().get(id) ?? '{}';
  }

  /** Read them now (before the file is let go). */
  load(): Map<string, string> {
    if (this.byId) return this.byId;
    this.byId = new Map();
    if (this.fd === null) return this.byId;
    try {
      const buf = Buffer.allocUnsafe(this.length);
      let got = 0;
      while (got < this.length) {
        const n = readSync(this.fd, buf, got, this.length - got, this.start + got);
        if (n === 0) break;
        got += n;
      }
      const text = buf.toString('utf8', 0, got);
      for (let at = 0; at < text.length; ) {
        let end = text.indexOf('\n', at);
        if (end < 0) end = text.length;
        const tab = text.indexOf('\t', at);
        if (tab > at && tab < end) {
          const id = JSON.parse(text.slice(at, tab)) as unknown;
          if (typeof id === 'string') this.byId.set(id, text.slice(tab + 1, end));
        }
        at = end + 1;
      }
    } catch {
      // Unreadable leaves only leave a changed key unexplained.
    }
    return this.byId;
  }

  /** The file is closed: leaves not read by now are none. */
  detach(): void {
    this.fd = null;
  }
}

/** A node's line of a snapshot, as text: parsed by `get`, written back as it is. */
class StoredLine {
  /**
   * Offsets into the snapshot's text: no string is cut out of it until asked for. The leaves
   * are on the line (format 2, `leavesStart` >= 0) or in the leaves section (format 3).
   */
  constructor(
    private readonly text: string,
    private readonly recordStart: number,
    private readonly recordEnd: number,
    private readonly leavesStart: number,
    private readonly leavesEnd: number,
    private readonly section: LeavesSection | null,
    private readonly id: string,
  ) {}

  get recordText(): string {
    return this.text.slice(this.recordStart, this.recordEnd);
  }

  get leavesText(): string {
    if (this.leavesStart >= 0) return this.text.slice(this.leavesStart, this.leavesEnd);
    return this.section ? this.section.leavesOf(this.id) : '{}';
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
    return new ParsedRecord(r.rule, r.version, r.key, r.result, r.at, this);
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
    private readonly line: StoredLine,
  ) {}

  get leavesText(): string {
    return this.line.leavesText;
  }

  get leaves(): Record<string, string> {
    this.parsed ??= JSON.parse(this.leavesText) as Record<string, string>;
    return this.parsed;
  }

  toJSON(): ManifestEntry {
    return { rule: this.rule, version: this.version, key: this.key, leaves: this.leaves, result: this.result, at: this.at };
  }
}

/** The record text of a snapshot line (without the leaves). */
function recordTextOf(entry: ManifestEntry | StoredLine): string {
  if (entry instanceof StoredLine) return entry.recordText;
  return JSON.stringify({ rule: entry.rule, version: entry.version, key: entry.key, result: entry.result, at: entry.at });
}

function leavesTextOf(entry: ManifestEntry | StoredLine): string {
  return entry instanceof StoredLine || entry instanceof ParsedRecord ? entry.leavesText : JSON.stringify(entry.leaves);
}

/** A format-3 snapshot of `nodes`, in id order. */
function snapshotText(nodes: ReadonlyMap<string, ManifestEntry | StoredLine>): string {
  const records: string[] = [];
  const leaves: string[] = [];
  for (const id of [...nodes.keys()].sort()) {
    const entry = nodes.get(id)!;
    const quoted = JSON.stringify(id);
    records.push(`${quoted}\t${recordTextOf(entry)}\n`);
    leaves.push(`${quoted}\t${leavesTextOf(entry)}\n`);
  }
  const recordsText = records.join('');
  return `${HEADER_V3_START}"records":${Buffer.byteLength(recordsText)}}\n${recordsText}${leaves.join('')}`;
}

/** A format-3 header's records length in bytes, or null when `line` is not one. */
function recordsLength(line: string): number | null {
  if (!line.startsWith(HEADER_V3_START)) return null;
  try {
    const header = JSON.parse(line) as { format?: unknown; records?: unknown };
    return header.format === 3 && typeof header.records === 'number' && Number.isSafeInteger(header.records) && header.records >= 0 ? header.records : null;
  } catch {
    return null;
  }
}

/**
 * The nodes of `text`'s lines from `at` to `end`: each line an id and a record, and with
 * the leaves too when they are `inline` (format 2). Throws a message saying what is wrong.
 */
function parseLines(
  text: string,
  at: number,
  end: number,
  firstLine: number,
  leaves: { inline: true } | { inline: false; section: LeavesSection | null },
  nodes: Map<string, ManifestEntry | StoredLine>,
): void {
  let line = firstLine;
  while (at < end) {
    let lineEnd = text.indexOf('\n', at);
    if (lineEnd < 0 || lineEnd > end) lineEnd = end;
    const tab1 = text.indexOf('\t', at);
    if (tab1 < 0 || tab1 > lineEnd) throw new Error(`line ${line} is not an id and a record`);
    let recordEnd = lineEnd;
    let leavesStart = -1;
    if (leaves.inline) {
      const tab2 = text.indexOf('\t', tab1 + 1);
      if (tab2 < 0 || tab2 > lineEnd) throw new Error(`line ${line} is not id, record and leaves`);
      recordEnd = tab2;
      leavesStart = tab2 + 1;
    }
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
    if (typeof id !== 'string' || text[tab1 + 1] !== '{' || text[recordEnd - 1] !== '}') throw new Error(`line ${line} is not a node record`);
    const section = leaves.inline ? null : leaves.section;
    nodes.set(id, new StoredLine(text, tab1 + 1, recordEnd, leavesStart, lineEnd, section, id));
    at = lineEnd + 1;
    line++;
  }
}

/** The records of a snapshot's text (format 1, 2 or 3); throws a message saying what is wrong. */
export function parseSnapshot(text: string): Map<string, ManifestEntry | StoredLine> {
  const nodes = new Map<string, ManifestEntry | StoredLine>();
  const firstLineEnd = text.indexOf('\n');
  const length = recordsLength(firstLineEnd < 0 ? text : text.slice(0, firstLineEnd));
  if (length !== null) {
    // Offsets in the header are bytes: cut the sections out of the encoded text.
    const bytes = Buffer.from(text.slice(firstLineEnd + 1));
    const records = bytes.toString('utf8', 0, length);
    const leavesText = bytes.toString('utf8', length);
    const byId = new Map<string, string>();
    for (const line of leavesText.split('\n')) {
      const tab = line.indexOf('\t');
      if (tab > 0) byId.set(JSON.parse(line.slice(0, tab)) as string, line.slice(tab + 1));
    }
    const parsed = new Map<string, ManifestEntry | StoredLine>();
    parseLines(records, 0, records.length, 2, { inline: false, section: null }, parsed);
    for (const [id, entry] of parsed) {
      const record = (entry as StoredLine).parse();
      if (!record) throw new Error(`the record of ${id} is not one`);
      nodes.set(id, {
        rule: record.rule,
        version: record.version,
        key: record.key,
        result: record.result,
        at: record.at,
        leaves: JSON.parse(byId.get(id) ?? '{}'),
      });
    }
    return nodes;
  }
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
  parseLines(text, HEADER_V2.length + 1, text.length, 2, { inline: true }, nodes);
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
  /** The format-3 snapshot this was loaded from, kept open for its leaves (see `LeavesSection`). */
  private snapshotFd: number | null = null;
  private leaves: LeavesSection | null = null;
  private dirty = false;
  private tail: Promise<void> = Promise.resolve();

  private constructor(
    readonly snapshotPath: string,
    readonly journalPath: string,
  ) {}

  /** Load `<dir>/<name>.json` and replay `<dir>/<name>.journal`. Missing files = empty. */
  static async load(dir: string, name: string): Promise<Manifest> {
    const m = new Manifest(path.join(dir, `${name}.json`), path.join(dir, `${name}.journal`));
    // Reading errors are what they are; what is read but is no manifest is damage.
    const snap = openSnapshot(m.snapshotPath);
    try {
      if (snap?.damage) throw new Error(snap.damage);
      if (snap?.section) {
        m.snapshotFd = snap.fd ?? null;
        m.leaves = snap.section;
        parseLines(snap.text, 0, snap.text.length, 2, { inline: false, section: snap.section }, m.nodes);
      } else if (snap) {
        for (const [id, entry] of parseSnapshot(snap.text)) m.nodes.set(id, entry);
        // An older format is rewritten in this one at the next compaction.
        m.dirty = true;
      }
    } catch (e) {
      m.releaseSnapshot();
      throw new ManifestDamagedError(m.snapshotPath, (e as Error).message);
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
    // Written from the text of the one read: its leaves are read now, while it is open, and
    // it is let go before the new one takes its name.
    const text = snapshotText(this.nodes);
    this.releaseSnapshot();
    await writeFileAtomic(this.snapshotPath, text);
    await this.close();
    await fsp.rm(this.journalPath, { force: true });
    this.dirty = false;
  }

  async close(): Promise<void> {
    await this.tail;
    const j = this.journal;
    this.journal = null;
    await j?.close();
    this.releaseSnapshot();
  }

  /** Let the snapshot file go: leaves not read by now are not read any more. */
  private releaseSnapshot(): void {
    this.leaves?.detach();
    if (this.snapshotFd !== null) closeSync(this.snapshotFd);
    this.snapshotFd = null;
  }
}

/**
 * The snapshot at `p`: a format-3 one's records section read, the file kept open for its
 * leaves (`fd`, `section`); an older one's whole text; null when there is none.
 */
function openSnapshot(p: string): { text: string; fd?: number; section?: LeavesSection; damage?: string } | null {
  let fd: number;
  try {
    fd = openSync(p, 'r');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
  try {
    const size = fstatSync(fd).size;
    const head = Buffer.allocUnsafe(Math.min(size, 128));
    const headRead = readFully(fd, head, 0);
    const newline = head.subarray(0, headRead).indexOf(10);
    const length = newline < 0 ? null : recordsLength(head.toString('utf8', 0, newline));
    if (length === null) {
      // Format 1 or 2: the whole text, decoded in one piece.
      const whole = Buffer.allocUnsafe(size);
      const got = readFully(fd, whole, 0);
      closeSync(fd);
      return { text: whole.toString('utf8', 0, got) };
    }
    const start = newline + 1;
    const records = Buffer.allocUnsafe(length);
    if (readFully(fd, records, start) < length) {
      closeSync(fd);
      return { text: '', damage: 'its records are cut short' };
    }
    return { text: records.toString('utf8'), fd, section: new LeavesSection(fd, start + length, Math.max(0, size - start - length)) };
  } catch (e) {
    closeSync(fd);
    throw e;
  }
}

/** Fill `buf` from `fd` at `position` (or up to the end of the file); the bytes read. */
function readFully(fd: number, buf: Buffer, position: number): number {
  let got = 0;
  while (got < buf.length) {
    const n = readSync(fd, buf, got, buf.length - got, position + got);
    if (n === 0) break;
    got += n;
  }
  return got;
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
