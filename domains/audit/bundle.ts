import * as Result from "effect/Result";
import * as Schema from "effect/Schema";
import { NonNegativeInt } from "../kernel/index.ts";
import { AuditedStreamName, AuditorKeyId, type Checkpoint } from "./checkpoint.ts";
import { leafData } from "./leaf.ts";
import { equalHashes, leafHash, toHex, verifyConsistency, verifyInclusion } from "./merkle.ts";
import { verifyCheckpointLink, verifyCheckpointSignature } from "./verify.ts";

/**
 * The JSON forms of the audit log that leave the platform: checkpoints, proofs and the
 * self-contained inclusion bundle (event + leaf + proof + signed checkpoint) that `x0 audit
 * verify-proof` checks offline. Bytes are lower-case hex, the payload base64. Pure.
 */

const hexOf = (bytes: number, description: string) =>
  Schema.String.pipe(Schema.check(Schema.isPattern(new RegExp(`^[0-9a-f]{${bytes * 2}}$`, "u"), { description })));

export const HashHex = hexOf(32, "a SHA-256 hash: 64 lower-case hex digits");
export const SignatureHex = hexOf(64, "an Ed25519 signature: 128 lower-case hex digits");
export const PublicKeyHex = hexOf(32, "a raw Ed25519 public key: 64 lower-case hex digits");
const BytesHex = Schema.String.pipe(Schema.check(Schema.isPattern(/^(?:[0-9a-f]{2})*$/u, { description: "bytes in lower-case hex" })));
const Base64 = Schema.String.pipe(Schema.check(Schema.isPattern(/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/u, { description: "base64" })));
const CheckpointNumber = NonNegativeInt.pipe(Schema.check(Schema.isGreaterThanOrEqualTo(1)));

/** A signed checkpoint as JSON. `number` is its sequence in the AUDIT stream: checkpoint n. */
export const CheckpointView = Schema.Struct({
  number: CheckpointNumber,
  treeSize: NonNegativeInt,
  rootHash: HashHex,
  previousHash: Schema.NullOr(HashHex),
  lastSequence: Schema.Record(AuditedStreamName, NonNegativeInt),
  /** ms since the epoch, as signed. */
  time: NonNegativeInt,
  auditorKeyId: AuditorKeyId,
  signature: SignatureHex,
}).annotate({ identifier: "AuditCheckpoint", description: "A signed checkpoint of the audit log; number = its AUDIT stream sequence" });
export type CheckpointView = typeof CheckpointView.Type;

const bytesOfHex = (hex: string): Uint8Array => new Uint8Array(Buffer.from(hex, "hex"));

export const checkpointView = (number: number, checkpoint: Checkpoint): CheckpointView => ({
  number,
  treeSize: checkpoint.treeSize,
  rootHash: toHex(checkpoint.rootHash),
  previousHash: checkpoint.previousHash === null ? null : toHex(checkpoint.previousHash),
  lastSequence: { ...checkpoint.lastSequence },
  time: checkpoint.time,
  auditorKeyId: checkpoint.auditorKeyId,
  signature: toHex(checkpoint.signature),
});

export const checkpointOfView = (view: CheckpointView): Checkpoint => ({
  treeSize: view.treeSize,
  rootHash: bytesOfHex(view.rootHash),
  previousHash: view.previousHash === null ? null : bytesOfHex(view.previousHash),
  lastSequence: { ...view.lastSequence },
  time: view.time,
  auditorKeyId: view.auditorKeyId,
  signature: bytesOfHex(view.signature),
});

/** One stored message of an audited stream, with what its leaf covers. */
export const AuditedEventView = Schema.Struct({
  stream: AuditedStreamName,
  seq: NonNegativeInt,
  subject: Schema.String,
  /** The envelope headers the leaf covers (LEAF_HEADERS), first value each; an absent header is left out. */
  headers: Schema.Record(Schema.String, Schema.String),
  /** The stored payload, base64. */
  payload: Base64,
}).annotate({ identifier: "AuditedEvent" });
export type AuditedEventView = typeof AuditedEventView.Type;

export const INCLUSION_BUNDLE_FORMAT = "x0tta6bl4/audit/inclusion/v1";

/** Everything needed to check, offline, that an event is in the log a signed checkpoint commits to. */
export const InclusionBundle = Schema.Struct({
  format: Schema.Literal(INCLUSION_BUNDLE_FORMAT),
  event: AuditedEventView,
  leaf: Schema.Struct({
    /** Position in the tree, from 0. */
    index: NonNegativeInt,
    /** The leaf bytes (domains/audit/leaf.ts), hex: what `x0 audit merkle` takes on stdin. */
    data: BytesHex,
    /** RFC 9162 leaf hash of `data`. */
    hash: HashHex,
  }),
  /** RFC 9162 2.1.3 inclusion proof of the leaf in the checkpoint's tree, leaf to root. */
  proof: Schema.Array(HashHex),
  checkpoint: CheckpointView,
  /** The auditor that signed the checkpoint. Pin its key rather than trusting this copy. */
  auditor: Schema.Struct({ producerId: Schema.optionalKey(Schema.String), keyId: AuditorKeyId, publicKey: PublicKeyHex }),
}).annotate({ identifier: "AuditInclusionBundle", description: "An event, its leaf, its inclusion proof and the signed checkpoint it is proven against" });
export type InclusionBundle = typeof InclusionBundle.Type;

/** A consistency proof between two checkpoints (RFC 9162 2.1.4). */
export const ConsistencyView = Schema.Struct({
  from: CheckpointView,
  to: CheckpointView,
  /** Empty when the trees are the same size or the first is empty. */
  proof: Schema.Array(HashHex),
}).annotate({ identifier: "AuditConsistencyProof" });
export type ConsistencyView = typeof ConsistencyView.Type;

/** A bundle or proof that does not show what it claims. */
export class BundleRejectedError extends Schema.TaggedError<BundleRejectedError>()("BundleRejectedError", {
  reason: Schema.Literals(["malformed", "leaf-mismatch", "not-included", "bad-checkpoint", "not-consistent"]),
  message: Schema.String,
}) {}

/** What a verified inclusion bundle established. */
export interface VerifiedInclusion {
  readonly stream: string;
  readonly seq: number;
  readonly subject: string;
  readonly leafIndex: number;
  readonly checkpoint: number;
  readonly treeSize: number;
  readonly auditorKeyId: string;
}

const rejectBundle = (reason: BundleRejectedError["reason"], message: string) => Result.fail(new BundleRejectedError({ reason, message }));

const decodeBundle = Schema.decodeUnknownResult(InclusionBundle);
const decodeConsistency = Schema.decodeUnknownResult(ConsistencyView);

/**
 * Checks an inclusion bundle with no server: the leaf is the event's canonical encoding, its hash
 * is the leaf hash, the proof leads from it to the checkpoint's root at the checkpoint's size, and
 * the checkpoint carries a valid signature of `auditorPublicKey` (raw 32 bytes).
 */
export const verifyInclusionBundle = (input: unknown, auditorPublicKey: Uint8Array): Result.Result<VerifiedInclusion, BundleRejectedError> => {
  const decoded = decodeBundle(input, { errors: "first" });
  if (Result.isFailure(decoded)) return rejectBundle("malformed", `not an inclusion bundle: ${decoded.failure.message}`);
  const bundle = decoded.success;
  const { event, leaf, checkpoint: view } = bundle;
  const checkpoint = checkpointOfView(view);
  const data = leafData({ ...event, payload: new Uint8Array(Buffer.from(event.payload, "base64")) });
  if (toHex(data) !== leaf.data) return rejectBundle("leaf-mismatch", `the leaf data is not the canonical encoding of ${event.stream} ${event.seq}`);
  const hash = leafHash(data);
  if (!equalHashes(hash, bytesOfHex(leaf.hash))) return rejectBundle("leaf-mismatch", `the leaf hash is not the hash of the leaf data (${toHex(hash)})`);
  const covered = view.lastSequence[event.stream];
  if (covered === undefined || event.seq > covered) {
    return rejectBundle("not-included", `checkpoint ${view.number} covers ${event.stream} up to sequence ${covered ?? "none"}, not ${event.seq}`);
  }
  const included = verifyInclusion(hash, leaf.index, checkpoint.treeSize, bundle.proof.map(bytesOfHex), checkpoint.rootHash);
  if (Result.isFailure(included)) {
    return rejectBundle("not-included", `${event.stream} ${event.seq} is not proven in checkpoint ${view.number} (tree size ${checkpoint.treeSize}): ${included.failure.message}`);
  }
  const signed = verifyCheckpointSignature(checkpoint, auditorPublicKey);
  if (Result.isFailure(signed)) return rejectBundle("bad-checkpoint", `checkpoint ${view.number}: ${signed.failure.message}`);
  return Result.succeed({
    stream: event.stream,
    seq: event.seq,
    subject: event.subject,
    leafIndex: leaf.index,
    checkpoint: view.number,
    treeSize: checkpoint.treeSize,
    auditorKeyId: checkpoint.auditorKeyId,
  });
};

/**
 * Checks a consistency proof between two checkpoints with no server: both signed by
 * `auditorPublicKey`, the older tree a prefix of the newer, and when they are consecutive in
 * the chain (numbers n and n+1), `to` linked to `from` by its previous hash.
 */
export const verifyConsistencyView = (input: unknown, auditorPublicKey: Uint8Array): Result.Result<void, BundleRejectedError> => {
  const decoded = decodeConsistency(input, { errors: "first" });
  if (Result.isFailure(decoded)) return rejectBundle("malformed", `not a consistency proof: ${decoded.failure.message}`);
  const { from, to, proof } = decoded.success;
  const first = checkpointOfView(from);
  const second = checkpointOfView(to);
  for (const [view, checkpoint] of [[from, first], [to, second]] as const) {
    const signed = verifyCheckpointSignature(checkpoint, auditorPublicKey);
    if (Result.isFailure(signed)) return rejectBundle("bad-checkpoint", `checkpoint ${view.number}: ${signed.failure.message}`);
  }
  if (from.number >= to.number) return rejectBundle("malformed", `checkpoint ${from.number} does not come before checkpoint ${to.number}`);
  if (first.treeSize === 0) return proof.length === 0 ? Result.void : rejectBundle("not-consistent", "nothing to prove from an empty tree: the proof must be empty");
  const verdict = verifyConsistency(first.treeSize, second.treeSize, first.rootHash, second.rootHash, proof.map(bytesOfHex));
  if (Result.isFailure(verdict)) return rejectBundle("not-consistent", `checkpoint ${to.number} does not extend checkpoint ${from.number}: ${verdict.failure.message}`);
  if (second.previousHash !== null && to.number === from.number + 1) {
    const linked = verifyCheckpointLink(first, second);
    if (Result.isFailure(linked)) return rejectBundle("not-consistent", linked.failure.message);
  }
  return Result.void;
};
