import * as Schema from "effect/Schema";
import { defineEvent, ProducerId } from "../kernel/index.ts";

/** Raw Ed25519 public key, 32 bytes. */
const Ed25519PublicKey = Schema.Uint8Array.pipe(Schema.check(Schema.isMinLength(32), Schema.isMaxLength(32)));

/**
 * A producer that is not a mesh node (the healing loop, an operator's CLI, a chaos run)
 * introduces its signing key on `identity.<producerId>.enrolled`, signed by that key (proof
 * of possession). Trust on first use, as a node's `mesh.NodeAnnounced`: the first enrolment
 * binds the id to the key; another key for the same id is refused as `key-mismatch`.
 */
export const ProducerEnrolled = defineEvent(
  "identity.ProducerEnrolled",
  Schema.Struct({
    producerId: ProducerId,
    publicKey: Ed25519PublicKey,
    role: Schema.Literals(["control-plane", "operator", "chaos", "auditor", "fl-coordinator", "fl-validator", "fl-client"]),
    description: Schema.optionalKey(Schema.String.pipe(Schema.check(Schema.isMaxLength(256)))),
  }),
  { maxPayloadBytes: 1024 },
);
export type ProducerEnrolled = typeof ProducerEnrolled.schema.Type;

export const identityEvents = [ProducerEnrolled] as const;

export const enrolmentSubject = (producerId: string): string => `identity.${producerId}.enrolled`;
