import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";
import { log } from "./log.ts";

export interface VerifyRequest {
  /** Index returned by `registerKey`. */
  readonly keyIndex: number;
  /** The signed message is `head` followed by `payload` (written side by side, no concatenation). */
  readonly head: Uint8Array;
  readonly payload: Uint8Array;
  readonly signature: Uint8Array;
}

export interface VerifyPoolOptions {
  /** Worker threads. Default: one per core (`os.availableParallelism()`). */
  readonly workers?: number;
  /**
   * `libsodium` (sodium-native; falls back to node:crypto when it cannot load) or `node`
   * (node:crypto only). Default: `$X0_VERIFY_BACKEND`, else `libsodium`. See ADR 0005.
   */
  readonly backend?: "libsodium" | "node";
}

/**
 * Spreads Ed25519 verification over worker threads. Ed25519 verification is the dominant cost
 * of ingest (≈6,700/s per core here), so it must use every core; batches are packed into one
 * transferable buffer per worker to keep the per-event message cost near zero.
 */
export class VerifyPool {
  private readonly workers: Worker[];
  private readonly keys = new Map<string, number>();
  private readonly pending = new Map<number, (results: Uint8Array) => void>();
  private nextId = 0;
  private nextWorker = 0;
  /** `libsodium` or `node:crypto`, once a worker has started. */
  backend = "starting";

  constructor(options: VerifyPoolOptions = {}) {
    const count = Math.max(1, options.workers ?? availableParallelism());
    this.workers = Array.from({ length: count }, () => {
      const backend = options.backend ?? (process.env.X0_VERIFY_BACKEND === "node" ? "node" : "libsodium");
      const worker = new Worker(new URL("./verify-worker.js", import.meta.url), { workerData: { backend } });
      worker.on("message", (msg: { op?: "backend"; backend?: string; id: number; results: Uint8Array }) => {
        if (msg.op === "backend") {
          this.backend = msg.backend ?? "unknown";
          return;
        }
        const resolve = this.pending.get(msg.id);
        this.pending.delete(msg.id);
        resolve?.(msg.results);
      });
      worker.on("error", (error) => {
        // A worker only dies on a bug; fail every waiting batch loudly rather than hang.
        for (const resolve of this.pending.values()) resolve(new Uint8Array(0));
        this.pending.clear();
        log.error("verify worker failed", { error: error.message });
      });
      worker.unref();
      return worker;
    });
  }

  /** Registers a raw 32-byte public key once; returns its index for requests. */
  registerKey(raw: Uint8Array): number {
    const hex = Buffer.from(raw).toString("hex");
    const known = this.keys.get(hex);
    if (known !== undefined) return known;
    const index = this.keys.size;
    this.keys.set(hex, index);
    for (const worker of this.workers) worker.postMessage({ op: "key", index, raw: new Uint8Array(raw) });
    return index;
  }

  /** Verifies requests in parallel; result i is true when request i verifies. Order is preserved. */
  async verify(requests: readonly VerifyRequest[]): Promise<boolean[]> {
    if (requests.length === 0) return [];
    const parts = Math.min(this.workers.length, requests.length);
    const size = Math.ceil(requests.length / parts);
    const chunks: { length: number; results: Promise<Uint8Array> }[] = [];
    for (let start = 0; start < requests.length; start += size) {
      const slice = requests.slice(start, start + size);
      chunks.push({ length: slice.length, results: this.verifyChunk(slice) });
    }
    const results: boolean[] = [];
    for (const chunk of chunks) {
      const verdicts = await chunk.results;
      // A dead worker answers with an empty array: its records count as failed, never as verified.
      for (let i = 0; i < chunk.length; i++) results.push(verdicts[i] === 1);
    }
    return results;
  }

  private verifyChunk(requests: readonly VerifyRequest[]): Promise<Uint8Array> {
    let total = 0;
    for (const r of requests) total += 8 + r.head.length + r.payload.length + 64;
    const buffer = new ArrayBuffer(total);
    const bytes = new Uint8Array(buffer);
    const view = new DataView(buffer);
    let offset = 0;
    for (const r of requests) {
      const length = r.head.length + r.payload.length;
      view.setUint32(offset, r.keyIndex, true);
      view.setUint32(offset + 4, length, true);
      bytes.set(r.head, offset + 8);
      bytes.set(r.payload, offset + 8 + r.head.length);
      bytes.set(r.signature.subarray(0, 64), offset + 8 + length);
      offset += 8 + length + 64;
    }
    const id = this.nextId++;
    const worker = this.workers[this.nextWorker++ % this.workers.length]!;
    return new Promise((resolve) => {
      this.pending.set(id, resolve);
      worker.postMessage({ op: "verify", id, buffer, count: requests.length }, [buffer]);
    });
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}
