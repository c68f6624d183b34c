/**
 * The manifest: for every node, the key it was built with and what it produced.
 *
 * Stored as a snapshot (`manifest.json`, rewritten atomically) plus an append-only journal
 * (`manifest.journal`, one JSON line per finished node, fsynced). A crash loses at most the
 * node that was running; a torn last journal line is ignored on load. `compact()` folds the
 * journal into a new snapshot.
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { writeFileAtomic } from '../util/fs.js';
import type { NodeRecord } from './types.js';

export type ManifestEntry = NodeRecord;

interface Snapshot {
  format: 1;
  nodes: Record<string, ManifestEntry>;
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
  private readonly nodes = new Map<string, ManifestEntry>();
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
      let parsed: Snapshot;
      try {
        parsed = JSON.parse(snap) as Snapshot;
      } catch (e) {
        throw new ManifestDamagedError(m.snapshotPath, `not valid JSON: ${(e as Error).message}`);
      }
      if (!parsed || typeof parsed !== 'object' || typeof parsed.nodes !== 'object' || parsed.nodes === null) {
        throw new ManifestDamagedError(m.snapshotPath, 'no nodes object');
      }
      for (const [id, entry] of Object.entries(parsed.nodes)) m.nodes.set(id, entry);
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

  get(id: string): ManifestEntry | undefined {
    return this.nodes.get(id);
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
    const snap: Snapshot = { format: 1, nodes: Object.fromEntries([...this.nodes].sort(([a], [b]) => (a < b ? -1 : 1))) };
    await writeFileAtomic(this.snapshotPath, JSON.stringify(snap));
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
    return await fsp.readFile(p, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
}
