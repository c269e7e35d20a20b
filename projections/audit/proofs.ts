import { jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import * as Result from "effect/Result";
import * as Schema from "effect/Schema";
import {
  AUDITED_STREAMS,
  checkpointView,
  consistencyPlan,
  equalHashes,
  INCLUSION_BUNDLE_FORMAT,
  inclusionPlan,
  leafData,
  leafHash,
  leafHeadersFromWire,
  proofFromPlan,
  toHex,
  verifyInclusion,
  type AuditedStream,
  type CheckpointView,
  type ConsistencyView,
  type InclusionBundle,
  type NodeId,
} from "../../domains/audit/index.ts";
import { wireHeaderBytes } from "../../streams/wire-headers.ts";
import { log } from "../../streams/log.ts";
import type { Auditor } from "./auditor.ts";
import { chainEnd, getChainEntry, type ChainEntry } from "./chain.ts";
import type { PackedRecord } from "./leaf-records.ts";

/** Why a proof or checkpoint cannot be served; the HTTP adapter maps `reason` to a status. */
export class AuditQueryError extends Schema.TaggedError<AuditQueryError>()("AuditQueryError", {
  reason: Schema.Literals(["not-found", "not-covered", "not-ready", "bad-range", "changed"]),
  message: Schema.String,
}) {}

const fail = (reason: AuditQueryError["reason"], message: string): never => {
  throw new AuditQueryError({ reason, message });
};

/** A stored message as the leaf needs it. */
interface StoredEvent {
  readonly subject: string;
  readonly headerBlock: Uint8Array | undefined;
  readonly data: Uint8Array;
}

/**
 * Message `seq` of `stream` by direct get (served by the stream itself, not the JetStream API
 * queue, which the proofs' latency would otherwise share with every other API call). The reply
 * carries the stored headers first, then the server's Nats-Stream, Nats-Sequence, ... lines,
 * which are no leaf header names. Undefined when no such message is stored.
 */
const directGet = async (nc: NatsConnection, stream: string, seq: number): Promise<StoredEvent | undefined> => {
  const reply = await nc.request(`$JS.API.DIRECT.GET.${stream}`, JSON.stringify({ seq }), { timeout: 5_000 });
  const status = reply.headers?.code ?? 0;
  if (status === 404) return undefined;
  if (status >= 300) throw new Error(`direct get of ${stream} ${seq} failed: ${status} ${reply.headers?.description ?? ""}`);
  const subject = reply.headers?.get("Nats-Subject");
  if (!subject) throw new Error(`direct get of ${stream} ${seq}: the reply names no subject (is allow_direct set on ${stream}?)`);
  const headerBlock = wireHeaderBytes(reply) ?? (reply.headers ? new TextEncoder().encode(reply.headers.toString()) : undefined);
  return { subject, headerBlock, data: reply.data };
};

/** A stored message with its leaf bytes and hash. */
interface StoredLeaf {
  readonly msg: StoredEvent;
  readonly event: Parameters<typeof leafData>[0];
  readonly data: Uint8Array;
  readonly hash: Uint8Array;
}

const storedLeafOf = (stream: AuditedStream, seq: number, msg: StoredEvent): StoredLeaf => {
  const event = { stream, seq, subject: msg.subject, headers: leafHeadersFromWire(msg.headerBlock), payload: msg.data };
  const data = leafData(event);
  return { msg, event, data, hash: leafHash(data) };
};

type Checkpointed = ChainEntry & { readonly checkpoint: NonNullable<ChainEntry["checkpoint"]> };

/**
 * The audit log's read side: signed checkpoints from AUDIT, inclusion proofs as self-contained
 * bundles, and consistency proofs, from the tree of a running auditor (in memory, with chunks
 * reloaded from KV on demand). Checkpoints are immutable, so decoded ones are cached.
 */
export class AuditProofs {
  private jsm: JetStreamManager | undefined;
  private readonly cache = new Map<number, ChainEntry>();

  constructor(
    private readonly nc: NatsConnection,
    private readonly auditor: Auditor,
  ) {}

  private async manager(): Promise<JetStreamManager> {
    this.jsm ??= await jetstreamManager(this.nc);
    return this.jsm;
  }

  private async entry(number: number): Promise<ChainEntry | undefined> {
    const cached = this.cache.get(number);
    if (cached) return cached;
    const entry = await getChainEntry(await this.manager(), number);
    if (entry) {
      if (this.cache.size >= 4096) this.cache.delete(this.cache.keys().next().value!);
      this.cache.set(number, entry);
    }
    return entry;
  }

  private async checkpointed(number: number): Promise<Checkpointed> {
    const entry = await this.entry(number);
    if (!entry?.checkpoint || entry.problem) return fail("not-found", `no checkpoint ${number}${entry?.problem ? `: ${entry.problem}` : ""}`);
    return entry as Checkpointed;
  }

  /** Newest first: at most `limit` checkpoints numbered below `before` (default: all). */
  async checkpoints(options: { readonly limit?: number; readonly before?: number } = {}): Promise<{ readonly items: CheckpointView[]; readonly last: number }> {
    const last = await chainEnd(await this.manager());
    const limit = options.limit ?? 20;
    const items: CheckpointView[] = [];
    for (let n = Math.min(last, (options.before ?? last + 1) - 1); n >= 1 && items.length < limit; n--) {
      const entry = await this.entry(n);
      if (entry?.checkpoint && !entry.problem) items.push(checkpointView(n, entry.checkpoint));
    }
    return { items, last };
  }

  async checkpoint(number: number): Promise<CheckpointView> {
    return checkpointView(number, (await this.checkpointed(number)).checkpoint);
  }

  /** The checkpoint must be one this auditor has reached, and its tree must be this auditor's. */
  private async provable(number: number | undefined): Promise<Checkpointed> {
    const head = this.auditor.head;
    if (!head) return fail("not-ready", "the auditor has not signed or checked any checkpoint yet");
    const entry = await this.checkpointed(number ?? head.number);
    if (entry.number > head.number) return fail("not-ready", `checkpoint ${entry.number} is newer than this auditor's (${head.number}); try again shortly`);
    if (entry.checkpoint.treeSize > this.auditor.hashes.size) return fail("not-ready", `checkpoint ${entry.number} is beyond this auditor's tree`);
    return entry;
  }

  private async load(nodes: readonly NodeId[]): Promise<void> {
    await this.auditor.hashes.ensure(this.auditor.bucket, nodes);
  }

  /** An inclusion bundle: the stored event, its leaf, the proof, the signed checkpoint and its auditor's key. */
  async inclusion(stream: AuditedStream, seq: number, checkpointNumber?: number): Promise<InclusionBundle> {
    const entry = await this.provable(checkpointNumber);
    const { checkpoint } = entry;
    const covered = checkpoint.lastSequence[stream] ?? 0;
    if (seq > covered) fail("not-covered", `${stream} ${seq} is not in checkpoint ${entry.number}, which covers ${stream} up to ${covered}`);
    const tree = this.auditor.hashes;
    const index = tree.leafIndex(AUDITED_STREAMS.indexOf(stream), seq);
    if (index === undefined || index >= checkpoint.treeSize) return fail("not-found", `${stream} ${seq} is not a leaf of the log (not stored when it was audited)`);
    // The event's read (local copy, else the server) overlaps the proof's hashing.
    const copies = this.auditor.leafCopies;
    const copy = copies?.read(index);
    const fetched = copies ? undefined : directGet(this.nc, stream, seq);
    fetched?.catch(() => undefined);
    const plan = inclusionPlan(index, checkpoint.treeSize);
    const leafNode = { level: 0, index };
    await this.load([leafNode, ...plan.flat()]);
    // Read between awaits: no await from here to the proof, so the tree cannot change under it.
    const storedLeaf = tree.nodeHash(leafNode);
    const proof = proofFromPlan(plan, (node) => tree.nodeHash(node));
    if (Result.isFailure(verifyInclusion(storedLeaf, index, checkpoint.treeSize, proof, checkpoint.rootHash))) {
      fail("changed", `checkpoint ${entry.number} is not this auditor's tree (run x0 audit verify)`);
    }
    let leaf = this.copiedLeaf(await copy, stream, seq, index, storedLeaf);
    if (!leaf) {
      const msg = await (fetched ?? directGet(this.nc, stream, seq));
      if (!msg) return fail("not-found", `${stream} ${seq} is no longer stored (aged out or removed)`);
      leaf = storedLeafOf(stream, seq, msg);
      if (!equalHashes(leaf.hash, storedLeaf)) fail("changed", `${stream} ${seq} is not the event the log recorded (run x0 audit verify)`);
    }
    const { msg, event, data, hash } = leaf;
    const key = this.auditor.auditorKey(checkpoint.auditorKeyId, entry.producerId);
    return {
      format: INCLUSION_BUNDLE_FORMAT,
      event: { stream, seq, subject: msg.subject, headers: event.headers, payload: Buffer.from(msg.data).toString("base64") },
      leaf: { index, data: toHex(data), hash: toHex(hash) },
      proof: proof.map(toHex),
      checkpoint: checkpointView(entry.number, checkpoint),
      auditor: {
        ...(key?.producerId ? { producerId: key.producerId } : {}),
        keyId: checkpoint.auditorKeyId,
        publicKey: key ? toHex(key.publicKey) : "0".repeat(64),
      },
    };
  }

  /** The local copy of leaf `index` when it is the message asked for and hashes to the tree's leaf. */
  private copiedLeaf(copy: PackedRecord | undefined, stream: AuditedStream, seq: number, index: number, treeLeaf: Uint8Array): StoredLeaf | undefined {
    if (!copy || AUDITED_STREAMS[copy.stream] !== stream || copy.seq !== seq) return undefined;
    const leaf = storedLeafOf(stream, seq, { subject: Buffer.from(copy.subject).toString("utf8"), headerBlock: copy.headerBlock, data: copy.payload });
    if (equalHashes(leaf.hash, treeLeaf)) return leaf;
    // The local file changed under us (disk fault or tampering): never serve it.
    log.warn("audit: a local leaf copy does not hash to the tree's leaf; the event is read from its stream", { stream, seq, index });
    return undefined;
  }

  /** A consistency proof that checkpoint `from`'s tree is a prefix of checkpoint `to`'s. */
  async consistency(from: number, to: number): Promise<ConsistencyView> {
    if (from >= to) fail("bad-range", `from (${from}) must be a checkpoint before to (${to})`);
    const second = await this.provable(to);
    const first = await this.checkpointed(from);
    const m = first.checkpoint.treeSize;
    const n = second.checkpoint.treeSize;
    if (m > n) fail("bad-range", `checkpoint ${from} has more leaves (${m}) than checkpoint ${to} (${n})`);
    let proof: string[] = [];
    if (m > 0) {
      const plan = consistencyPlan(m, n);
      await this.load(plan.flat());
      proof = proofFromPlan(plan, (node) => this.auditor.hashes.nodeHash(node)).map(toHex);
    }
    return { from: checkpointView(from, first.checkpoint), to: checkpointView(to, second.checkpoint), proof };
  }
}
