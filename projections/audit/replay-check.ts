import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { Kvm, type KV } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import * as Result from "effect/Result";
import {
  AUDITED_STREAMS,
  CompactTree,
  equalHashes,
  inclusionPlan,
  leafDataFromWire,
  leafHash,
  proofFromPlan,
  verifyCheckpointSignature,
  verifyInclusion,
  type AuditedStream,
  type Checkpoint,
} from "../../domains/audit/index.ts";
import { decodeCbor } from "../../streams/envelope.ts";
import { getChainEntry, chainEnd } from "./chain.ts";
import { headerBlockOf, StreamCursor, type StreamBounds } from "./stream-cursor.ts";
import { peakNodes, TreeStore } from "./tree-store.ts";
import { enrolledAuditorKeys } from "./verify.ts";

/** How a replayed event stands against the audit log. */
export interface AuditVerdict {
  /**
   * included: an inclusion proof from the stored tree verifies against the latest signed
   * checkpoint; pending: stored after that checkpoint; mismatch: the stored event is not the one
   * the log recorded; unverifiable: no signed checkpoint or no stored tree to prove with.
   */
  readonly status: "included" | "pending" | "mismatch" | "unverifiable";
  readonly checkpoint?: number;
  readonly leaf?: number;
  readonly detail?: string;
}

interface Reference {
  readonly number: number;
  readonly checkpoint: Checkpoint;
  readonly tree: TreeStore;
  readonly kv: KV;
}

/**
 * Checks replayed events of one audited stream against the audit log (`x0 replay --verify`):
 * each event's leaf, recomputed from the stored message, must be proven by an inclusion proof
 * against the latest checkpoint signed by an enrolled auditor. The proof's hashes come from an
 * auditor's stored tree, which needs no trust: a wrong hash fails the proof.
 */
export class ReplayAuditCheck {
  /** The sequence after the last one checked. */
  private next = 1;

  private constructor(
    private readonly stream: AuditedStream,
    private readonly cursor: StreamCursor | undefined,
    private readonly bounds: StreamBounds,
    private readonly reference: Reference | undefined,
    private readonly why: string,
  ) {}

  static async open(nc: NatsConnection, stream: AuditedStream, options: { readonly bucket?: string } = {}): Promise<ReplayAuditCheck> {
    const jsm = await jetstreamManager(nc);
    const info = await jsm.streams.info(stream);
    const bounds = { firstSeq: info.state.first_seq, lastSeq: info.state.last_seq };
    const cursor = new StreamCursor(jetstream(nc), stream);
    const keys = await enrolledAuditorKeys(nc);
    // The latest checkpoint that an enrolled auditor signed.
    let signed: { number: number; checkpoint: Checkpoint } | undefined;
    for (let n = await chainEnd(jsm); n >= 1 && !signed; n--) {
      const entry = await getChainEntry(jsm, n);
      const key = entry?.checkpoint ? keys.get(entry.checkpoint.auditorKeyId) : undefined;
      if (entry?.checkpoint && !entry.problem && key && Result.isSuccess(verifyCheckpointSignature(entry.checkpoint, key.publicKey))) {
        signed = { number: n, checkpoint: entry.checkpoint };
      }
    }
    if (!signed) return new ReplayAuditCheck(stream, cursor, bounds, undefined, "no checkpoint signed by an enrolled auditor");
    const kv = await new Kvm(nc).open(options.bucket ?? "audit").catch(() => undefined);
    if (!kv) return new ReplayAuditCheck(stream, cursor, bounds, undefined, "no auditor tree stored (KV bucket audit)");
    for await (const key of await kv.keys("*.state")) {
      try {
        const state = await kv.get(key);
        if (!state || state.operation !== "PUT") continue;
        const shape = decodeCbor(state.value) as { size: number; blocks: number };
        if (shape.size < signed.checkpoint.treeSize) continue;
        const tree = await TreeStore.load(kv, key.slice(0, -".state".length), shape);
        // The stored tree must give the signed root at the checkpoint's size.
        const peaks = peakNodes(signed.checkpoint.treeSize);
        await tree.ensure(kv, peaks);
        const root = new CompactTree(undefined, { size: signed.checkpoint.treeSize, peaks: peaks.map((p) => tree.nodeHash(p)) }).root();
        if (equalHashes(root, signed.checkpoint.rootHash)) return new ReplayAuditCheck(stream, cursor, bounds, { ...signed, tree, kv }, "");
      } catch {
        // A partial or unreadable store: try the next auditor's.
      }
    }
    return new ReplayAuditCheck(stream, cursor, bounds, undefined, `no stored auditor tree matches checkpoint ${signed.number}`);
  }

  /** The verdict for the stored message `seq` (call in increasing sequence order). */
  async check(seq: number): Promise<AuditVerdict> {
    const ref = this.reference;
    if (!ref) return { status: "unverifiable", detail: this.why };
    const covered = ref.checkpoint.lastSequence[this.stream] ?? 0;
    if (seq > covered) return { status: "pending", checkpoint: ref.number, detail: `after checkpoint ${ref.number}, which covers ${this.stream} up to ${covered}` };
    const index = ref.tree.leafIndex(AUDITED_STREAMS.indexOf(this.stream), seq);
    if (index === undefined || index >= ref.checkpoint.treeSize) return { status: "mismatch", checkpoint: ref.number, detail: `${this.stream} ${seq} is not a leaf of the log` };
    let found: { subject: string; header: Uint8Array | undefined; data: Uint8Array } | undefined;
    // A replay filtered by subject skips sequences: read through a short gap, reopen at a long one.
    const from = seq - this.next > 10_000 || seq < this.next ? seq : this.next;
    for await (const msg of this.cursor!.range(from, seq, this.bounds)) {
      if (msg.seq === seq) found = { subject: msg.subject, header: headerBlockOf(msg), data: msg.data };
    }
    this.next = seq + 1;
    if (!found) return { status: "mismatch", checkpoint: ref.number, leaf: index, detail: `${this.stream} ${seq} is no longer stored` };
    const leaf = leafHash(leafDataFromWire(this.stream, seq, found.subject, found.header, found.data));
    const plan = inclusionPlan(index, ref.checkpoint.treeSize);
    await ref.tree.ensure(ref.kv, plan.flat());
    const proof = proofFromPlan(plan, (node) => ref.tree.nodeHash(node));
    if (Result.isFailure(verifyInclusion(leaf, index, ref.checkpoint.treeSize, proof, ref.checkpoint.rootHash))) {
      return { status: "mismatch", checkpoint: ref.number, leaf: index, detail: `the stored event is not the one checkpoint ${ref.number} recorded` };
    }
    return { status: "included", checkpoint: ref.number, leaf: index };
  }

  async close(): Promise<void> {
    await this.cursor?.close();
  }
}

/** A replay line (a JSON object) with the audit verdict added as `audit`. */
export const withAuditVerdict = (line: string, verdict: AuditVerdict): string => `${line.slice(0, -1)},"audit":${JSON.stringify(verdict)}}`;
