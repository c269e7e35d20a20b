/**
 * Model bytes (weights, control deltas, server states) in the JetStream object store, named by
 * their content id (CIDv1 raw sha2-256, `domains/fl/content-id.ts`). Events carry only the id;
 * whoever reads the bytes back recomputes it and refuses bytes that are not what the id names,
 * so a replaced or corrupted object never reaches an aggregate.
 */
import { createHash } from "node:crypto";
import { Objm, type ObjectStore } from "@nats-io/obj";
import type { NatsConnection } from "@nats-io/transport-node";
import * as Schema from "effect/Schema";
import { contentId, isContentId } from "../domains/fl/content-id.ts";

/** Where model bytes are put and fetched by content id; `ModelStore` is the JetStream one. */
export interface ModelBytesStore {
  /** Stores `bytes` under their content id (once: storing the same bytes again is a no-op) and returns the id. */
  put(bytes: Uint8Array): Promise<string>;
  /** The bytes named `cid`; fails with ModelNotFoundError or ContentMismatchError. */
  get(cid: string): Promise<Uint8Array>;
}

/** Nothing is stored under that content id (or it is not a content id). */
export class ModelNotFoundError extends Schema.TaggedError<ModelNotFoundError>()("ModelNotFoundError", {
  cid: Schema.String,
  message: Schema.String,
}) {}

/** The bytes stored under a content id are not the bytes it names: tampered with or corrupted. */
export class ContentMismatchError extends Schema.TaggedError<ContentMismatchError>()("ContentMismatchError", {
  cid: Schema.String,
  /** Content id of the bytes found, when they could be read. */
  actual: Schema.optionalKey(Schema.String),
  message: Schema.String,
  cause: Schema.optionalKey(Schema.Unknown),
}) {}

/** The object store did not answer a read or write in time (a stalled read never returns by itself). */
export class ModelStoreTimeoutError extends Schema.TaggedError<ModelStoreTimeoutError>()("ModelStoreTimeoutError", {
  cid: Schema.String,
  operation: Schema.Literals(["get", "put"]),
  timeoutMs: Schema.Number,
  message: Schema.String,
}) {}

export interface ModelStoreOptions {
  /** Object store bucket. Default `fl-models`. */
  readonly bucket?: string;
  /** Replicas: 1 on one server, 3 on a cluster. Default 1. */
  readonly replicas?: number;
  /** Byte limit of the bucket; -1 for none. Default -1 (models are history: nothing ages out). */
  readonly maxBytes?: number;
  /**
   * Longest a `get` or `put` may take, ms, before it fails with `ModelStoreTimeoutError`. An
   * object-store read stalled by a lost connection or a long process pause may never return,
   * and an FL actor waiting on it would never reach its next deadline. Default 60 000.
   */
  readonly timeoutMs?: number;
}

/** `work`, or a ModelStoreTimeoutError once `timeoutMs` passed (the work itself cannot be cancelled; its result is dropped). */
const within = <T>(work: Promise<T>, timeoutMs: number, operation: "get" | "put", cid: string): Promise<T> => {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new ModelStoreTimeoutError({ cid, operation, timeoutMs, message: `the object store did not finish the ${operation} of ${cid} within ${timeoutMs} ms` })),
      timeoutMs,
    );
  });
  work.catch(() => undefined); // a late failure after the timeout is not an unhandled rejection
  return Promise.race([work, expired]).finally(() => clearTimeout(timer));
};

/** The object store's own digest of `bytes` ("SHA-256=" and padded base64url), to recognise bytes already stored. */
const natsDigest = (bytes: Uint8Array): string => {
  const b64 = createHash("sha256").update(bytes).digest("base64url");
  return `SHA-256=${b64}${"=".repeat((4 - (b64.length % 4)) % 4)}`;
};

export class ModelStore implements ModelBytesStore {
  private constructor(
    private readonly objects: ObjectStore,
    readonly bucket: string,
    private readonly timeoutMs: number,
  ) {}

  /** Opens the bucket, creating it on first use. */
  static async open(nc: NatsConnection, options: ModelStoreOptions = {}): Promise<ModelStore> {
    const bucket = options.bucket ?? "fl-models";
    const objects = await new Objm(nc).create(bucket, {
      description: "Federated-learning model bytes by content id (CIDv1 raw sha2-256)",
      replicas: options.replicas ?? 1,
      max_bytes: options.maxBytes ?? -1,
    });
    return new ModelStore(objects, bucket, options.timeoutMs ?? 60_000);
  }

  put(bytes: Uint8Array): Promise<string> {
    const cid = contentId(bytes);
    return within(this.store(cid, bytes), this.timeoutMs, "put", cid);
  }

  private async store(cid: string, bytes: Uint8Array): Promise<string> {
    const info = await this.objects.info(cid);
    // The same bytes are already there: content addressing makes a second write pointless.
    if (info && !info.deleted && info.size === bytes.byteLength && info.digest === natsDigest(bytes)) return cid;
    // Absent, or something else sits under the id (a tampered object): write the bytes the id names.
    await this.objects.putBlob({ name: cid }, bytes);
    return cid;
  }

  async get(cid: string): Promise<Uint8Array> {
    if (!isContentId(cid)) throw new ModelNotFoundError({ cid, message: `${cid} is not a content id (CIDv1 raw sha2-256)` });
    let bytes: Uint8Array | null;
    try {
      bytes = await within(this.objects.getBlob(cid), this.timeoutMs, "get", cid);
    } catch (error) {
      // The object store checks its own digest over the chunks: chunks changed underneath it.
      if (/digests do not match|corrupt/iu.test((error as Error).message)) {
        throw new ContentMismatchError({ cid, message: `the object stored under ${cid} is corrupt: ${(error as Error).message.split("\n")[0]}`, cause: error });
      }
      throw error;
    }
    if (bytes === null) throw new ModelNotFoundError({ cid, message: `no object ${cid} in bucket ${this.bucket}` });
    const actual = contentId(bytes);
    if (actual !== cid) {
      throw new ContentMismatchError({ cid, actual, message: `the ${bytes.byteLength} bytes stored under ${cid} are ${actual}: tampered with or corrupted; refused` });
    }
    return bytes;
  }

  /** Whether bytes are stored under `cid` (not whether they match it: `get` checks that). */
  async has(cid: string): Promise<boolean> {
    const info = await this.objects.info(cid);
    return info !== null && !info.deleted;
  }
}
