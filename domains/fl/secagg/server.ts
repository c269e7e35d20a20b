import type { KeyObject } from "node:crypto";
import * as Result from "effect/Result";
import { byId, checkConfig, type SecAggConfig } from "./config.ts";
import { SecAggAborted, SecAggMessageRejected, type SecAggStage } from "./errors.ts";
import { pairwiseMaskSeed, SHARE_NONCE_BYTES, x25519, x25519PrivateKeyObject, x25519PublicKeyObject, x25519PublicKeyOf, X25519_KEY_BYTES, type SessionId } from "./keys.ts";
import type {
  DeliveredBox,
  EncryptedShares,
  KeyAdvertisement,
  KeyDirectory,
  MaskedInput,
  RevealedShare,
  ShareDelivery,
  UnmaskRequest,
  UnmaskResponse,
} from "./messages.ts";
import { applyMask, bytesToWords } from "./prg.ts";
import { fieldFromBytes, fieldToBytes, interpolateAtZero, isFieldElement, lagrangeAtZero } from "./shamir.ts";

/**
 *   advertise-keys ─publishDirectory→ share-keys ─deliverShares→ masked-input ─requestUnmasking→ unmasking ─unmaskSum→ finished
 *   fewer than t clients at the end of any stage → aborted (terminal)
 */
export type ServerStage = SecAggStage | "finished" | "aborted";

/** The outcome: the sum of the survivors' inputs mod 2^32, and who is in it. */
export interface SecAggSum {
  /** Σ_{u ∈ survivors} x_u mod 2^32, coordinate-wise. */
  readonly sum: Uint32Array;
  /** U3: clients whose inputs are in the sum, sorted. */
  readonly survivors: readonly string[];
  /** U2 \ U3: shared keys, sent no masked input in time; their pairwise masks were removed. */
  readonly droppedAfterSharing: readonly string[];
  /** U1 \ U2: advertised keys, never shared; nobody masked with them. */
  readonly droppedBeforeSharing: readonly string[];
  /** U5: survivors whose unmask responses were used. */
  readonly responders: readonly string[];
}

/** Everything the server has accepted: its whole knowledge of the session, for audit and tests. */
export interface ServerView {
  readonly advertisements: readonly KeyAdvertisement[];
  readonly encryptedShares: readonly EncryptedShares[];
  readonly maskedInputs: readonly MaskedInput[];
  readonly unmaskResponses: readonly UnmaskResponse[];
}

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString("hex");
const sameBytes = (a: Uint8Array, b: Uint8Array): boolean => a.length === b.length && a.every((v, i) => v === b[i]);
/** Stable JSON-ish identity of a message for idempotent redelivery (byte arrays as hex). */
const fingerprint = (value: unknown): string => JSON.stringify(value, (_, v: unknown) => (v instanceof Uint8Array ? hex(v) : v));

/**
 * The coordinator of secure aggregation (Bonawitz et al. 2017, honest-but-curious variant). It
 * relays public keys and sealed share boxes, collects masked inputs, asks the survivors for
 * exactly one kind of share per client, and removes the masks from the sum. It never holds an
 * input in the clear: it has no method that returns one, and never asks for both the self-mask
 * and the mask-key shares of one client (it also refuses to accept them, so its view stays clean).
 *
 * Stages end when the caller (the adapter that owns deadlines) calls the closing method; each
 * closes with whoever arrived and aborts cleanly, with `SecAggAborted`, when fewer than t did.
 */
export class SecAggServer {
  readonly config: SecAggConfig;
  readonly #session: SessionId;
  #stage: ServerStage = "advertise-keys";
  #abortedWith: SecAggAborted | undefined;

  readonly #advertisements = new Map<string, KeyAdvertisement>();
  readonly #advertisedKeys = new Set<string>();
  /** U1, sorted; x-coordinate of U1[i] is i + 1. */
  #directory: readonly string[] = [];
  readonly #encryptedShares = new Map<string, EncryptedShares>();
  /** U2, sorted. */
  #sharers: readonly string[] = [];
  readonly #maskedInputs = new Map<string, MaskedInput>();
  /** U3, sorted, and U2 \ U3. */
  #survivors: readonly string[] = [];
  #dropped: readonly string[] = [];
  readonly #unmaskResponses = new Map<string, UnmaskResponse>();

  constructor(config: SecAggConfig) {
    checkConfig(config);
    this.config = { ...config };
    this.#session = { task: config.task, flRound: config.flRound };
  }

  get stage(): ServerStage {
    return this.#stage;
  }

  /** Why the session aborted, once it has. */
  get abortReason(): SecAggAborted | undefined {
    return this.#abortedWith;
  }

  /** Clients expected in the current stage that have not been heard from yet (for deadline logic). */
  pending(): readonly string[] {
    switch (this.#stage) {
      case "share-keys":
        return this.#directory.filter((c) => !this.#encryptedShares.has(c));
      case "masked-input":
        return this.#sharers.filter((c) => !this.#maskedInputs.has(c));
      case "unmasking":
        return this.#survivors.filter((c) => !this.#unmaskResponses.has(c));
      default:
        return [];
    }
  }

  view(): ServerView {
    return {
      advertisements: [...this.#advertisements.values()],
      encryptedShares: [...this.#encryptedShares.values()],
      maskedInputs: [...this.#maskedInputs.values()],
      unmaskResponses: [...this.#unmaskResponses.values()],
    };
  }

  #reject(stage: string, client: string, reason: SecAggMessageRejected["reason"], message: string): Result.Result<never, SecAggMessageRejected> {
    return Result.fail(new SecAggMessageRejected({ stage, client, reason, message }));
  }

  /**
   * Common gate of every incoming message: session, stage, membership, duplicates. An identical
   * message received twice is accepted once (redelivery); a different second message is rejected.
   */
  #admit<M extends { readonly task: string; readonly flRound: number; readonly client: string }>(
    stage: SecAggStage,
    message: M,
    members: ReadonlySet<string> | undefined,
    received: ReadonlyMap<string, M>,
  ): Result.Result<"new" | "repeat", SecAggMessageRejected> {
    if (message.task !== this.#session.task || message.flRound !== this.#session.flRound)
      return this.#reject(stage, message.client, "wrong-session", `message of ${message.task}/${message.flRound}`);
    if (this.#stage !== stage) return this.#reject(stage, message.client, "wrong-stage", `server is in ${this.#stage}`);
    if (members && !members.has(message.client)) return this.#reject(stage, message.client, "unknown-client", `${message.client} is not expected in ${stage}`);
    const previous = received.get(message.client);
    if (previous) {
      if (fingerprint(previous) === fingerprint(message)) return Result.succeed("repeat");
      return this.#reject(stage, message.client, "duplicate", `${message.client} already sent a different message in ${stage}`);
    }
    return Result.succeed("new");
  }

  #abort(stage: SecAggStage, reason: SecAggAborted["reason"], available: number, message: string): Result.Result<never, SecAggAborted> {
    const error = new SecAggAborted({ stage, reason, needed: this.config.threshold, available, message });
    this.#stage = "aborted";
    this.#abortedWith = error;
    return Result.fail(error);
  }

  #enough(stage: SecAggStage, count: number, what: string): Result.Result<never, SecAggAborted> | undefined {
    return count < this.config.threshold
      ? this.#abort(stage, "too-few-clients", count, `${count} clients ${what}, threshold is ${this.config.threshold}`)
      : undefined;
  }

  // ---- round 0: AdvertiseKeys ----

  receiveAdvertisement(message: KeyAdvertisement): Result.Result<void, SecAggMessageRejected> {
    const stage = "advertise-keys";
    const admitted = this.#admit(stage, message, undefined, this.#advertisements);
    if (Result.isFailure(admitted) || admitted.success === "repeat") return Result.map(admitted, () => undefined);
    const { encryptionPublicKey: c, maskPublicKey: s } = message;
    if (c.length !== X25519_KEY_BYTES || s.length !== X25519_KEY_BYTES) return this.#reject(stage, message.client, "malformed", "public keys are 32 bytes");
    if (sameBytes(c, s) || this.#advertisedKeys.has(hex(c)) || this.#advertisedKeys.has(hex(s)))
      return this.#reject(stage, message.client, "malformed", "a public key repeats one already advertised");
    this.#advertisements.set(message.client, message);
    this.#advertisedKeys.add(hex(c)).add(hex(s));
    return Result.succeed(undefined);
  }

  /** Ends round 0: U1 is whoever advertised. Aborts below t. */
  publishDirectory(): Result.Result<KeyDirectory, SecAggAborted | SecAggMessageRejected> {
    if (this.#stage !== "advertise-keys") return this.#reject("advertise-keys", "server", "wrong-stage", `server is in ${this.#stage}`);
    const clients = [...this.#advertisements.keys()].sort(byId);
    const short = this.#enough("advertise-keys", clients.length, "advertised keys");
    if (short) return short;
    this.#directory = clients;
    this.#stage = "share-keys";
    return Result.succeed({
      ...this.#session,
      clients: clients.map((client) => {
        const a = this.#advertisements.get(client)!;
        return { client, encryptionPublicKey: a.encryptionPublicKey, maskPublicKey: a.maskPublicKey };
      }),
    });
  }

  // ---- round 1: ShareKeys ----

  receiveEncryptedShares(message: EncryptedShares): Result.Result<void, SecAggMessageRejected> {
    const stage = "share-keys";
    const admitted = this.#admit(stage, message, new Set(this.#directory), this.#encryptedShares);
    if (Result.isFailure(admitted) || admitted.success === "repeat") return Result.map(admitted, () => undefined);
    const recipients = message.boxes.map((b) => b.to).sort(byId);
    const expected = this.#directory.filter((c) => c !== message.client);
    if (recipients.length !== expected.length || recipients.some((r, i) => r !== expected[i]))
      return this.#reject(stage, message.client, "malformed", "boxes must go to every other client of the directory, one each");
    if (message.boxes.some((b) => b.nonce.length !== SHARE_NONCE_BYTES || b.ciphertext.length !== 80))
      return this.#reject(stage, message.client, "malformed", "a box has the wrong size");
    this.#encryptedShares.set(message.client, message);
    return Result.succeed(undefined);
  }

  /** Ends round 1: U2 is whoever sent boxes; each member gets the boxes addressed to it from the others of U2. Aborts below t. */
  deliverShares(): Result.Result<readonly ShareDelivery[], SecAggAborted | SecAggMessageRejected> {
    if (this.#stage !== "share-keys") return this.#reject("share-keys", "server", "wrong-stage", `server is in ${this.#stage}`);
    const sharers = [...this.#encryptedShares.keys()].sort(byId);
    const short = this.#enough("share-keys", sharers.length, "shared keys");
    if (short) return short;
    this.#sharers = sharers;
    this.#stage = "masked-input";
    return Result.succeed(
      sharers.map((to) => {
        const boxes: DeliveredBox[] = [];
        for (const from of sharers) {
          if (from === to) continue;
          const box = this.#encryptedShares.get(from)!.boxes.find((b) => b.to === to)!;
          boxes.push({ from, nonce: box.nonce, ciphertext: box.ciphertext });
        }
        return { ...this.#session, to, boxes };
      }),
    );
  }

  // ---- round 2: MaskedInputCollection ----

  receiveMaskedInput(message: MaskedInput): Result.Result<void, SecAggMessageRejected> {
    const stage = "masked-input";
    const admitted = this.#admit(stage, message, new Set(this.#sharers), this.#maskedInputs);
    if (Result.isFailure(admitted) || admitted.success === "repeat") return Result.map(admitted, () => undefined);
    if (message.masked.length !== 4 * this.config.vectorLength)
      return this.#reject(stage, message.client, "malformed", `masked input is ${message.masked.length} bytes, expected ${4 * this.config.vectorLength}`);
    this.#maskedInputs.set(message.client, message);
    return Result.succeed(undefined);
  }

  /**
   * Ends round 2: U3 is whoever sent a masked input; the request partitions U2 into survivors and
   * dropped. A masked input arriving after this is rejected (wrong stage): its self mask will not
   * be removed, so it must not enter the sum. Aborts below t.
   *
   * The paper's round 3 (ConsistencyCheck, clients sign U3) is not run: it defends against a
   * server that lies about U3, outside the honest-but-curious model this implements.
   */
  requestUnmasking(): Result.Result<UnmaskRequest, SecAggAborted | SecAggMessageRejected> {
    if (this.#stage !== "masked-input") return this.#reject("masked-input", "server", "wrong-stage", `server is in ${this.#stage}`);
    const survivors = [...this.#maskedInputs.keys()].sort(byId);
    const short = this.#enough("masked-input", survivors.length, "sent masked inputs");
    if (short) return short;
    this.#survivors = survivors;
    this.#dropped = this.#sharers.filter((c) => !this.#maskedInputs.has(c));
    this.#stage = "unmasking";
    return Result.succeed({ ...this.#session, survivors: [...survivors], dropped: [...this.#dropped] });
  }

  // ---- round 3: Unmasking ----

  receiveUnmaskResponse(message: UnmaskResponse): Result.Result<void, SecAggMessageRejected> {
    const stage = "unmasking";
    const admitted = this.#admit(stage, message, new Set(this.#survivors), this.#unmaskResponses);
    if (Result.isFailure(admitted) || admitted.success === "repeat") return Result.map(admitted, () => undefined);
    const covers = (shares: readonly RevealedShare[], expected: readonly string[]): boolean => {
      const of = shares.map((s) => s.of).sort(byId);
      return of.length === expected.length && of.every((c, i) => c === expected[i]);
    };
    // Keeping the view clean: a b-share of a dropped client or an s-share of a survivor is never stored.
    if (!covers(message.selfMaskShares, this.#survivors) || !covers(message.maskKeyShares, this.#dropped))
      return this.#reject(stage, message.client, "not-requested", "a response carries exactly the self-mask shares of the survivors and the mask-key shares of the dropped");
    if (![...message.selfMaskShares, ...message.maskKeyShares].every((s) => isFieldElement(s.share)))
      return this.#reject(stage, message.client, "malformed", "a share is not a field element");
    this.#unmaskResponses.set(message.client, message);
    return Result.succeed(undefined);
  }

  /**
   * Ends round 3 with the unmasked sum. From the first t responders (by id) it rebuilds each
   * survivor's b_u and subtracts PRG(b_u), and each dropped client's s_d^SK (checked against its
   * advertised public key) and cancels the pairwise masks the survivors added with it. Pairwise
   * masks between survivors cancel by themselves. Aborts below t responders, or when a
   * reconstructed mask key does not match its public key.
   */
  unmaskSum(): Result.Result<SecAggSum, SecAggAborted | SecAggMessageRejected> {
    if (this.#stage !== "unmasking") return this.#reject("unmasking", "server", "wrong-stage", `server is in ${this.#stage}`);
    const responded = [...this.#unmaskResponses.keys()].sort(byId);
    const short = this.#enough("unmasking", responded.length, "sent unmask shares");
    if (short) return short;

    const responders = responded.slice(0, this.config.threshold);
    const xOf = new Map(this.#directory.map((c, i) => [c, i + 1] as const));
    const lambdas = lagrangeAtZero(responders.map((c) => xOf.get(c)!));
    const shareOf = (kind: "selfMaskShares" | "maskKeyShares", of: string) =>
      responders.map((r) => fieldFromBytes(this.#unmaskResponses.get(r)![kind].find((s) => s.of === of)!.share));

    const sum = new Uint32Array(this.config.vectorLength);
    for (const u of this.#survivors) {
      const masked = bytesToWords(this.#maskedInputs.get(u)!.masked);
      for (let i = 0; i < sum.length; i++) sum[i] = sum[i]! + masked[i]!;
    }
    for (const u of this.#survivors) applyMask(sum, fieldToBytes(interpolateAtZero(lambdas, shareOf("selfMaskShares", u))), -1);

    const maskPublicKeys = new Map<string, KeyObject>();
    const maskPublicKey = (c: string): KeyObject => {
      let key = maskPublicKeys.get(c);
      if (!key) maskPublicKeys.set(c, (key = x25519PublicKeyObject(this.#advertisements.get(c)!.maskPublicKey)));
      return key;
    };
    for (const d of this.#dropped) {
      const advertised = this.#advertisements.get(d)!.maskPublicKey;
      let privateObject: KeyObject | undefined;
      try {
        privateObject = x25519PrivateKeyObject(fieldToBytes(interpolateAtZero(lambdas, shareOf("maskKeyShares", d))), advertised);
      } catch {
        privateObject = undefined;
      }
      if (!privateObject || !sameBytes(x25519PublicKeyOf(privateObject), advertised))
        return this.#abort("unmasking", "reconstruction-failed", responded.length, `the shares of ${d}'s mask key do not rebuild the key it advertised`);
      for (const v of this.#survivors) {
        let shared: Uint8Array;
        try {
          shared = x25519(privateObject, maskPublicKey(v));
        } catch (cause) {
          return this.#abort("unmasking", "reconstruction-failed", responded.length, `no mask agreement between ${d} and ${v}: ${String(cause)}`);
        }
        // v added +PRG when v < d and −PRG when v > d; take back exactly that.
        applyMask(sum, pairwiseMaskSeed(shared, this.#session, v, d), v < d ? -1 : 1);
      }
    }

    this.#stage = "finished";
    return Result.succeed({
      sum,
      survivors: [...this.#survivors],
      droppedAfterSharing: [...this.#dropped],
      droppedBeforeSharing: this.#directory.filter((c) => !this.#encryptedShares.has(c)),
      responders,
    });
  }
}
