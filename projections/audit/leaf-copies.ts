import { mkdir, open, readdir, readFile, rm, stat, writeFile, type FileHandle } from "node:fs/promises";
import { join } from "node:path";
import { log } from "../../streams/log.ts";
import { readPackedRecord, RECORD_HEAD_BYTES, writeRecordHead, type PackedRecord } from "./leaf-records.ts";

/**
 * Local copies of the audited messages by leaf index, so that an inclusion proof reads its event
 * from a file instead of asking nats-server for it. nats-server 2.9 answers a direct get of a
 * message whose 8 MB block is not in its cache by loading the whole block (8-20 ms here), and a
 * random proof meets such a block about one time in ten (ADR 0013).
 *
 * A cache, never a source of truth: a copy is served only when it hashes to the tree's leaf
 * (proofs.ts); anything missing, unreadable or not matching is read from the stream instead.
 * The directory may be deleted at any time.
 *
 * Files: segments `<first leaf index, 16 digits>.leaves` holding packed records
 * (leaf-records.ts) back to back, about `segmentBytes` each. A full segment gets
 * `<first>.offsets` (one little-endian u32 offset per record) and is read back at the next
 * start; the segment being written has none, so after a crash it is dropped (`close` seals it).
 * Beyond `maxBytes` the oldest segments are deleted. Files are 0600, the directory 0700.
 */

export interface LeafCopiesOptions {
  /** Bytes of copies kept; the oldest segments are deleted beyond it. Default 2 GiB. */
  readonly maxBytes?: number;
  /** Bytes per segment file. Default 64 MiB. */
  readonly segmentBytes?: number;
}

/** Where the auditor's messages are appended as they are read, in leaf order. */
export interface LeafSink {
  /** One stored message: its stream (AUDITED_STREAMS index), sequence, subject, and header block (`headerLength` bytes) and payload back to back. */
  add(stream: number, seq: number, subject: Uint8Array, bytes: Uint8Array, headerLength: number): void;
}

interface Segment {
  readonly first: number;
  count: number;
  /** Start of record i at offsets[i]; grows by doubling. */
  offsets: Uint32Array;
  /** Bytes appended, buffered or written. */
  bytes: number;
  /** Bytes on disk: a record is readable once it ends at or before this. */
  written: number;
  file: FileHandle | undefined;
  sealed: boolean;
}

const BUFFER_BYTES = 1 << 20;
const NAME = /^(\d{16})\.leaves$/;

const segmentName = (first: number) => String(first).padStart(16, "0");

export class LeafCopies implements LeafSink {
  private readonly segments: Segment[] = [];
  private readonly maxBytes: number;
  private readonly segmentBytes: number;
  /** Leaf index the next `add` copies. */
  private end = 0;
  private buffer = Buffer.allocUnsafe(BUFFER_BYTES);
  private view = new DataView(this.buffer.buffer, this.buffer.byteOffset, this.buffer.byteLength);
  private used = 0;
  /** File work in order: writes, seals, deletions. */
  private queue: Promise<void> = Promise.resolve();
  private stopped = false;

  private constructor(
    readonly dir: string,
    options: LeafCopiesOptions,
  ) {
    this.maxBytes = options.maxBytes ?? 2 * 1024 ** 3;
    this.segmentBytes = options.segmentBytes ?? 64 * 1024 ** 2;
  }

  /**
   * Opens the copies in `dir` (created 0700), keeping the sealed segments that lie within the
   * tree's first `treeSize` leaves; any other file of ours is deleted.
   */
  static async open(dir: string, treeSize: number, options: LeafCopiesOptions = {}): Promise<LeafCopies> {
    const copies = new LeafCopies(dir, options);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const names = await readdir(dir);
    for (const name of names.sort()) {
      const match = NAME.exec(name);
      if (!match) continue;
      const first = Number(match[1]);
      // Without its offsets file a segment was still being written when the process stopped.
      const segment = names.includes(`${match[1]}.offsets`) ? await copies.load(first) : undefined;
      const previous = copies.segments.at(-1);
      if (segment && segment.first + segment.count <= treeSize && (!previous || previous.first + previous.count <= first)) {
        copies.segments.push(segment);
      } else {
        await segment?.file?.close();
        await copies.remove(first);
      }
    }
    const last = copies.segments.at(-1);
    copies.end = last ? last.first + last.count : treeSize;
    return copies;
  }

  /** A sealed segment with offsets that agree with its file, else undefined. */
  private async load(first: number): Promise<Segment | undefined> {
    try {
      const path = join(this.dir, `${segmentName(first)}.leaves`);
      const raw = await readFile(join(this.dir, `${segmentName(first)}.offsets`));
      const { size } = await stat(path);
      const count = Math.floor(raw.length / 4);
      const offsets = new Uint32Array(Math.max(1, count));
      const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
      for (let i = 0; i < count; i++) offsets[i] = view.getUint32(i * 4, true);
      if (count === 0 || raw.length % 4 !== 0 || offsets[0] !== 0 || offsets[count - 1]! >= size) return undefined;
      for (let i = 1; i < count; i++) if (offsets[i]! <= offsets[i - 1]!) return undefined;
      return { first, count, offsets, bytes: size, written: size, file: await open(path, "r"), sealed: true };
    } catch {
      return undefined;
    }
  }

  /** Bytes the kept copies take. */
  get size(): number {
    return this.segments.reduce((n, s) => n + s.bytes, 0);
  }

  /** Leaves with a copy on disk, as [first, end) ranges. */
  get ranges(): readonly (readonly [number, number])[] {
    return this.segments.filter((s) => s.written > 0).map((s) => [s.first, s.first + this.readableCount(s)] as const);
  }

  private readableCount(s: Segment): number {
    let n = s.count;
    while (n > 0 && this.recordEnd(s, n - 1) > s.written) n--;
    return n;
  }

  private recordEnd(s: Segment, i: number): number {
    return i + 1 < s.count ? s.offsets[i + 1]! : s.bytes;
  }

  private get tail(): Segment | undefined {
    const last = this.segments.at(-1);
    return last && !last.sealed ? last : undefined;
  }

  /** The copies from now on start at leaf `index`: the tree's size before a window is appended. */
  async begin(index: number): Promise<void> {
    if (this.stopped) return;
    if (index < this.end) await this.truncate(index);
    if (!this.tail || index !== this.end) this.startSegment(index);
  }

  add(stream: number, seq: number, subject: Uint8Array, bytes: Uint8Array, headerLength: number): void {
    const tail = this.tail;
    if (this.stopped || !tail) return;
    const size = RECORD_HEAD_BYTES + subject.length + bytes.length;
    if (tail.count > 0 && tail.bytes + size > this.segmentBytes) {
      this.startSegment(this.end);
      return this.add(stream, seq, subject, bytes, headerLength);
    }
    if (this.used + size > this.buffer.length) {
      this.writeBuffer();
      if (size > this.buffer.length) this.newBuffer(size);
    }
    writeRecordHead(this.view, this.used, stream, seq, subject.length, headerLength, bytes.length - headerLength);
    this.buffer.set(subject, this.used + RECORD_HEAD_BYTES);
    this.buffer.set(bytes, this.used + RECORD_HEAD_BYTES + subject.length);
    if (tail.count === tail.offsets.length) {
      const grown = new Uint32Array(tail.offsets.length * 2);
      grown.set(tail.offsets);
      tail.offsets = grown;
    }
    tail.offsets[tail.count++] = tail.bytes;
    tail.bytes += size;
    this.used += size;
    this.end++;
  }

  /** Resolves once everything added so far is on disk (or the copies gave up). */
  async flush(): Promise<void> {
    this.writeBuffer();
    await this.queue;
  }

  /** Forgets the copies of leaves from `size` on (the auditor dropped a window). */
  async truncate(size: number): Promise<void> {
    await this.flush();
    if (this.stopped || size >= this.end) return;
    while (this.segments.length > 0 && this.segments.at(-1)!.first >= size) {
      const s = this.segments.pop()!;
      await s.file?.close().catch(() => undefined);
      await this.remove(s.first);
    }
    const last = this.segments.at(-1);
    if (last && last.first + last.count > size) {
      await this.run(async () => {
        last.count = size - last.first;
        last.bytes = last.offsets[last.count]!;
        last.written = Math.min(last.written, last.bytes);
        if (last.sealed) {
          await last.file?.close();
          await rm(join(this.dir, `${segmentName(last.first)}.offsets`), { force: true });
          last.file = await open(join(this.dir, `${segmentName(last.first)}.leaves`), "r+");
          last.sealed = false;
        }
        await last.file!.truncate(last.bytes);
      });
    }
    this.end = size;
  }

  /** The copy of leaf `index`, when one is on disk and reads back whole. */
  async read(index: number): Promise<PackedRecord | undefined> {
    const s = this.find(index);
    if (!s?.file) return undefined;
    const i = index - s.first;
    const start = s.offsets[i]!;
    const end = this.recordEnd(s, i);
    if (end > s.written) return undefined;
    try {
      const bytes = Buffer.allocUnsafe(end - start);
      const { bytesRead } = await s.file.read(bytes, 0, bytes.length, start);
      const record = bytesRead === bytes.length ? readPackedRecord(bytes) : undefined;
      return record?.length === bytes.length ? record : undefined;
    } catch {
      return undefined;
    }
  }

  /** Writes what is buffered, seals the segment being written, closes the files. */
  async close(): Promise<void> {
    await this.flush();
    const tail = this.tail;
    if (tail && tail.count > 0) await this.run(() => this.seal(tail));
    await Promise.all(this.segments.map((s) => s.file?.close().catch(() => undefined)));
    this.segments.length = 0;
    this.stopped = true;
  }

  private find(index: number): Segment | undefined {
    let lo = 0;
    let hi = this.segments.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const s = this.segments[mid]!;
      if (index < s.first) hi = mid - 1;
      else if (index >= s.first + s.count) lo = mid + 1;
      else return s;
    }
    return undefined;
  }

  private startSegment(first: number): void {
    this.writeBuffer();
    const previous = this.tail;
    if (previous) {
      if (previous.count > 0) this.enqueue(() => this.seal(previous));
      else {
        this.segments.pop();
        this.enqueue(async () => {
          await previous.file?.close();
          await this.remove(previous.first);
        });
      }
    }
    const segment: Segment = { first, count: 0, offsets: new Uint32Array(1024), bytes: 0, written: 0, file: undefined, sealed: false };
    this.segments.push(segment);
    this.end = first;
    this.enqueue(async () => {
      segment.file = await open(join(this.dir, `${segmentName(first)}.leaves`), "w+", 0o600);
    });
  }

  private async seal(s: Segment): Promise<void> {
    const raw = Buffer.allocUnsafe(s.count * 4);
    for (let i = 0; i < s.count; i++) raw.writeUInt32LE(s.offsets[i]!, i * 4);
    await writeFile(join(this.dir, `${segmentName(s.first)}.offsets`), raw, { mode: 0o600 });
    s.offsets = s.offsets.slice(0, s.count);
    s.sealed = true;
    // Beyond the budget, the oldest go; never the newest.
    let total = this.size;
    while (total > this.maxBytes && this.segments.length > 1) {
      const oldest = this.segments.shift()!;
      total -= oldest.bytes;
      await oldest.file?.close().catch(() => undefined);
      await this.remove(oldest.first);
    }
  }

  private writeBuffer(): void {
    const tail = this.tail;
    if (this.used === 0 || !tail) return;
    const data = this.buffer.subarray(0, this.used);
    const position = tail.bytes - this.used;
    this.enqueue(async () => {
      await tail.file!.write(data, 0, data.length, position);
      tail.written = Math.max(tail.written, Math.min(position + data.length, tail.bytes));
    });
    // The buffer is in flight: the next records go to a new one.
    this.newBuffer(BUFFER_BYTES);
  }

  private newBuffer(bytes: number): void {
    this.buffer = Buffer.allocUnsafe(bytes);
    this.view = new DataView(this.buffer.buffer, this.buffer.byteOffset, this.buffer.byteLength);
    this.used = 0;
  }

  private async remove(first: number): Promise<void> {
    await rm(join(this.dir, `${segmentName(first)}.leaves`), { force: true });
    await rm(join(this.dir, `${segmentName(first)}.offsets`), { force: true });
  }

  private enqueue(step: () => Promise<void>): void {
    this.queue = this.queue.then(() => (this.stopped ? undefined : step())).catch((error: Error) => this.fail(error));
  }

  private async run(step: () => Promise<void>): Promise<void> {
    this.enqueue(step);
    await this.queue;
  }

  private fail(error: Error): void {
    if (this.stopped) return;
    this.stopped = true;
    // Copies are a cache: proofs read from the streams from now on.
    log.warn("audit: local leaf copies stopped; proofs read events from the streams", { dir: this.dir, error: error.message });
  }
}
