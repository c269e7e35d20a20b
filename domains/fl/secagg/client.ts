import * as Result from "effect/Result";
import { byId, checkClientId, checkConfig, type SecAggConfig } from "./config.ts";
import { SecAggRefused } from "./errors.ts";
import {
  generateX25519KeyPair,
  openShares,
  pairwiseMaskSeed,
  sealShares,
  shareAssociatedData,
  shareEncryptionKey,
  x25519,
  x25519PublicKeyObject,
  type SessionId,
  type X25519KeyPair,
} from "./keys.ts";
import type { EncryptedShares, KeyAdvertisement, KeyDirectory, MaskedInput, ShareBox, ShareDelivery, UnmaskRequest, UnmaskResponse } from "./messages.ts";
import { applyMask, wordsToBytes } from "./prg.ts";
import { FIELD_ELEMENT_BYTES, fieldFromBytes, fieldToBytes, isFieldElement, randomFieldElement, splitSecret } from "./shamir.ts";

export interface SecAggClientConfig extends SecAggConfig {
  /** This client's id, as it appears in the directory. */
  readonly client: string;
}

/**
 *   new ─advertiseKeys→ advertised ─shareKeys→ shared ─maskInput→ masked ─unmask→ answered
 *   any refusal for a protocol violation → aborted (terminal)
 */
export type ClientStage = "new" | "advertised" | "shared" | "masked" | "answered" | "aborted";

/** The shares this client holds of one peer's two secrets (its own x-coordinate). */
interface HeldShares {
  readonly maskKey: Uint8Array;
  readonly selfMask: Uint8Array;
}

interface Peer {
  readonly maskPublicKey: Uint8Array;
  /** X25519(c_u, c_v), agreed in round 1 and used again to open v's box in round 2. */
  readonly encryptionSecret: Uint8Array;
}

type Reason = SecAggRefused["reason"];

const sameBytes = (a: Uint8Array, b: Uint8Array): boolean => a.length === b.length && a.every((v, i) => v === b[i]);
const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString("hex");
const sameList = (a: readonly string[], b: readonly string[]): boolean => a.length === b.length && a.every((v, i) => v === b[i]);

/**
 * One client of secure aggregation (Bonawitz et al. 2017, honest-but-curious variant): a state
 * machine fed the server's messages in order, answering each with its next message. Its secrets
 * — the two X25519 private keys, the self-mask seed b_u, the shares it holds of other clients,
 * its input — stay inside; what leaves is only what the protocol sends.
 */
export class SecAggClient {
  readonly config: SecAggClientConfig;
  readonly #session: SessionId;
  #stage: ClientStage = "new";
  /** c_u: agrees the keys of the share boxes. */
  readonly #encryptionKeys: X25519KeyPair;
  /** s_u: agrees the pairwise mask seeds; shared so the server can cancel its masks if it drops. */
  readonly #maskKeys: X25519KeyPair;
  #peers = new Map<string, Peer>();
  #held = new Map<string, HeldShares>();
  /** b_u as bytes: the PRG seed of the self mask, drawn in round 1. */
  #selfMaskSeed: Uint8Array = new Uint8Array(0);
  /** U2 as this client saw it: the senders of the boxes delivered to it, and itself. Sorted. */
  #sharers: readonly string[] = [];
  #answered: { readonly request: UnmaskRequest; readonly response: UnmaskResponse } | undefined;

  constructor(config: SecAggClientConfig) {
    checkConfig(config);
    checkClientId(config.client);
    this.config = { ...config };
    this.#session = { task: config.task, flRound: config.flRound };
    this.#encryptionKeys = generateX25519KeyPair();
    this.#maskKeys = generateX25519KeyPair();
  }

  get id(): string {
    return this.config.client;
  }

  get stage(): ClientStage {
    return this.#stage;
  }

  #refuse(stage: string, reason: Reason, message: string): Result.Result<never, SecAggRefused> {
    // Misdirected input leaves the client as it was; anything else is a broken protocol.
    if (reason !== "wrong-session" && reason !== "wrong-stage" && reason !== "wrong-length") this.#abort();
    return Result.fail(new SecAggRefused({ client: this.id, stage, reason, message }));
  }

  #abort(): void {
    this.#stage = "aborted";
    this.#held = new Map();
    this.#peers = new Map();
  }

  #otherSession(message: { readonly task: string; readonly flRound: number }): boolean {
    return message.task !== this.#session.task || message.flRound !== this.#session.flRound;
  }

  /** Round 0: the two public keys. Repeating the call repeats the message. */
  advertiseKeys(): Result.Result<KeyAdvertisement, SecAggRefused> {
    if (this.#stage !== "new" && this.#stage !== "advertised") return this.#refuse("advertise-keys", "wrong-stage", `client is ${this.#stage}`);
    this.#stage = "advertised";
    return Result.succeed({
      ...this.#session,
      client: this.id,
      encryptionPublicKey: this.#encryptionKeys.publicKey,
      maskPublicKey: this.#maskKeys.publicKey,
    });
  }

  /**
   * Round 1: checks the directory (its own keys unchanged, at least t clients, every key
   * distinct), draws b_u, splits s_u^SK and b_u into t-of-|U1| shares, and seals each other
   * client's pair of shares under the c-key agreement with it.
   */
  shareKeys(directory: KeyDirectory): Result.Result<EncryptedShares, SecAggRefused> {
    const stage = "share-keys";
    if (this.#otherSession(directory)) return this.#refuse(stage, "wrong-session", "directory of another session");
    if (this.#stage !== "advertised") return this.#refuse(stage, "wrong-stage", `client is ${this.#stage}`);

    const entries = [...directory.clients].sort((a, b) => byId(a.client, b.client));
    for (let i = 1; i < entries.length; i++)
      if (entries[i]!.client === entries[i - 1]!.client) return this.#refuse(stage, "directory-mismatch", `${entries[i]!.client} is listed twice`);
    const own = entries.find((e) => e.client === this.id);
    if (!own || !sameBytes(own.encryptionPublicKey, this.#encryptionKeys.publicKey) || !sameBytes(own.maskPublicKey, this.#maskKeys.publicKey))
      return this.#refuse(stage, "directory-mismatch", "the directory does not hold this client's keys");
    if (entries.length < this.config.threshold)
      return this.#refuse(stage, "too-few-clients", `${entries.length} clients advertised keys, threshold is ${this.config.threshold}`);
    const keys = new Set<string>();
    for (const e of entries) keys.add(hex(e.encryptionPublicKey)).add(hex(e.maskPublicKey));
    if (keys.size !== 2 * entries.length) return this.#refuse(stage, "duplicate-keys", "two directory keys are equal");

    // entries[i] holds the shares at x = i + 1; the server numbers its sorted directory the same way.
    const xs = entries.map((_, i) => i + 1);
    const selfMaskSeed = randomFieldElement();
    const maskKeyShares = splitSecret(fieldFromBytes(this.#maskKeys.privateKey), this.config.threshold, xs);
    const selfMaskShares = splitSecret(selfMaskSeed, this.config.threshold, xs);

    const boxes: ShareBox[] = [];
    const held = new Map<string, HeldShares>();
    const peers = new Map<string, Peer>();
    for (const [i, e] of entries.entries()) {
      const pair = { maskKey: fieldToBytes(maskKeyShares[i]!.y), selfMask: fieldToBytes(selfMaskShares[i]!.y) };
      if (e.client === this.id) {
        held.set(this.id, pair);
        continue;
      }
      let shared: Uint8Array;
      try {
        shared = x25519(this.#encryptionKeys.privateKeyObject, x25519PublicKeyObject(e.encryptionPublicKey));
      } catch (cause) {
        return this.#refuse(stage, "bad-public-key", `no key agreement with ${e.client}: ${String(cause)}`);
      }
      peers.set(e.client, { maskPublicKey: e.maskPublicKey, encryptionSecret: shared });
      const plaintext = new Uint8Array(2 * FIELD_ELEMENT_BYTES);
      plaintext.set(pair.maskKey, 0);
      plaintext.set(pair.selfMask, FIELD_ELEMENT_BYTES);
      const sealed = sealShares(
        shareEncryptionKey(shared, this.#session, this.id, e.client),
        shareAssociatedData(this.#session, this.id, e.client),
        plaintext,
      );
      boxes.push({ to: e.client, nonce: sealed.nonce, ciphertext: sealed.ciphertext });
    }
    this.#peers = peers;
    this.#held = held;
    this.#selfMaskSeed = fieldToBytes(selfMaskSeed);
    this.#stage = "shared";
    return Result.succeed({ ...this.#session, client: this.id, boxes });
  }

  /**
   * Round 2: opens the boxes delivered to it (their senders and itself are U2, at least t), and
   * masks its quantized input: y_u = x_u + PRG(b_u) + Σ_{v ∈ U2, v ≠ u} ±PRG(s_{u,v}), + when
   * u < v and − when u > v, so each pair's masks cancel in the sum.
   */
  maskInput(delivery: ShareDelivery, input: Uint32Array): Result.Result<MaskedInput, SecAggRefused> {
    const stage = "masked-input";
    if (this.#otherSession(delivery)) return this.#refuse(stage, "wrong-session", "delivery of another session");
    if (this.#stage !== "shared") return this.#refuse(stage, "wrong-stage", `client is ${this.#stage}`);
    if (delivery.to !== this.id) return this.#refuse(stage, "wrong-session", `delivery is addressed to ${delivery.to}`);
    if (input.length !== this.config.vectorLength)
      return this.#refuse(stage, "wrong-length", `input has ${input.length} coordinates, the session has ${this.config.vectorLength}`);

    const received = new Map<string, HeldShares>();
    for (const box of delivery.boxes) {
      const peer = this.#peers.get(box.from);
      if (!peer || box.from === this.id) return this.#refuse(stage, "bad-share-box", `box from ${box.from}, who is not another client of the directory`);
      if (received.has(box.from)) return this.#refuse(stage, "bad-share-box", `two boxes from ${box.from}`);
      const plaintext = openShares(
        shareEncryptionKey(peer.encryptionSecret, this.#session, box.from, this.id),
        shareAssociatedData(this.#session, box.from, this.id),
        box,
      );
      const maskKey = plaintext?.subarray(0, FIELD_ELEMENT_BYTES);
      const selfMask = plaintext?.subarray(FIELD_ELEMENT_BYTES);
      if (!plaintext || plaintext.length !== 2 * FIELD_ELEMENT_BYTES || !isFieldElement(maskKey!) || !isFieldElement(selfMask!))
        return this.#refuse(stage, "bad-share-box", `the box from ${box.from} does not open to two shares`);
      received.set(box.from, { maskKey: maskKey!.slice(), selfMask: selfMask!.slice() });
    }
    const sharers = [this.id, ...received.keys()].sort(byId);
    if (sharers.length < this.config.threshold)
      return this.#refuse(stage, "too-few-clients", `${sharers.length} clients shared keys, threshold is ${this.config.threshold}`);

    const masked = input.slice();
    applyMask(masked, this.#selfMaskSeed, 1);
    for (const v of sharers) {
      if (v === this.id) continue;
      let shared: Uint8Array;
      try {
        shared = x25519(this.#maskKeys.privateKeyObject, x25519PublicKeyObject(this.#peers.get(v)!.maskPublicKey));
      } catch (cause) {
        return this.#refuse(stage, "bad-public-key", `no mask agreement with ${v}: ${String(cause)}`);
      }
      applyMask(masked, pairwiseMaskSeed(shared, this.#session, this.id, v), this.id < v ? 1 : -1);
    }
    for (const [from, pair] of received) this.#held.set(from, pair);
    this.#sharers = sharers;
    this.#stage = "masked";
    return Result.succeed({ ...this.#session, client: this.id, masked: wordsToBytes(masked) });
  }

  /**
   * Round 3: reveals, for each client of U2, exactly one of its two secrets' shares — the
   * self-mask share of a survivor, the mask-key share of a dropped client. Refuses a request that
   * names a client as both, is not a partition of the U2 this client saw, leaves this client out
   * of the survivors, has fewer than t survivors, or differs from a request it already answered
   * (the same request again gets the same answer: redelivery is harmless).
   */
  unmask(request: UnmaskRequest): Result.Result<UnmaskResponse, SecAggRefused> {
    const stage = "unmasking";
    if (this.#otherSession(request)) return this.#refuse(stage, "wrong-session", "request of another session");
    if (this.#stage === "answered") {
      const previous = this.#answered!;
      if (sameList(previous.request.survivors, request.survivors) && sameList(previous.request.dropped, request.dropped))
        return Result.succeed(previous.response);
      return this.#refuse(stage, "conflicting-request", "this client already answered a different unmask request for the session");
    }
    if (this.#stage !== "masked") return this.#refuse(stage, "wrong-stage", `client is ${this.#stage}`);

    const survivors = new Set(request.survivors);
    const dropped = new Set(request.dropped);
    for (const v of survivors)
      if (dropped.has(v)) return this.#refuse(stage, "both-shares-requested", `${v} is named as survivor and as dropped: that would reveal its input`);
    if (survivors.size !== request.survivors.length || dropped.size !== request.dropped.length)
      return this.#refuse(stage, "not-a-partition", "a client is listed twice");
    const sharers = new Set(this.#sharers);
    for (const v of [...survivors, ...dropped]) if (!sharers.has(v)) return this.#refuse(stage, "not-a-partition", `${v} did not share keys with this client`);
    if (survivors.size + dropped.size !== sharers.size) return this.#refuse(stage, "not-a-partition", "some clients that shared keys are neither survivors nor dropped");
    if (!survivors.has(this.id)) return this.#refuse(stage, "not-a-survivor", "this client is not among the survivors");
    if (survivors.size < this.config.threshold)
      return this.#refuse(stage, "too-few-clients", `${survivors.size} survivors, threshold is ${this.config.threshold}`);

    const response: UnmaskResponse = {
      ...this.#session,
      client: this.id,
      selfMaskShares: [...survivors].sort(byId).map((of) => ({ of, share: this.#held.get(of)!.selfMask })),
      maskKeyShares: [...dropped].sort(byId).map((of) => ({ of, share: this.#held.get(of)!.maskKey })),
    };
    this.#answered = { request: { ...request, survivors: [...request.survivors], dropped: [...request.dropped] }, response };
    this.#held = new Map(); // nothing more will be revealed for this session
    this.#stage = "answered";
    return Result.succeed(response);
  }
}
