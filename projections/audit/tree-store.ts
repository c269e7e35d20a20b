import type { KV } from "@nats-io/kv";
import { AUDITED_STREAMS, CompactTree, MerkleInputError, type Hash, type NodeId, type TreeHashes } from "../../domains/audit/index.ts";

/**
 * Where the audit tree's hashes live: every perfect subtree `CompactTree` reports (about two
 * hashes, 64 bytes, per leaf), and the leaf index that maps (stream, sequence) to a leaf.
 *
 * Both are logs of 32-byte records cut into chunks of 1,024 records (32 KiB). In the KV bucket
 * each chunk is one key, written when it changed at a checkpoint (a full chunk never changes
 * again), so a restart reads back what it needs instead of rehashing the streams. In memory,
 * chunks are loaded on demand and the least recently used full, persisted chunks are dropped
 * beyond `maxResidentBytes`: proofs load the few they need back (`ensure`) before reading.
 */

export const RECORD_BYTES = 32;
export const CHUNK_RECORDS = 1024;
const CHUNK_BYTES = RECORD_BYTES * CHUNK_RECORDS;

/** A hash or leaf-index record that is not in memory: a caller forgot `ensure`. */
export class NotResidentError extends Error {
  override readonly name = "NotResidentError";
}

interface Chunk {
  bytes: Uint8Array;
  /** Changed since it was last written to KV. */
  dirty: boolean;
  /** Last use, for eviction. */
  used: number;
}

/** Shared accounting of resident chunks across every log of one store. */
class Residency {
  private clock = 0;
  resident = 0;
  constructor(readonly maxChunks: number) {}
  tick(): number {
    return ++this.clock;
  }
}

/** An append-only log of 32-byte records, chunked in memory and in KV. */
class RecordLog {
  count = 0;
  private readonly chunks = new Map<number, Chunk>();

  constructor(
    private readonly key: string,
    private readonly residency: Residency,
  ) {}

  private chunkKey(chunk: number): string {
    return `${this.key}.${chunk}`;
  }

  private touch(chunk: Chunk): Chunk {
    chunk.used = this.residency.tick();
    return chunk;
  }

  private tail(): Chunk {
    const index = Math.floor(this.count / CHUNK_RECORDS);
    let chunk = this.chunks.get(index);
    if (!chunk) {
      if (this.count % CHUNK_RECORDS !== 0) throw new NotResidentError(`chunk ${this.chunkKey(index)} is being appended to but not loaded`);
      chunk = { bytes: new Uint8Array(CHUNK_BYTES), dirty: true, used: 0 };
      this.chunks.set(index, chunk);
      this.residency.resident++;
    }
    return this.touch(chunk);
  }

  append(record: Uint8Array): void {
    const chunk = this.tail();
    chunk.bytes.set(record, (this.count % CHUNK_RECORDS) * RECORD_BYTES);
    chunk.dirty = true;
    this.count++;
  }

  /** The record at `index` (a view into the chunk; copy it to keep it). */
  get(index: number): Uint8Array {
    if (!Number.isSafeInteger(index) || index < 0 || index >= this.count) throw new RangeError(`record ${index} of ${this.key} is out of range (${this.count} stored)`);
    const chunk = this.chunks.get(Math.floor(index / CHUNK_RECORDS));
    if (!chunk) throw new NotResidentError(`record ${index} of ${this.key} is not in memory`);
    const offset = (index % CHUNK_RECORDS) * RECORD_BYTES;
    return this.touch(chunk).bytes.subarray(offset, offset + RECORD_BYTES);
  }

  set(index: number, record: Uint8Array): void {
    const bytes = this.get(index);
    bytes.set(record);
    this.chunks.get(Math.floor(index / CHUNK_RECORDS))!.dirty = true;
  }

  /** Keeps the first `count` records. */
  truncate(count: number): void {
    if (count >= this.count) return;
    this.count = count;
    const last = Math.ceil(count / CHUNK_RECORDS);
    for (const [index, chunk] of this.chunks) {
      if (index >= last) {
        this.chunks.delete(index);
        this.residency.resident--;
      } else if (index === last - 1 && count % CHUNK_RECORDS !== 0) {
        chunk.bytes.fill(0, (count % CHUNK_RECORDS) * RECORD_BYTES);
        chunk.dirty = true;
      }
    }
  }

  /** Chunks holding records [from, to) that are not in memory. */
  missing(from: number, to: number): number[] {
    const out: number[] = [];
    if (to <= from) return out;
    for (let c = Math.floor(from / CHUNK_RECORDS); c <= Math.floor((to - 1) / CHUNK_RECORDS); c++) if (!this.chunks.has(c)) out.push(c);
    return out;
  }

  async load(kv: KV, chunk: number): Promise<void> {
    if (this.chunks.has(chunk)) return;
    const entry = await kv.get(this.chunkKey(chunk));
    const bytes = new Uint8Array(CHUNK_BYTES);
    const stored = Math.min(CHUNK_RECORDS, this.count - chunk * CHUNK_RECORDS);
    if (!entry || entry.operation !== "PUT" || entry.value.length < stored * RECORD_BYTES) {
      throw new Error(`audit store: chunk ${this.chunkKey(chunk)} is missing or short in KV (need ${stored} records)`);
    }
    bytes.set(entry.value.subarray(0, stored * RECORD_BYTES));
    if (this.chunks.has(chunk)) return; // loaded by a concurrent request meanwhile
    this.chunks.set(chunk, { bytes, dirty: false, used: this.residency.tick() });
    this.residency.resident++;
  }

  /** Writes every changed chunk (only the used part of the last one). */
  async persist(kv: KV): Promise<void> {
    const writes: Promise<unknown>[] = [];
    for (const [index, chunk] of this.chunks) {
      if (!chunk.dirty) continue;
      const records = Math.min(CHUNK_RECORDS, this.count - index * CHUNK_RECORDS);
      chunk.dirty = false;
      writes.push(
        kv.put(this.chunkKey(index), chunk.bytes.slice(0, records * RECORD_BYTES)).catch((error: unknown) => {
          chunk.dirty = true;
          throw error;
        }),
      );
    }
    await Promise.all(writes);
  }

  /** Chunks that may be dropped from memory: clean (in KV) and full (not the one appended to). */
  evictable(): { log: RecordLog; index: number; used: number }[] {
    const tailIndex = Math.floor(this.count / CHUNK_RECORDS);
    const out: { log: RecordLog; index: number; used: number }[] = [];
    for (const [index, chunk] of this.chunks) if (!chunk.dirty && index < tailIndex) out.push({ log: this, index, used: chunk.used });
    return out;
  }

  drop(index: number): void {
    if (this.chunks.delete(index)) this.residency.resident--;
  }
}

export interface TreeStoreOptions {
  /** Memory the store may hold before dropping least recently used chunks. Default 1 GiB. */
  readonly maxResidentBytes?: number;
}

/** One block of the leaf index: sequences first..last of a stream are leaves firstLeaf.. onwards. */
export interface LeafBlock {
  readonly stream: number;
  readonly firstSeq: number;
  /** Grows while the run continues; written to the record log at the next persist. */
  lastSeq: number;
  readonly firstLeaf: number;
}

const blockRecord = (block: LeafBlock): Uint8Array => {
  const record = new Uint8Array(RECORD_BYTES);
  const view = new DataView(record.buffer);
  view.setFloat64(0, block.stream);
  view.setFloat64(8, block.firstSeq);
  view.setFloat64(16, block.lastSeq);
  view.setFloat64(24, block.firstLeaf);
  return record;
};

const blockOf = (record: Uint8Array): LeafBlock => {
  const view = new DataView(record.buffer, record.byteOffset, RECORD_BYTES);
  return { stream: view.getFloat64(0), firstSeq: view.getFloat64(8), lastSeq: view.getFloat64(16), firstLeaf: view.getFloat64(24) };
};

/**
 * The auditor's tree: the compact tree it appends to, every perfect subtree hash (for proofs
 * of any past size), and the leaf index. Persisted under `<prefix>.` in a KV bucket.
 */
export class TreeStore implements TreeHashes {
  private readonly residency: Residency;
  private readonly levels: RecordLog[] = [];
  private readonly blocks: RecordLog;
  /** Per stream: block numbers in sequence order (all blocks stay in memory: 32 bytes each). */
  private readonly byStream: number[][] = AUDITED_STREAMS.map(() => []);
  private blockCache: LeafBlock[] = [];
  /** Blocks whose record is behind the block (grown since the last persist). */
  private readonly staleBlocks = new Set<number>();
  private compact: CompactTree;

  constructor(
    private readonly prefix: string,
    options: TreeStoreOptions = {},
  ) {
    this.residency = new Residency(Math.max(64, Math.floor((options.maxResidentBytes ?? 1024 ** 3) / CHUNK_BYTES)));
    this.blocks = new RecordLog(`${prefix}.blocks`, new Residency(Number.MAX_SAFE_INTEGER));
    this.compact = new CompactTree((node, hash) => this.level(node.level).append(hash));
  }

  private level(level: number): RecordLog {
    while (this.levels.length <= level) this.levels.push(new RecordLog(`${this.prefix}.nodes.${this.levels.length}`, this.residency));
    return this.levels[level]!;
  }

  /** Leaves stored (while a restored tree is being rebuilt, before its compact tree exists). */
  get size(): number {
    return this.levels[0]?.count ?? 0;
  }

  root(): Hash {
    return this.compact.root();
  }

  /** The roots of the tree's perfect subtrees, largest first: what a checkpoint event carries. */
  frontier(): Hash[] {
    return [...this.compact.frontier().peaks];
  }

  nodeHash(node: NodeId): Hash {
    const level = this.levels[node.level];
    if (!level || node.index >= level.count) {
      throw new MerkleInputError({ reason: "size-out-of-range", message: `no perfect subtree at level ${node.level}, index ${node.index} in a tree of ${this.size} leaves` });
    }
    return level.get(node.index).slice();
  }

  /** Appends one leaf (its hash) for message `seq` of audited stream number `stream`. */
  append(leaf: Hash, stream: number, seq: number): void {
    const index = this.compact.size;
    this.compact.append(leaf);
    const own = this.byStream[stream]!;
    const last = own.length > 0 ? own[own.length - 1]! : -1;
    const lastBlock = last >= 0 ? this.blockCache[last]! : undefined;
    if (lastBlock && lastBlock.lastSeq + 1 === seq && lastBlock.firstLeaf + (lastBlock.lastSeq - lastBlock.firstSeq) + 1 === index) {
      lastBlock.lastSeq = seq;
      this.staleBlocks.add(last);
      return;
    }
    const block = { stream, firstSeq: seq, lastSeq: seq, firstLeaf: index };
    own.push(this.blocks.count);
    this.blockCache.push(block);
    this.blocks.append(blockRecord(block));
  }

  /** The leaf of message `seq` of audited stream number `stream`, or undefined when it is not a leaf. */
  leafIndex(stream: number, seq: number): number | undefined {
    const own = this.byStream[stream];
    if (!own) return undefined;
    let low = 0;
    let high = own.length - 1;
    while (low <= high) {
      const mid = (low + high) >> 1;
      const block = this.blockCache[own[mid]!]!;
      if (seq < block.firstSeq) high = mid - 1;
      else if (seq > block.lastSeq) low = mid + 1;
      else return block.firstLeaf + (seq - block.firstSeq);
    }
    return undefined;
  }

  /** Level-0 hashes of leaves [from, to): load them first with `ensureLeaves`. */
  leafHashes(from: number, to: number): Hash[] {
    const out: Hash[] = [];
    for (let i = from; i < to; i++) out.push(this.nodeHash({ level: 0, index: i }));
    return out;
  }

  /** Back to the first `size` leaves (a checkpoint another auditor won the race for). */
  async truncate(size: number, kv: KV | undefined): Promise<void> {
    if (size > this.size) throw new RangeError(`cannot truncate a tree of ${this.size} leaves to ${size}`);
    if (size === this.size) return;
    this.levels.forEach((log, level) => log.truncate(Math.floor(size / 2 ** level)));
    // Blocks wholly past the size go; the one across it is cut.
    while (this.blockCache.length > 0) {
      const last = this.blockCache[this.blockCache.length - 1]!;
      if (last.firstLeaf < size) {
        const keep = size - last.firstLeaf;
        if (keep <= last.lastSeq - last.firstSeq) {
          last.lastSeq = last.firstSeq + keep - 1;
          this.staleBlocks.add(this.blockCache.length - 1);
        }
        break;
      }
      this.blockCache.pop();
      this.byStream[last.stream]!.pop();
      this.staleBlocks.delete(this.blockCache.length);
    }
    this.blocks.truncate(this.blockCache.length);
    await this.ensureTails(kv);
    await this.ensure(kv, peakNodes(size));
    this.compact = CompactTree.continuing(this, size, (node, hash) => this.level(node.level).append(hash));
  }

  /** Loads the chunk each level appends into next, when it is partly filled. */
  private async ensureTails(kv: KV | undefined): Promise<void> {
    const nodes = this.levels.filter((log) => log.count % CHUNK_RECORDS !== 0).map((log) => ({ level: this.levels.indexOf(log), index: log.count - 1 }));
    await this.ensure(kv, nodes);
  }

  /** Loads the chunks the nodes live in (before proofs, roots of past sizes, `continuing`). */
  async ensure(kv: KV | undefined, nodes: readonly NodeId[]): Promise<void> {
    const wanted = new Map<RecordLog, Set<number>>();
    for (const node of nodes) {
      const level = this.levels[node.level];
      if (!level) continue;
      for (const chunk of level.missing(node.index, node.index + 1)) {
        let set = wanted.get(level);
        if (!set) wanted.set(level, (set = new Set()));
        set.add(chunk);
      }
    }
    if (wanted.size === 0) return;
    if (!kv) throw new NotResidentError("the audit store has no KV bucket to load chunks from");
    await Promise.all([...wanted].flatMap(([log, chunks]) => [...chunks].map((chunk) => log.load(kv, chunk))));
  }

  /** Loads the level-0 chunks of leaves [from, to). */
  async ensureLeaves(kv: KV | undefined, from: number, to: number): Promise<void> {
    const level = this.levels[0];
    if (!level) return;
    const chunks = level.missing(from, to);
    if (chunks.length === 0) return;
    if (!kv) throw new NotResidentError("the audit store has no KV bucket to load chunks from");
    for (let i = 0; i < chunks.length; i += 32) await Promise.all(chunks.slice(i, i + 32).map((chunk) => level.load(kv, chunk)));
  }

  /** Drops least recently used clean chunks beyond the memory limit. */
  evict(): void {
    const excess = this.residency.resident - this.residency.maxChunks;
    if (excess <= 0) return;
    const candidates = this.levels.flatMap((log) => log.evictable()).sort((a, b) => a.used - b.used);
    for (const candidate of candidates.slice(0, excess)) candidate.log.drop(candidate.index);
  }

  /** Memory held by hash chunks, bytes. */
  get residentBytes(): number {
    return this.residency.resident * CHUNK_BYTES;
  }

  async persist(kv: KV): Promise<void> {
    for (const b of this.staleBlocks) this.blocks.set(b, blockRecord(this.blockCache[b]!));
    this.staleBlocks.clear();
    await Promise.all([...this.levels.map((log) => log.persist(kv)), this.blocks.persist(kv)]);
    this.evict();
  }

  /** What the state record needs to load this store back. */
  get shape(): { readonly size: number; readonly blocks: number } {
    return { size: this.size, blocks: this.blocks.count };
  }

  /**
   * Loads a store persisted with `persist`: every block, and for the tree only the chunks an
   * append needs (the peaks' and each level's last); the rest come back on demand.
   */
  static async load(kv: KV, prefix: string, shape: { readonly size: number; readonly blocks: number }, options: TreeStoreOptions = {}): Promise<TreeStore> {
    const store = new TreeStore(prefix, options);
    for (let level = 0; 2 ** level <= shape.size; level++) store.level(level).count = Math.floor(shape.size / 2 ** level);
    store.blocks.count = shape.blocks;
    const blockChunks = store.blocks.missing(0, shape.blocks);
    for (let i = 0; i < blockChunks.length; i += 32) await Promise.all(blockChunks.slice(i, i + 32).map((chunk) => store.blocks.load(kv, chunk)));
    for (let b = 0; b < shape.blocks; b++) {
      const block = blockOf(store.blocks.get(b));
      store.blockCache.push(block);
      store.byStream[block.stream]?.push(b);
    }
    await store.ensureTails(kv);
    const peaks = peakNodes(shape.size);
    await store.ensure(kv, peaks);
    store.compact = CompactTree.continuing(store, shape.size, (node, hash) => store.level(node.level).append(hash));
    return store;
  }
}

/** The perfect subtrees a tree of `size` leaves is made of, largest first (its frontier). */
export const peakNodes = (size: number): NodeId[] => {
  const nodes: NodeId[] = [];
  let offset = 0;
  for (let level = 52; level >= 0; level--) {
    const width = 2 ** level;
    if (size - offset >= width) {
      nodes.push({ level, index: offset / width });
      offset += width;
    }
  }
  return nodes;
};

