import { performance } from "node:perf_hooks";
import { jetstream, jetstreamManager, type JsMsg } from "@nats-io/jetstream";
import { Kvm, type KV } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import * as Result from "effect/Result";
import {
  AUDITED_STREAMS,
  CompactTree,
  equalHashes,
  HASH_BYTES,
  toHex,
  verifyCheckpointLink,
  verifyCheckpointSignature,
  windowRanges,
  type AuditedStream,
  type Checkpoint,
  type Frontier,
  type Hash,
  type StreamRange,
} from "../../domains/audit/index.ts";
import { eventCatalog, keyIntroductions } from "../../domains/catalog.ts";
import type { ProducerEnrolled } from "../../domains/identity/index.ts";
import { decodeMessage, resolveProducerKey } from "../../streams/decode.ts";
import { canonicalHead, decodeCbor } from "../../streams/envelope.ts";
import { EventRejectedError } from "../../streams/errors.ts";
import { readEvents } from "../../streams/event-reader.ts";
import { keyIdOf } from "../../streams/keys.ts";
import { ProducerRegistry } from "../../streams/producer-registry.ts";
import { streamNamed } from "../../streams/topology.ts";
import { VerifyPool, type VerifyRequest } from "../../streams/verify-pool.ts";
import { AuditedStreams, type Bounds, type LeafOrigins, type WindowRead } from "./audited-streams.ts";
import { chainEnd, readChain, type ChainEntry } from "./chain.ts";
import { TreeStore } from "./tree-store.ts";

export interface VerifyOptions {
  /** First checkpoint whose leaves are recomputed (its predecessor's signed frontier is the start). Default 1. */
  readonly fromCheckpoint?: number;
  /** Last checkpoint checked. Default: the last one. */
  readonly toCheckpoint?: number;
  /** Also verify every event's producer signature (Ed25519, on every core). Default false. */
  readonly signatures?: boolean;
  /**
   * Auditor public keys (raw 32 bytes) to accept, pinned by the caller. Default: the keys
   * enrolled on IDENTITY with role `auditor` (trust on first use, as the platform binds keys).
   */
  readonly auditorKeys?: readonly Uint8Array[];
  /** KV bucket of the auditors' stored leaves, used only to name the leaf at fault. Default `audit`. */
  readonly bucket?: string;
  /** Hash leaves on a worker thread. Default true. */
  readonly hashWorker?: boolean;
  /** Called after each checkpoint is checked. */
  readonly onCheckpoint?: (progress: VerifyProgress) => void;
}

export interface VerifyProgress {
  readonly checkpoint: number;
  readonly lastCheckpoint: number;
  readonly treeSize: number;
  /** Leaves recomputed so far in this run. */
  readonly leaves: number;
  /** Leaves this run will recompute in all. */
  readonly totalLeaves: number;
  readonly root: string;
  /** Recomputed from the streams, or checked by signature and link only (its leaves aged out). */
  readonly recomputed: boolean;
}

export type DivergenceReason =
  | "malformed-checkpoint"
  | "unknown-auditor"
  | "bad-signature"
  | "broken-link"
  | "went-back"
  | "changed"
  | "missing"
  | "extra"
  | "root-mismatch";

/** The first place where the streams or the chain differ from what the checkpoints signed. */
export interface Divergence {
  readonly checkpoint: number;
  readonly reason: DivergenceReason;
  readonly stream?: AuditedStream;
  readonly seq?: number;
  readonly message: string;
}

/** An event whose producer signature does not verify (with `signatures`). */
export interface SignatureFailure {
  readonly stream: AuditedStream;
  readonly seq: number;
  readonly status: string;
  readonly detail: string;
}

export interface VerifyReport {
  readonly ok: boolean;
  readonly divergence?: Divergence;
  readonly firstCheckpoint: number;
  readonly lastCheckpoint: number;
  /** Checkpoints whose signature and link were checked. */
  readonly checkpointsChecked: number;
  /** Of those, the ones whose leaves were recomputed from the streams. */
  readonly checkpointsRecomputed: number;
  readonly leaves: number;
  /** Stored events after the last checked checkpoint, per stream: not covered yet. */
  readonly uncovered: Readonly<Record<string, number>>;
  readonly auditors: readonly string[];
  readonly notices: readonly string[];
  readonly signaturesChecked: number;
  readonly signatureFailures: readonly SignatureFailure[];
  /** Signature failures beyond the first ones listed. */
  readonly signatureFailuresTotal: number;
  readonly seconds: number;
}

const MAX_LISTED_FAILURES = 20;

/** Auditor keys enrolled on IDENTITY (verified enrolments with role auditor), by key id. */
export const enrolledAuditorKeys = async (nc: NatsConnection): Promise<Map<string, { producerId: string; publicKey: Uint8Array }>> => {
  const keys = new Map<string, { producerId: string; publicKey: Uint8Array }>();
  for await (const event of readEvents(nc, { subject: "identity.>", registry: ProducerRegistry.inMemory() })) {
    if (event.status !== "verified" || event.meta?.type !== "identity.ProducerEnrolled") continue;
    const enrolment = event.payload as ProducerEnrolled;
    if (enrolment.role !== "auditor") continue;
    const keyId = keyIdOf(enrolment.publicKey);
    if (!keys.has(keyId)) keys.set(keyId, { producerId: enrolment.producerId, publicKey: enrolment.publicKey });
  }
  return keys;
};

interface Pending {
  readonly entry: ChainEntry & { readonly checkpoint: Checkpoint };
  readonly read: WindowRead;
  readonly ranges: readonly StreamRange[];
  readonly signatures?: Promise<void>;
}

/** Compares recomputed leaves with the auditors' stored ones to name the first event at fault. */
const nameDivergence = async (
  kv: KV | undefined,
  entry: ChainEntry & { readonly checkpoint: Checkpoint },
  before: Frontier,
  origins: LeafOrigins,
  hashes: Uint8Array,
  ranges: readonly StreamRange[],
): Promise<Divergence> => {
  const { checkpoint, number } = entry;
  const span = ranges.map((r) => `${r.stream} ${r.first}-${r.last}`).join(", ") || "no new events";
  const unnamed: Divergence = {
    checkpoint: number,
    reason: "root-mismatch",
    message:
      `checkpoint ${number} signed ${checkpoint.treeSize} leaves with root ${toHex(checkpoint.rootHash)}; the streams (${span}) give ` +
      `${before.size + origins.count} leaves with another root, and no stored leaves of an auditor match it to name the event`,
  };
  const reference = kv ? await storedLeaves(kv, before, checkpoint) : undefined;
  if (!reference) return unnamed;
  const count = Math.max(reference.length, origins.count);
  // Where each stream's next leaf should be, to tell a missing sequence from a changed one.
  const expected = new Map<number, number>(ranges.map((r) => [AUDITED_STREAMS.indexOf(r.stream), r.first]));
  for (let i = 0; i < count; i++) {
    const ours = i < origins.count ? hashes.subarray(i * HASH_BYTES, (i + 1) * HASH_BYTES) : undefined;
    const theirs = reference[i];
    if (ours && theirs && equalHashes(ours, theirs)) {
      expected.set(origins.streams[i]!, origins.seqs[i]! + 1);
      continue;
    }
    if (!ours) {
      const range = ranges.find((r) => (expected.get(AUDITED_STREAMS.indexOf(r.stream)) ?? r.first) <= r.last);
      const stream = range?.stream ?? ranges[ranges.length - 1]?.stream;
      const seq = range ? (expected.get(AUDITED_STREAMS.indexOf(range.stream)) ?? range.first) : undefined;
      return {
        checkpoint: number,
        reason: "missing",
        ...(stream ? { stream } : {}),
        ...(seq !== undefined ? { seq } : {}),
        message: `${stream ?? "a stream"} ${seq ?? "?"} is missing: checkpoint ${number} signed ${reference.length - origins.count} more leaves than the streams hold in its window`,
      };
    }
    const stream = AUDITED_STREAMS[origins.streams[i]!]!;
    const seq = origins.seqs[i]!;
    const want = expected.get(origins.streams[i]!) ?? seq;
    if (!theirs) {
      return { checkpoint: number, reason: "extra", stream, seq, message: `${stream} ${seq} is not in checkpoint ${number}, which signed ${reference.length} leaves in its window` };
    }
    if (seq > want) {
      return { checkpoint: number, reason: "missing", stream, seq: want, message: `${stream} ${want} is missing: the stream goes from ${want - 1} to ${seq} inside checkpoint ${number}` };
    }
    return {
      checkpoint: number,
      reason: "changed",
      stream,
      seq,
      message: `${stream} ${seq} is not the event checkpoint ${number} signed (leaf ${before.size + i}: stored ${toHex(theirs)}, now ${toHex(ours)})`,
    };
  }
  return unnamed;
};

/**
 * Leaf hashes of a checkpoint's window as some auditor stored them, provided they fold (after
 * `before`) to the checkpoint's signed root: the signature vouches for them, not the store.
 */
const storedLeaves = async (kv: KV, before: Frontier, checkpoint: Checkpoint): Promise<Hash[] | undefined> => {
  const prefixes: string[] = [];
  for await (const key of await kv.keys("*.state")) prefixes.push(key.slice(0, -".state".length));
  for (const prefix of prefixes) {
    try {
      const state = await kv.get(`${prefix}.state`);
      if (!state || state.operation !== "PUT") continue;
      const shape = decodeCbor(state.value) as { size: number; blocks: number };
      if (shape.size < checkpoint.treeSize) continue;
      const store = await TreeStore.load(kv, prefix, shape);
      await store.ensureLeaves(kv, before.size, checkpoint.treeSize);
      const leaves = store.leafHashes(before.size, checkpoint.treeSize);
      const tree = new CompactTree(undefined, before);
      for (const leaf of leaves) tree.append(leaf);
      if (equalHashes(tree.root(), checkpoint.rootHash)) return leaves;
    } catch {
      // Another auditor's store may be partial or unreadable; try the next one.
    }
  }
  return undefined;
};

/**
 * Replays the audited streams against the signed checkpoints: every checkpoint's signature and
 * link to the one before, and, checkpoint by checkpoint, the leaves recomputed from the stored
 * messages, their tree size and root. Stops at the first divergence and names it (checkpoint,
 * stream, sequence). With `signatures`, also verifies every event's producer signature.
 */
export const verifyAuditLog = async (nc: NatsConnection, options: VerifyOptions = {}): Promise<VerifyReport> => {
  const started = performance.now();
  const jsm = await jetstreamManager(nc);
  const js = jetstream(nc);
  const notices: string[] = [];
  const end = await chainEnd(jsm);
  const last = Math.min(options.toCheckpoint ?? end, end);
  const first = Math.max(1, options.fromCheckpoint ?? 1);
  const base = {
    firstCheckpoint: first,
    lastCheckpoint: last,
    checkpointsChecked: 0,
    checkpointsRecomputed: 0,
    leaves: 0,
    uncovered: {},
    auditors: [] as string[],
    notices,
    signaturesChecked: 0,
    signatureFailures: [],
    signatureFailuresTotal: 0,
    seconds: 0,
  };
  if (end === 0) {
    notices.push("the audit chain is empty: no checkpoint has been signed yet");
    return { ...base, ok: true, firstCheckpoint: 0, lastCheckpoint: 0, seconds: (performance.now() - started) / 1000 };
  }
  if (first > last) {
    throw new RangeError(`--from-checkpoint ${first} is after the last checkpoint to check (${last}; the chain ends at ${end})`);
  }

  const keys = new Map<string, { producerId: string; publicKey: Uint8Array }>();
  if (options.auditorKeys) for (const key of options.auditorKeys) keys.set(keyIdOf(key), { producerId: "(pinned)", publicKey: key });
  else for (const [keyId, key] of await enrolledAuditorKeys(nc)) keys.set(keyId, key);
  const auditors = [...keys].map(([keyId, k]) => `${k.producerId} ${keyId}`);

  const signatureFailures: SignatureFailure[] = [];
  let signatureFailuresTotal = 0;
  let signaturesChecked = 0;
  const pool = options.signatures ? new VerifyPool() : undefined;
  const registry = options.signatures ? ProducerRegistry.overlay(await ProducerRegistry.open(nc)) : undefined;
  let batch: { request: VerifyRequest; stream: AuditedStream; seq: number; producerId: string; keyId: string }[] = [];
  const failSignature = (failure: SignatureFailure) => {
    signatureFailuresTotal++;
    if (signatureFailures.length < MAX_LISTED_FAILURES) signatureFailures.push(failure);
  };
  const maxBytes = Math.max(...[...eventCatalog.values()].map((d) => d.maxPayloadBytes));
  const onMessage = pool
    ? (stream: AuditedStream, msg: JsMsg) => {
        const decoded = decodeMessage(msg, eventCatalog, maxBytes);
        if (decoded instanceof EventRejectedError) return failSignature({ stream, seq: msg.seq, status: decoded.reason, detail: decoded.message });
        const { meta, payload } = decoded;
        const key = resolveProducerKey(meta, keyIntroductions[meta.type]?.(payload), registry!.get(meta.producerId));
        if (key instanceof EventRejectedError) return failSignature({ stream, seq: msg.seq, status: key.reason, detail: key.message });
        if (key.introduces) registry!.introduce(meta.producerId, key.publicKey, { stream, seq: msg.seq });
        batch.push({
          request: { keyIndex: pool.registerKey(key.publicKey), head: canonicalHead(meta), payload: msg.data, signature: meta.signature },
          stream,
          seq: msg.seq,
          producerId: meta.producerId,
          keyId: meta.keyId,
        });
      }
    : undefined;
  const checkBatch = (): Promise<void> | undefined => {
    if (!pool || batch.length === 0) return undefined;
    const items = batch;
    batch = [];
    signaturesChecked += items.length;
    return pool.verify(items.map((i) => i.request)).then((verdicts) => {
      verdicts.forEach((ok, i) => {
        const item = items[i]!;
        if (!ok) failSignature({ stream: item.stream, seq: item.seq, status: "bad-signature", detail: `signature does not verify with key ${item.keyId} of ${item.producerId}` });
      });
    });
  };

  const streams = await AuditedStreams.open(nc, { hashWorker: options.hashWorker ?? true, ...(onMessage ? { onMessage } : {}) });
  const kv = await new Kvm(nc).open(options.bucket ?? "audit").catch(() => undefined);
  let divergence: Divergence | undefined;
  let checked = 0;
  let recomputed = 0;
  let leaves = 0;
  let previous: (ChainEntry & { readonly checkpoint: Checkpoint }) | undefined;
  /** The tree before the oldest window in flight (the hasher keeps the tree itself). */
  let before: Frontier | undefined;
  let lastChecked: Checkpoint | undefined;
  const pending: Pending[] = [];
  let totalLeaves = 0;

  try {
    const bounds: Bounds = await streams.bounds();
    const diverge = (d: Divergence) => {
      divergence ??= d;
    };
    /** A checkpoint-level problem: windows still in flight come before it, so they are settled first. */
    const chainDiverges = async (d: Divergence) => {
      while (pending.length > 0 && !divergence) await settle();
      diverge(d);
    };
    const report = (entry: ChainEntry & { checkpoint: Checkpoint }, wasRecomputed: boolean) => {
      options.onCheckpoint?.({
        checkpoint: entry.number,
        lastCheckpoint: last,
        treeSize: entry.checkpoint.treeSize,
        leaves,
        totalLeaves,
        root: toHex(entry.checkpoint.rootHash),
        recomputed: wasRecomputed,
      });
    };
    /** Finishes the oldest window in flight: appends its leaves and compares the root. */
    const settle = async (): Promise<void> => {
      const item = pending.shift()!;
      const { hashes, tree } = await item.read.hashed;
      await item.signatures;
      if (divergence || !tree) return;
      const { origins } = item.read;
      leaves += origins.count;
      const { checkpoint } = item.entry;
      if (tree.size !== checkpoint.treeSize || !equalHashes(tree.root, checkpoint.rootHash)) {
        diverge(await nameDivergence(kv, item.entry, before!, origins, hashes, item.ranges));
        return;
      }
      before = { size: tree.size, peaks: tree.peaks };
      recomputed++;
      report(item.entry, true);
    };

    const startAt = Math.max(1, first - 1);
    for await (const raw of readChain(js, jsm, startAt)) {
      if (raw.number > last || divergence) break;
      if (!raw.checkpoint || raw.problem) {
        await chainDiverges({ checkpoint: raw.number, reason: "malformed-checkpoint", message: `checkpoint ${raw.number}: ${raw.problem ?? "not a checkpoint"}` });
        break;
      }
      const entry = raw as ChainEntry & { checkpoint: Checkpoint };
      const { checkpoint } = entry;
      const key = keys.get(checkpoint.auditorKeyId);
      if (!key) {
        await chainDiverges({
          checkpoint: entry.number,
          reason: "unknown-auditor",
          message: `checkpoint ${entry.number} is signed by auditor key ${checkpoint.auditorKeyId}, which is not ${options.auditorKeys ? "a pinned key" : "an enrolled auditor key"}`,
        });
        break;
      }
      const signed = verifyCheckpointSignature(checkpoint, key.publicKey);
      if (Result.isFailure(signed)) {
        await chainDiverges({ checkpoint: entry.number, reason: signed.failure.reason === "wrong-key" ? "unknown-auditor" : "bad-signature", message: `checkpoint ${entry.number}: ${signed.failure.message}` });
        break;
      }
      checked++;
      const isBase = entry.number < first;
      if (!isBase && (previous || entry.number > 1)) {
        if (!previous) {
          // Checkpoint 1 of the chain may be preceded by non-checkpoint messages only in a broken chain.
          await chainDiverges({ checkpoint: entry.number, reason: "broken-link", message: `checkpoint ${entry.number} has no valid predecessor in the range read` });
          break;
        }
        const linked = verifyCheckpointLink(previous.checkpoint, checkpoint);
        if (Result.isFailure(linked)) {
          await chainDiverges({ checkpoint: entry.number, reason: linked.failure.reason === "went-back" ? "went-back" : "broken-link", message: linked.failure.message });
          break;
        }
      } else if (!isBase) {
        const linked = verifyCheckpointLink(undefined, checkpoint);
        if (Result.isFailure(linked)) {
          await chainDiverges({ checkpoint: entry.number, reason: "broken-link", message: linked.failure.message });
          break;
        }
      }
      if (isBase) {
        // The start: the signed frontier of the checkpoint before the first one asked for.
        before = { size: checkpoint.treeSize, peaks: entry.frontier ?? [] };
        streams.startTree(before);
        previous = entry;
        continue;
      }
      if (!before) {
        before = { size: 0, peaks: [] };
        streams.startTree(before);
      }
      const ranges = windowRanges(previous?.checkpoint.lastSequence, checkpoint.lastSequence);
      const aged = ranges.filter((r) => bounds[r.stream].firstSeq > r.first);
      if (aged.length > 0) {
        const unaged = aged.find((r) => streamNamed(r.stream).maxAgeDays === 0);
        if (unaged) {
          await chainDiverges({
            checkpoint: entry.number,
            reason: "missing",
            stream: unaged.stream,
            seq: unaged.first,
            message: `${unaged.stream} ${unaged.first} is missing: the stream starts at ${bounds[unaged.stream].firstSeq}, but checkpoint ${entry.number} signed sequences ${unaged.first}-${unaged.last} (${unaged.stream} has no age limit: nothing may leave it)`,
          });
          break;
        }
        // Older leaves aged out of an age-limited stream (MESH): checked by signature and link only,
        // then the next window starts from this checkpoint's signed frontier.
        while (pending.length > 0) await settle();
        if (!notices.some((n) => n.startsWith("aged out"))) {
          notices.push(
            `aged out: ${aged.map((r) => `${r.stream} before sequence ${bounds[r.stream].firstSeq}`).join(", ")} (the stream's age limit); ` +
              `checkpoints whose leaves are gone are checked by signature and link only`,
          );
        }
        before = { size: checkpoint.treeSize, peaks: entry.frontier ?? [] };
        streams.startTree(before);
        lastChecked = checkpoint;
        previous = entry;
        report(entry, false);
        continue;
      }
      totalLeaves += checkpoint.treeSize - (previous?.checkpoint.treeSize ?? 0);
      const read = await streams.read(ranges, bounds);
      const signatures = checkBatch();
      pending.push({ entry, read, ranges, ...(signatures ? { signatures } : {}) });
      // One window hashes while the next is read; a third would only hold memory.
      while (pending.length > 1) await settle();
      lastChecked = checkpoint;
      previous = entry;
    }
    while (pending.length > 0 && !divergence) await settle();
    if (lastChecked && last === end && !divergence) {
      const uncovered: Record<string, number> = {};
      for (const stream of AUDITED_STREAMS) uncovered[stream] = Math.max(0, bounds[stream].lastSeq - (lastChecked.lastSequence[stream] ?? 0));
      Object.assign(base, { uncovered });
    }
  } finally {
    await streams.close();
    await pool?.close();
  }
  return {
    ...base,
    ok: divergence === undefined && signatureFailuresTotal === 0,
    ...(divergence ? { divergence } : {}),
    checkpointsChecked: checked,
    checkpointsRecomputed: recomputed,
    leaves,
    auditors,
    signaturesChecked,
    signatureFailures,
    signatureFailuresTotal,
    seconds: (performance.now() - started) / 1000,
  };
};
