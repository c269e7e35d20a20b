import * as Schema from "effect/Schema";
import { defineEvent } from "../kernel/index.ts";
import { Checkpoint, Sha256Hash } from "./checkpoint.ts";

/** The subject of the audit chain: every checkpoint, in chain order, on one subject of AUDIT. */
export const CHECKPOINT_SUBJECT = "audit.checkpoint";

/**
 * An auditor signed a checkpoint of the audit log. The payload is the `Checkpoint` (its
 * signature covers every field but `frontier`) plus the tree's frontier at that size: the roots
 * of its perfect subtrees, largest first. The frontier is not signed and needs no signature:
 * folded right to left with `nodeHash` it must give the signed root, which no other list of
 * hashes does, so a verifier can start at any checkpoint without the leaves before it.
 */
export const CheckpointSigned = defineEvent(
  "audit.CheckpointSigned",
  Schema.Struct({
    ...Checkpoint.fields,
    frontier: Schema.Array(Sha256Hash).pipe(Schema.check(Schema.isMaxLength(53))),
  }),
  { maxPayloadBytes: 8 * 1024 },
);
export type CheckpointSigned = typeof CheckpointSigned.schema.Type;

export const auditEvents = [CheckpointSigned] as const;
