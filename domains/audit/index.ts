// Public face of the audit context: RFC 9162 Merkle tree, proofs, signed checkpoints and their verifier. Pure.
export {
  HASH_BYTES,
  MerkleInputError,
  ProofRejectedError,
  emptyRoot,
  leafHash,
  nodeHash,
  isHash,
  equalHashes,
  toHex,
  inclusionPlan,
  consistencyPlan,
  proofFromPlan,
  rootAt,
  inclusionProof,
  consistencyProof,
  CompactTree,
  MemoryTree,
  merkleRoot,
  verifyInclusion,
  verifyConsistency,
} from "./merkle.ts";
export type { Hash, NodeId, ProofPlan, TreeHashes, Frontier, ProofVerdict } from "./merkle.ts";
export { sha256, sha256Into } from "./sha256.ts";
export {
  CHECKPOINT_HEADER,
  Sha256Hash,
  Ed25519Signature,
  AuditedStreamName,
  AuditorKeyId,
  Checkpoint,
  MalformedCheckpointError,
  checkpointSignedBytes,
  checkpointHash,
  signCheckpoint,
} from "./checkpoint.ts";
export type { CheckpointBody } from "./checkpoint.ts";
export { CheckpointRejectedError, auditorKeyIdOf, verifyCheckpointSignature, verifyCheckpointLink } from "./verify.ts";
export type { CheckpointVerdict } from "./verify.ts";
export { AUDITED_STREAMS, LEAF_HEADERS, LEAF_TAG, LeafEncoder, leafData, leafDataFromWire, leafHeadersFromWire, windowRanges } from "./leaf.ts";
export type { AuditedStream, LeafMessage, StreamRange } from "./leaf.ts";
export { CHECKPOINT_SUBJECT, CheckpointSigned, auditEvents } from "./events.ts";
export {
  AuditedEventView,
  BundleRejectedError,
  CheckpointView,
  ConsistencyView,
  HashHex,
  INCLUSION_BUNDLE_FORMAT,
  InclusionBundle,
  PublicKeyHex,
  SignatureHex,
  checkpointOfView,
  checkpointView,
  verifyConsistencyView,
  verifyInclusionBundle,
} from "./bundle.ts";
export type { VerifiedInclusion } from "./bundle.ts";
