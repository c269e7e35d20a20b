/**
 * The node agent's command journal: a local file of JSON lines saying how far each command got
 * on this node. It is what keeps a command from being carried
 * out twice when the agent dies between changing the kernel and its checkpoint:
 *
 * - `begin`: about to carry out a command that is not idempotent (restart-interface); written
 *   before the kernel is touched. A replay that finds `begin` without `done` does not repeat it.
 * - `done`: carried out; the record holds the sealed outcome (bytes, signature and all), so a
 *   replay republishes exactly the same event instead of acting again.
 * - `stored`: the server acknowledged the outcome; a replay does nothing at all.
 *
 * Idempotent actions (hop-penalty, gateway, quarantine, release, rate-limit) skip `begin`: if
 * the agent dies after changing the kernel but before `done`, the replay sets the same state
 * again, which changes nothing.
 *
 * Only `begin` waits for fdatasync (~7 ms here). Every record is written before the agent goes
 * on, so it survives the agent's own crash; what a power cut could lose of `done` and `stored`
 * costs at most an idempotent action carried out again, whose outcome has the same event id.
 */
import { mkdir, open, readFile, rename, type FileHandle } from "node:fs/promises";
import { dirname } from "node:path";
import type { EnvelopeMeta, SealedEvent } from "../../streams/envelope.ts";

export type JournalEntry =
  | { readonly phase: "begun"; readonly at: number }
  | { readonly phase: "done"; readonly at: number; readonly outcome: SealedEvent }
  | { readonly phase: "stored"; readonly at: number; readonly seq: number };

type Line =
  | { readonly op: "begin"; readonly id: string; readonly at: number }
  | { readonly op: "done"; readonly id: string; readonly at: number; readonly outcome: WireEvent }
  | { readonly op: "stored"; readonly id: string; readonly at: number; readonly seq: number };

interface WireEvent {
  readonly meta: Omit<EnvelopeMeta, "signature"> & { readonly signature: string };
  readonly payload: string;
}

const toWire = (event: SealedEvent): WireEvent => ({
  meta: { ...event.meta, signature: Buffer.from(event.meta.signature).toString("base64") },
  payload: Buffer.from(event.payload).toString("base64"),
});

const fromWire = (wire: WireEvent): SealedEvent => ({
  meta: { ...wire.meta, signature: new Uint8Array(Buffer.from(wire.meta.signature, "base64")) },
  payload: new Uint8Array(Buffer.from(wire.payload, "base64")),
});

export interface CommandJournalOptions {
  /** Commands remembered; older ones are dropped when the file is compacted at open. Default 5 000. */
  readonly maxEntries?: number;
}

export class CommandJournal {
  private writes: Promise<void> = Promise.resolve();

  private constructor(
    readonly path: string,
    private readonly file: FileHandle,
    private readonly entries: Map<string, JournalEntry>,
    private readonly maxEntries: number,
  ) {}

  /** Opens (creating) the journal at `path`, mode 0600; a torn last line from a crash is ignored. */
  static async open(path: string, options: CommandJournalOptions = {}): Promise<CommandJournal> {
    const maxEntries = options.maxEntries ?? 5_000;
    await mkdir(dirname(path), { recursive: true, mode: 0o700 });
    const entries = new Map<string, JournalEntry>();
    let lines = 0;
    const text = await readFile(path, "utf8").catch((error: NodeJS.ErrnoException) => {
      if (error.code === "ENOENT") return "";
      throw error;
    });
    for (const raw of text.split("\n")) {
      if (!raw) continue;
      let line: Line;
      try {
        line = JSON.parse(raw) as Line;
      } catch {
        continue;
      }
      lines++;
      entries.delete(line.id); // re-inserted last: the map stays in order of last activity
      if (line.op === "begin") entries.set(line.id, { phase: "begun", at: line.at });
      else if (line.op === "done") entries.set(line.id, { phase: "done", at: line.at, outcome: fromWire(line.outcome) });
      else entries.set(line.id, { phase: "stored", at: line.at, seq: line.seq });
    }
    while (entries.size > maxEntries) entries.delete(entries.keys().next().value!);
    // Compact when the file holds much more than the entries it describes.
    if (lines > 2 * Math.max(entries.size, 100)) {
      const temp = `${path}.compact`;
      const out = await open(temp, "w", 0o600);
      for (const [id, entry] of entries) await out.write(`${serialize(id, entry)}\n`);
      await out.datasync();
      await out.close();
      await rename(temp, path);
    }
    const file = await open(path, "a", 0o600);
    return new CommandJournal(path, file, entries, maxEntries);
  }

  get(commandId: string): JournalEntry | undefined {
    return this.entries.get(commandId);
  }

  get size(): number {
    return this.entries.size;
  }

  /** Durable (fdatasync) before it resolves: the kernel is touched only after. */
  begin(commandId: string, at: number): Promise<void> {
    return this.record(commandId, { phase: "begun", at }, { op: "begin", id: commandId, at }, true);
  }

  done(commandId: string, outcome: SealedEvent, at: number): Promise<void> {
    return this.record(commandId, { phase: "done", at, outcome }, { op: "done", id: commandId, at, outcome: toWire(outcome) }, false);
  }

  stored(commandId: string, seq: number, at: number): Promise<void> {
    return this.record(commandId, { phase: "stored", at, seq }, { op: "stored", id: commandId, at, seq }, false);
  }

  async close(): Promise<void> {
    await this.writes;
    await this.file.close();
  }

  private record(commandId: string, entry: JournalEntry, line: Line, sync: boolean): Promise<void> {
    this.entries.delete(commandId);
    this.entries.set(commandId, entry);
    if (this.entries.size > this.maxEntries) this.entries.delete(this.entries.keys().next().value!);
    const write = this.writes.then(async () => {
      await this.file.write(`${JSON.stringify(line)}\n`);
      if (sync) await this.file.datasync();
    });
    this.writes = write.catch(() => undefined);
    return write;
  }
}

const serialize = (id: string, entry: JournalEntry): string =>
  entry.phase === "begun"
    ? JSON.stringify({ op: "begin", id, at: entry.at })
    : entry.phase === "done"
      ? JSON.stringify({ op: "done", id, at: entry.at, outcome: toWire(entry.outcome) })
      : JSON.stringify({ op: "stored", id, at: entry.at, seq: entry.seq });
