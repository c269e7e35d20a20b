import { createHash, createPublicKey, verify as verifySignature } from "node:crypto";
import * as Result from "effect/Result";
import * as Schema from "effect/Schema";
import { checkpointHash, checkpointSignedBytes, MalformedCheckpointError, type Checkpoint } from "./checkpoint.ts";
import { emptyRoot, equalHashes, toHex, verifyConsistency, type Hash } from "./merkle.ts";

/**
 * The standalone verifier: what an auditor needs to check the log without trusting our
 * servers or reaching NATS. It imports only node:crypto, effect and this folder.
 */

export { verifyInclusion, verifyConsistency, leafHash, ProofRejectedError } from "./merkle.ts";
export type { Hash, ProofVerdict } from "./merkle.ts";
export { checkpointHash, checkpointSignedBytes } from "./checkpoint.ts";
export type { Checkpoint } from "./checkpoint.ts";

/** A checkpoint that its signature or its link to the previous one does not support. */
export class CheckpointRejectedError extends Schema.TaggedError<CheckpointRejectedError>()("CheckpointRejectedError", {
  reason: Schema.Literals(["malformed", "wrong-key", "bad-signature", "broken-link", "went-back", "not-consistent"]),
  /** The tree size of the checkpoint at fault. */
  treeSize: Schema.Number,
  message: Schema.String,
}) {}

export type CheckpointVerdict = Result.Result<void, CheckpointRejectedError>;

const reject = (checkpoint: Checkpoint, reason: CheckpointRejectedError["reason"], message: string): CheckpointVerdict =>
  Result.fail(new CheckpointRejectedError({ reason, treeSize: checkpoint.treeSize, message }));

// RFC 8410 SubjectPublicKeyInfo prefix for a raw 32-byte Ed25519 key (as streams/keys.ts, which a domain may not import).
const SPKI_PREFIX = Buffer.from("302a300506032b6570032100", "hex");

/** Key id of a raw Ed25519 public key: first 16 hex digits of its SHA-256 (as streams/keys.ts `keyIdOf`). */
export const auditorKeyIdOf = (publicKey: Uint8Array): string => createHash("sha256").update(publicKey).digest("hex").slice(0, 16);

const signedBytesOf = (checkpoint: Checkpoint): Uint8Array | MalformedCheckpointError => {
  try {
    return checkpointSignedBytes(checkpoint);
  } catch (error) {
    if (error instanceof MalformedCheckpointError) return error;
    throw error;
  }
};

/** Is `checkpoint` signed by the auditor whose raw 32-byte Ed25519 public key is `auditorPublicKey`? */
export const verifyCheckpointSignature = (checkpoint: Checkpoint, auditorPublicKey: Uint8Array): CheckpointVerdict => {
  const bytes = signedBytesOf(checkpoint);
  if (bytes instanceof MalformedCheckpointError) return reject(checkpoint, "malformed", bytes.message);
  if (!(checkpoint.signature instanceof Uint8Array) || checkpoint.signature.length !== 64) {
    return reject(checkpoint, "malformed", "an Ed25519 signature is 64 bytes");
  }
  if (!(auditorPublicKey instanceof Uint8Array) || auditorPublicKey.length !== 32) {
    return reject(checkpoint, "wrong-key", "an Ed25519 public key is 32 bytes");
  }
  const keyId = auditorKeyIdOf(auditorPublicKey);
  if (keyId !== checkpoint.auditorKeyId) {
    return reject(checkpoint, "wrong-key", `signed by auditor key ${checkpoint.auditorKeyId}, but the key given is ${keyId}`);
  }
  let valid: boolean;
  try {
    const key = createPublicKey({ key: Buffer.concat([SPKI_PREFIX, auditorPublicKey]), format: "der", type: "spki" });
    valid = verifySignature(null, bytes, key, checkpoint.signature);
  } catch {
    valid = false;
  }
  return valid ? Result.void : reject(checkpoint, "bad-signature", `the signature of checkpoint at tree size ${checkpoint.treeSize} does not verify with key ${keyId}`);
};

/**
 * Does `next` follow `previous` (undefined: `next` is the first checkpoint)? Checks the hash
 * link, that the tree and every stream's last sequence did not go back, and, when a
 * consistency proof is given, that the older tree is a prefix of the newer (a verifier that
 * recomputes every root from the leaves has no need of one). Times are not compared: two
 * auditors' clocks may disagree by a little. Signatures are checked by `verifyCheckpointSignature`.
 */
export const verifyCheckpointLink = (
  previous: Checkpoint | undefined,
  next: Checkpoint,
  options: { readonly consistencyProof?: readonly Hash[] } = {},
): CheckpointVerdict => {
  const nextBytes = signedBytesOf(next);
  if (nextBytes instanceof MalformedCheckpointError) return reject(next, "malformed", nextBytes.message);
  if (previous === undefined) {
    return next.previousHash === null ? Result.void : reject(next, "broken-link", "the first checkpoint must have no previous checkpoint");
  }
  const previousBytes = signedBytesOf(previous);
  if (previousBytes instanceof MalformedCheckpointError) return reject(previous, "malformed", previousBytes.message);
  const link = checkpointHash(previous);
  if (next.previousHash === null || !equalHashes(next.previousHash, link)) {
    return reject(
      next,
      "broken-link",
      `checkpoint at tree size ${next.treeSize} links to ${next.previousHash === null ? "nothing" : toHex(next.previousHash)}, not to the checkpoint at tree size ${previous.treeSize} (${toHex(link)})`,
    );
  }
  if (next.treeSize < previous.treeSize) return reject(next, "went-back", `the tree shrank from ${previous.treeSize} to ${next.treeSize} leaves`);
  for (const [stream, sequence] of Object.entries(previous.lastSequence)) {
    const now = next.lastSequence[stream];
    if (now === undefined || now < sequence) {
      return reject(next, "went-back", `stream ${stream} went back from sequence ${sequence} to ${now ?? "absent"}`);
    }
  }
  const proof = options.consistencyProof;
  if (proof === undefined) return Result.void;
  if (previous.treeSize === 0) {
    if (!equalHashes(previous.rootHash, emptyRoot())) return reject(previous, "not-consistent", "a checkpoint of 0 leaves must have the empty tree's root");
    return proof.length === 0 ? Result.void : reject(next, "not-consistent", "nothing to prove from an empty tree: the consistency proof must be empty");
  }
  const verdict = verifyConsistency(previous.treeSize, next.treeSize, previous.rootHash, next.rootHash, proof);
  return Result.isSuccess(verdict) ? Result.void : reject(next, "not-consistent", verdict.failure.message);
};
