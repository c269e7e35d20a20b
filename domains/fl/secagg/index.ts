/**
 * Secure aggregation for federated learning: the coordinator learns the sum of the clients'
 * updates and never one update in the clear. Bonawitz et al. 2017, "Practical Secure Aggregation
 * for Privacy-Preserving Machine Learning" (CCS '17), honest-but-curious variant. Pure: node:crypto
 * is used for computation only (X25519, HKDF, AES), no I/O.
 *
 * ## Protocol
 *
 * Each client u quantizes its float update to x_u ∈ Z_{2^32}^m (`quantize`, fixed point, clip and
 * scale chosen so the sum of ≤ maxClients inputs cannot wrap), and holds two X25519 key pairs:
 * c_u (agrees the keys of share boxes) and s_u (agrees pairwise mask seeds).
 *
 *   0 AdvertiseKeys     u → S: c_u^PK, s_u^PK.  S → U1: the directory (id-sorted; x-coordinate = position + 1).
 *   1 ShareKeys         u draws a self-mask seed b_u, splits s_u^SK and b_u into t-of-|U1| Shamir
 *                       shares over GF(2^255 − 19), and seals v's two shares with AES-256-GCM under
 *                       HKDF(X25519(c_u, c_v)); S relays the boxes, unable to open them (U2 = senders).
 *   2 MaskedInput       y_u = x_u + PRG(b_u) + Σ_{v ∈ U2 \ u} ±PRG(HKDF(X25519(s_u, s_v))),
 *                       + for u < v, − for u > v, so pairwise masks cancel in Σ y. PRG = AES-256-CTR.
 *                       (U3 = senders.)
 *   3 Unmasking         S asks U3 for b-shares of each survivor (U3) and s-key shares of each client
 *                       that shared but dropped (U2 \ U3); from t responders it rebuilds those secrets,
 *                       subtracts each PRG(b_u), and cancels the masks survivors added with the
 *                       dropped. Result: Σ_{u ∈ U3} x_u mod 2^32, exactly. `dequantizeSum` turns it
 *                       back into floats.
 *
 * The paper's ConsistencyCheck round (survivors sign U3 and check each other's signatures, between
 * MaskedInput and Unmasking) is NOT implemented: it defends against a server that lies about U3,
 * which is outside the honest-but-curious model. The message signatures of the event envelope
 * authenticate who sent what, but do not replace that round.
 *
 * Dropouts: after round 0 a client is simply absent from U2 (nobody masks with it); after round 1
 * its pairwise masks are removed through its s-key shares; after round 2 its input is in the sum
 * and its self mask is removed through its b-shares; in round 3 any t responders suffice. Fewer
 * than t at any stage → `SecAggAborted` with reason "too-few-clients".
 *
 * ## Threat model
 *
 * Protected: against an honest-but-curious server (follows the protocol, reads everything it
 * receives), possibly colluding with up to t − 1 clients, each individual update. The server sees
 * public keys, sealed share boxes, masked inputs (uniform in Z_{2^32}^m to it), and in round 3,
 * for each client, either b-shares or s-key shares — never both, so it can strip either the self
 * mask or the pairwise masks of a client, never both. Enforced twice: the honest `SecAggServer`
 * neither asks for nor accepts the other kind, and each `SecAggClient` refuses a request naming a
 * client as both survivor and dropped, a request that is not a partition of the U2 it saw, and a
 * second, different request. So even a server that lies needs two disjoint groups of at least t
 * clients, each told something different, to rebuild both secrets of one client; only the n
 * directory clients hold shares, so t > n/2 makes that impossible, which is why t above half the
 * directory is the recommended setting.
 *
 * Not protected: the sum itself (and what it reveals when few clients survive — hence ≥ t
 * survivors); a server that actively lies about U3 to different clients with t ≤ n/2 (no
 * consistency check); a malicious client that sends garbage (it can spoil the sum: no input
 * validation or robust aggregation is possible on masked inputs, so Byzantine-robust strategies
 * like Krum or the median do not combine with this); traffic analysis (who takes part). Inputs are
 * integers mod 2^32: FedAvg weights must be applied by clients before quantization (e.g. send
 * n_k·Δ_k and n_k) and the quantization range respected.
 */
export {
  FIELD_PRIME,
  FIELD_ELEMENT_BYTES,
  SecretSharingInputError,
  splitSecret,
  combineShares,
  lagrangeAtZero,
  interpolateAtZero,
  fieldFromBytes,
  fieldToBytes,
  isFieldElement,
  randomFieldElement,
} from "./shamir.ts";
export type { Share } from "./shamir.ts";
export { QuantizationError, quantizationFor, quantize, dequantizeSum, sumErrorBound, addInto } from "./quantize.ts";
export type { Quantization } from "./quantize.ts";
export { MASK_SEED_BYTES, expandMask, applyMask, wordsToBytes, bytesToWords } from "./prg.ts";
export {
  X25519_KEY_BYTES,
  SHARE_NONCE_BYTES,
  GCM_TAG_BYTES,
  generateX25519KeyPair,
  x25519PublicKeyOf,
  x25519PrivateKeyObject,
  x25519PublicKeyObject,
  x25519,
  pairwiseMaskSeed,
  shareEncryptionKey,
  shareAssociatedData,
  sealShares,
  openShares,
} from "./keys.ts";
export type { SessionId, X25519KeyPair, SealedShares } from "./keys.ts";
export {
  ClientId,
  TaskId,
  X25519PublicKey,
  FieldElement,
  ShareCiphertext,
  ShareNonce,
  Words,
  KeyAdvertisement,
  DirectoryEntry,
  KeyDirectory,
  ShareBox,
  EncryptedShares,
  DeliveredBox,
  ShareDelivery,
  MaskedInput,
  UnmaskRequest,
  RevealedShare,
  UnmaskResponse,
} from "./messages.ts";
export { SecAggStage, SecAggConfigError, SecAggAborted, SecAggMessageRejected, SecAggRefused } from "./errors.ts";
export type { SecAggConfig } from "./config.ts";
export { SecAggClient } from "./client.ts";
export type { SecAggClientConfig, ClientStage } from "./client.ts";
export { SecAggServer } from "./server.ts";
export type { ServerStage, SecAggSum, ServerView } from "./server.ts";
