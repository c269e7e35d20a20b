import { Worker } from "node:worker_threads";
import { HASH_BYTES, LeafEncoder } from "../../domains/audit/index.ts";
import { sha256Into } from "../../domains/audit/sha256.ts";
import { FrontierTree, RECORD_HEAD_BYTES, STREAM_NAMES, writeRecordHead } from "./leaf-records.ts";

/**
 * Turns stored messages into leaf hashes, in the order they are pushed. Encoding and hashing a
 * leaf costs a good part of what receiving the message does, so by default it runs on a worker
 * thread while the main thread keeps reading the streams; `worker: false` does it in the caller's
 * thread (tests, small reads). Messages travel packed (leaf-records.ts) in one transferable
 * buffer per batch, which the worker hands back for a later batch; results come back per group
 * (a checkpoint window).
 */

const BATCH_BYTES = 512 * 1024;
/** Batch buffers kept for reuse: one being filled, two in flight, one spare. */
const SPARE_BATCHES = 4;

export interface LeafHasherOptions {
  /** Hash on a worker thread (default) or in the caller's thread. */
  readonly worker?: boolean;
}

/** The result of one group of messages (a checkpoint window). */
export interface HashedGroup {
  /** Leaf hashes, 32 bytes each, in push order. */
  readonly hashes: Uint8Array;
  /** With a tree (`startTree`): its size, root and frontier once the group's leaves are appended. */
  readonly tree?: { readonly size: number; readonly root: Uint8Array; readonly peaks: readonly Uint8Array[] };
}

type Reply = { id: number; hashes?: Uint8Array; records?: Uint8Array; size?: number; root?: Uint8Array; peaks?: Uint8Array[] };

export class LeafHasher {
  private readonly encoder = new LeafEncoder();
  private worker: Worker | undefined;
  private readonly waiting = new Map<number, (reply: Reply) => void>();
  private nextId = 0;
  private failure: Error | undefined;
  private batch = Buffer.from(new ArrayBuffer(BATCH_BYTES));
  private view = new DataView(this.batch.buffer);
  private readonly spare: ArrayBuffer[] = [];
  private used = 0;
  private count = 0;
  private parts: Promise<Uint8Array>[] = [];
  /** Whether leaves are appended to a tree (worker side, or `inlineTree`). */
  private treeKept = false;
  private inlineTree: FrontierTree | undefined;
  // Inline mode: hashes of the current group so far, 32 bytes each.
  private inlineHashes = new Uint8Array(1024 * HASH_BYTES);
  private inlineCount = 0;

  constructor(options: LeafHasherOptions = {}) {
    if (options.worker === false) return;
    this.worker = new Worker(new URL("./leaf-worker.js", import.meta.url));
    this.worker.on("message", (reply: Reply) => {
      const returned = reply.records?.buffer;
      if (returned instanceof ArrayBuffer && returned.byteLength === BATCH_BYTES && this.spare.length < SPARE_BATCHES) this.spare.push(returned);
      const resolve = this.waiting.get(reply.id);
      this.waiting.delete(reply.id);
      if (this.waiting.size === 0) this.worker?.unref();
      resolve?.(reply);
    });
    this.worker.on("error", (error) => {
      this.failure = error;
      for (const resolve of this.waiting.values()) resolve({ id: -1 });
      this.waiting.clear();
    });
    this.worker.unref();
  }

  private request(message: Record<string, unknown>, transfer: ArrayBuffer[] = []): Promise<Reply> {
    const id = this.nextId++;
    const reply = new Promise<Reply>((resolve) => this.waiting.set(id, resolve));
    // Referenced only while replies are due: an idle hasher does not keep the process alive.
    this.worker!.ref();
    this.worker!.postMessage({ ...message, id }, transfer);
    return reply;
  }

  /** From now on, append every leaf to the tree with this frontier; each group reports its root. */
  startTree(frontier: { readonly size: number; readonly peaks: readonly Uint8Array[] }): void {
    this.flush();
    this.treeKept = true;
    if (this.worker) this.worker.postMessage({ op: "tree", size: frontier.size, peaks: frontier.peaks.map((p) => new Uint8Array(p)) });
    else this.inlineTree = new FrontierTree(frontier.size, frontier.peaks);
  }

  /** Adds one stored message (stream: its AUDITED_STREAMS index) to the current group. */
  push(stream: number, seq: number, subject: string, header: Uint8Array | undefined, payload: Uint8Array): void {
    if (!this.worker) {
      this.encoder.encodeWire(STREAM_NAMES[stream]!, seq, Buffer.from(subject, "utf8"), header, payload);
      this.hashInline();
      return;
    }
    const headerLength = header?.length ?? 0;
    let at = this.reserve(RECORD_HEAD_BYTES + subject.length * 3 + headerLength + payload.length);
    const subjectLength = this.batch.write(subject, at + RECORD_HEAD_BYTES, "utf8");
    this.head(at, stream, seq, subjectLength, headerLength, payload.length);
    at += RECORD_HEAD_BYTES + subjectLength;
    if (header) this.batch.set(header, at);
    this.batch.set(payload, at + headerLength);
    this.used = at + headerLength + payload.length;
    this.count++;
  }

  /**
   * Adds one stored message given as the client received it: the subject's bytes, and its
   * header block (`headerLength` bytes, 0 for none) and payload back to back in `bytes` — two
   * copies and no string or view per message, the hot path of the auditor and the verifier.
   */
  pushWire(stream: number, seq: number, subject: Uint8Array, bytes: Uint8Array, headerLength: number): void {
    if (!this.worker) {
      const header = headerLength > 0 ? bytes.subarray(0, headerLength) : undefined;
      this.encoder.encodeWire(STREAM_NAMES[stream]!, seq, subject, header, bytes.subarray(headerLength));
      this.hashInline();
      return;
    }
    let at = this.reserve(RECORD_HEAD_BYTES + subject.length + bytes.length);
    this.head(at, stream, seq, subject.length, headerLength, bytes.length - headerLength);
    at += RECORD_HEAD_BYTES;
    const batch = this.batch;
    for (let i = 0; i < subject.length; i++) batch[at + i] = subject[i]!;
    at += subject.length;
    batch.set(bytes, at);
    this.used = at + bytes.length;
    this.count++;
  }

  /** Inline mode: hashes the leaf the encoder wrote last into the group's hashes (and the tree). */
  private hashInline(): void {
    if ((this.inlineCount + 1) * HASH_BYTES > this.inlineHashes.length) {
      const grown = new Uint8Array(this.inlineHashes.length * 2);
      grown.set(this.inlineHashes);
      this.inlineHashes = grown;
    }
    const at = this.inlineCount++ * HASH_BYTES;
    sha256Into(this.encoder.prefixed(), this.inlineHashes, at);
    this.inlineTree?.appendAt(this.inlineHashes, at);
  }

  /** Room for a record of at most `need` bytes; returns where it starts. */
  private reserve(need: number): number {
    if (this.used + need > this.batch.length) {
      this.flush();
      if (need > this.batch.length) this.grow(need);
    }
    return this.used;
  }

  private head(at: number, stream: number, seq: number, subjectLength: number, headerLength: number, payloadLength: number): void {
    writeRecordHead(this.view, at, stream, seq, subjectLength, headerLength, payloadLength);
  }

  private grow(bytes: number): void {
    // Its own ArrayBuffer (never a pooled one): it is transferred to the worker, not copied.
    const buffer = bytes <= BATCH_BYTES ? (this.spare.pop() ?? new ArrayBuffer(BATCH_BYTES)) : new ArrayBuffer(bytes);
    this.batch = Buffer.from(buffer);
    this.view = new DataView(buffer);
  }

  private flush(): void {
    if (this.count === 0 || !this.worker) return;
    const records = new Uint8Array(this.batch.buffer, 0, this.used);
    const count = this.count;
    this.used = 0;
    this.count = 0;
    const reply = this.request({ op: "hash", records, count }, [records.buffer as ArrayBuffer]);
    this.grow(BATCH_BYTES);
    this.parts.push(
      reply.then((r) => {
        if (!r.hashes || r.hashes.length !== count * HASH_BYTES) throw this.failure ?? new Error("the leaf hashing worker failed");
        return r.hashes;
      }),
    );
  }

  /** Ends the current group: its leaf hashes in push order, and the tree's state after them when one is kept. */
  end(): Promise<HashedGroup> {
    if (!this.worker) {
      const hashes = this.inlineHashes.slice(0, this.inlineCount * HASH_BYTES);
      this.inlineCount = 0;
      const tree = this.inlineTree;
      return Promise.resolve(tree ? { hashes, tree: { size: tree.size, root: tree.root(), peaks: tree.frontier() } } : { hashes });
    }
    this.flush();
    const parts = this.parts;
    this.parts = [];
    const root = this.treeKept ? this.request({ op: "root" }) : undefined;
    return Promise.all([Promise.all(parts), root]).then(([chunks, tree]) => {
      const total = chunks.reduce((n, c) => n + c.length, 0);
      const hashes = chunks.length === 1 ? chunks[0]! : new Uint8Array(total);
      if (chunks.length !== 1) {
        let at = 0;
        for (const chunk of chunks) {
          hashes.set(chunk, at);
          at += chunk.length;
        }
      }
      if (!tree) return { hashes };
      if (!tree.root || tree.size === undefined) throw this.failure ?? new Error("the leaf hashing worker failed");
      return { hashes, tree: { size: tree.size, root: tree.root, peaks: tree.peaks ?? [] } };
    });
  }

  async close(): Promise<void> {
    await this.worker?.terminate();
    this.worker = undefined;
  }
}
