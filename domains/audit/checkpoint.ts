import { createHash, sign, type KeyObject } from "node:crypto";
import * as Schema from "effect/Schema";
import { NonNegativeInt } from "../kernel/index.ts";
import { HASH_BYTES, toHex, type Hash } from "./merkle.ts";

/**
 * A signed checkpoint: the auditor's statement that the audit log's first `treeSize` leaves
 * have root `rootHash`, that they cover each audited stream up to `lastSequence[stream]`, and
 * that it follows the checkpoint whose hash is `previousHash`. The chain of `previousHash`
 * links lets anyone holding the auditor's public key check that no checkpoint was dropped or
 * rewritten; consistency proofs between consecutive checkpoints show that no leaf was.
 */

export const CHECKPOINT_HEADER = "x0tta6bl4 audit checkpoint v1";

const STREAM_NAME = /^[A-Za-z0-9_-]{1,32}$/u;
const KEY_ID = /^[0-9a-f]{16}$/u;

const bytesOfLength = (n: number) => Schema.Uint8Array.pipe(Schema.check(Schema.isMinLength(n), Schema.isMaxLength(n)));

/** A SHA-256 hash, 32 bytes. */
export const Sha256Hash = bytesOfLength(HASH_BYTES);
/** An Ed25519 signature, 64 bytes. */
export const Ed25519Signature = bytesOfLength(64);
/** A JetStream stream name as the checkpoint's text allows it: no spaces, no line breaks. */
export const AuditedStreamName = Schema.String.pipe(Schema.check(Schema.isPattern(STREAM_NAME, { description: "1-32 of A-Z a-z 0-9 _ -" })));
/** An auditor key id: the first 16 hex digits of SHA-256 over the raw Ed25519 public key (as streams/keys.ts `keyIdOf`). */
export const AuditorKeyId = Schema.String.pipe(Schema.check(Schema.isPattern(KEY_ID, { description: "16 lower-case hex digits" })));

export const Checkpoint = Schema.Struct({
  /** Leaves in the tree. */
  treeSize: NonNegativeInt,
  /** MTH of those leaves (RFC 9162 2.1.1). */
  rootHash: Sha256Hash,
  /** `checkpointHash` of the checkpoint before this one; null for the first. */
  previousHash: Schema.NullOr(Sha256Hash),
  /** Per audited stream, the last sequence whose event is a leaf of this tree. */
  lastSequence: Schema.Record(AuditedStreamName, NonNegativeInt),
  /** When the auditor made it, ms since the epoch. */
  time: NonNegativeInt,
  auditorKeyId: AuditorKeyId,
  /** Ed25519 (RFC 8032, pure) over `checkpointSignedBytes`. */
  signature: Ed25519Signature,
});
export type Checkpoint = typeof Checkpoint.Type;

/** What the auditor decides; the key id and signature are added by `signCheckpoint`. */
export type CheckpointBody = Omit<Checkpoint, "auditorKeyId" | "signature">;

/** A checkpoint that cannot be written as signed bytes (a field out of its allowed form). */
export class MalformedCheckpointError extends Schema.TaggedError<MalformedCheckpointError>()("MalformedCheckpointError", {
  message: Schema.String,
}) {}

const malformed = (message: string): never => {
  throw new MalformedCheckpointError({ message });
};

const decimal = (name: string, value: unknown): string =>
  typeof value === "number" && Number.isSafeInteger(value) && value >= 0 ? String(value) : malformed(`${name} must be an integer >= 0, got ${String(value)}`);

const hashHex = (name: string, value: unknown): string =>
  value instanceof Uint8Array && value.length === HASH_BYTES ? toHex(value) : malformed(`${name} must be a ${HASH_BYTES}-byte hash`);

/**
 * The bytes the auditor signs: UTF-8 (in fact ASCII) lines, each ending in one "\n":
 *
 *   x0tta6bl4 audit checkpoint v1
 *   tree_size <decimal>
 *   root <64 lower-case hex digits>
 *   previous <64 lower-case hex digits, or "none" for the first checkpoint>
 *   time <decimal ms since the epoch>
 *   auditor <16 lower-case hex digits>
 *   stream <name> <decimal last sequence>      one line per stream, names in byte order
 *
 * Decimals have no sign, no leading zeros, no separators. Every field's form is checked
 * before writing, so no value can forge a line break or a field.
 */
export const checkpointSignedBytes = (checkpoint: Omit<Checkpoint, "signature">): Uint8Array => {
  const lines = [
    CHECKPOINT_HEADER,
    `tree_size ${decimal("treeSize", checkpoint.treeSize)}`,
    `root ${hashHex("rootHash", checkpoint.rootHash)}`,
    `previous ${checkpoint.previousHash === null ? "none" : hashHex("previousHash", checkpoint.previousHash)}`,
    `time ${decimal("time", checkpoint.time)}`,
    `auditor ${typeof checkpoint.auditorKeyId === "string" && KEY_ID.test(checkpoint.auditorKeyId) ? checkpoint.auditorKeyId : malformed(`auditorKeyId must be 16 lower-case hex digits, got ${String(checkpoint.auditorKeyId)}`)}`,
  ];
  // Plain code-unit order, which for these ASCII names is byte order, whatever the locale.
  const streams = Object.keys(checkpoint.lastSequence).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  for (const stream of streams) {
    if (!STREAM_NAME.test(stream)) malformed(`stream name ${JSON.stringify(stream)} must be 1-32 of A-Z a-z 0-9 _ -`);
    lines.push(`stream ${stream} ${decimal(`lastSequence.${stream}`, checkpoint.lastSequence[stream])}`);
  }
  return new TextEncoder().encode(lines.map((line) => `${line}\n`).join(""));
};

/** What the next checkpoint's `previousHash` holds: SHA-256 of this one's signed bytes (the signature is not part of the link). */
export const checkpointHash = (checkpoint: Omit<Checkpoint, "signature">): Hash =>
  new Uint8Array(createHash("sha256").update(checkpointSignedBytes(checkpoint)).digest());

/** Signs a checkpoint body with the auditor's key (streams/keys.ts `SigningKey` fits). */
export const signCheckpoint = (body: CheckpointBody, auditor: { readonly keyId: string; readonly privateKey: KeyObject }): Checkpoint => {
  const unsigned = {
    treeSize: body.treeSize,
    rootHash: body.rootHash,
    previousHash: body.previousHash,
    lastSequence: body.lastSequence,
    time: body.time,
    auditorKeyId: auditor.keyId,
  };
  return { ...unsigned, signature: new Uint8Array(sign(null, checkpointSignedBytes(unsigned), auditor.privateKey)) };
};
