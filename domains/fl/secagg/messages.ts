import * as Schema from "effect/Schema";
import { NonNegativeInt, ProducerId } from "../../kernel/index.ts";
import { isFieldElement } from "./shamir.ts";

/**
 * The messages of secure aggregation, as plain data (strings, numbers, Uint8Array, arrays) so
 * each can travel as a signed JetStream event. Every message names its session (task, flRound);
 * the parties refuse messages of another session.
 *
 *   round 0  client → server  KeyAdvertisement      its two X25519 public keys
 *            server → all     KeyDirectory          every advertised client and its keys (U1)
 *   round 1  client → server  EncryptedShares       its Shamir shares, one AES-GCM box per other client
 *            server → each    ShareDelivery         the boxes addressed to that client (senders = U2)
 *   round 2  client → server  MaskedInput           its masked, quantized update
 *            server → U3      UnmaskRequest         who survived (U3) and who dropped after sharing (U2 \ U3)
 *   round 3  client → server  UnmaskResponse        self-mask shares of survivors, mask-key shares of the dropped
 */

const bytesOfLength = (n: number) => Schema.Uint8Array.pipe(Schema.check(Schema.isMinLength(n), Schema.isMaxLength(n)));

/** A client in the aggregation: one NATS subject token, like every producer id. */
export const ClientId = ProducerId;
/** The FL task the aggregation belongs to: one NATS subject token. */
export const TaskId = ProducerId;

/** An X25519 public key, raw, 32 bytes. */
export const X25519PublicKey = bytesOfLength(32);
/** An element of GF(2^255 − 19): 32 bytes little-endian, value below the prime. */
export const FieldElement = bytesOfLength(32).pipe(
  Schema.check(Schema.makeFilter((bytes: Uint8Array) => (isFieldElement(bytes) ? true : "not below 2^255 - 19"))),
);
/** A share box: AES-256-GCM over (mask-key share ‖ self-mask share), 64 bytes, then the 16-byte tag. */
export const ShareCiphertext = bytesOfLength(80);
export const ShareNonce = bytesOfLength(12);
/** A vector in Z_{2^32}: 4 bytes per coordinate, little-endian. */
export const Words = Schema.Uint8Array.pipe(
  Schema.check(Schema.makeFilter((bytes: Uint8Array) => (bytes.length % 4 === 0 ? true : "length is not a multiple of 4"))),
);

const session = { task: TaskId, flRound: NonNegativeInt };

/** Round 0, client → server. `encryptionPublicKey` is c_u^PK (share boxes), `maskPublicKey` is s_u^PK (pairwise masks). */
export const KeyAdvertisement = Schema.Struct({
  ...session,
  client: ClientId,
  encryptionPublicKey: X25519PublicKey,
  maskPublicKey: X25519PublicKey,
});
export type KeyAdvertisement = typeof KeyAdvertisement.Type;

export const DirectoryEntry = Schema.Struct({ client: ClientId, encryptionPublicKey: X25519PublicKey, maskPublicKey: X25519PublicKey });
export type DirectoryEntry = typeof DirectoryEntry.Type;

/** End of round 0, server → every advertised client: U1, sorted by client id. A client's share x-coordinate is its position + 1. */
export const KeyDirectory = Schema.Struct({ ...session, clients: Schema.Array(DirectoryEntry) });
export type KeyDirectory = typeof KeyDirectory.Type;

export const ShareBox = Schema.Struct({ to: ClientId, nonce: ShareNonce, ciphertext: ShareCiphertext });
export type ShareBox = typeof ShareBox.Type;

/** Round 1, client → server: one box for every other client of the directory. */
export const EncryptedShares = Schema.Struct({ ...session, client: ClientId, boxes: Schema.Array(ShareBox) });
export type EncryptedShares = typeof EncryptedShares.Type;

export const DeliveredBox = Schema.Struct({ from: ClientId, nonce: ShareNonce, ciphertext: ShareCiphertext });
export type DeliveredBox = typeof DeliveredBox.Type;

/** End of round 1, server → each client that shared: the boxes addressed to it. Their senders and the recipient are U2. */
export const ShareDelivery = Schema.Struct({ ...session, to: ClientId, boxes: Schema.Array(DeliveredBox) });
export type ShareDelivery = typeof ShareDelivery.Type;

/** Round 2, client → server: y_u = x_u + PRG(b_u) + Σ_v ±PRG(s_{u,v}) mod 2^32. */
export const MaskedInput = Schema.Struct({ ...session, client: ClientId, masked: Words });
export type MaskedInput = typeof MaskedInput.Type;

/** End of round 2, server → every survivor: a partition of U2 into survivors (U3, inputs received) and dropped. */
export const UnmaskRequest = Schema.Struct({ ...session, survivors: Schema.Array(ClientId), dropped: Schema.Array(ClientId) });
export type UnmaskRequest = typeof UnmaskRequest.Type;

/** One revealed share: the responder's share of client `of`'s secret (its x-coordinate is the responder's). */
export const RevealedShare = Schema.Struct({ of: ClientId, share: FieldElement });
export type RevealedShare = typeof RevealedShare.Type;

/** Round 3, client → server: b-shares of every survivor, s-key shares of every dropped client, never both for one client. */
export const UnmaskResponse = Schema.Struct({
  ...session,
  client: ClientId,
  selfMaskShares: Schema.Array(RevealedShare),
  maskKeyShares: Schema.Array(RevealedShare),
});
export type UnmaskResponse = typeof UnmaskResponse.Type;
