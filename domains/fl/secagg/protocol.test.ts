import { decode as cborDecode, encode as cborEncode } from "cbor-x";
import * as Result from "effect/Result";
import * as Schema from "effect/Schema";
import { describe, expect, it } from "vitest";
import { Rng } from "../../kernel/index.ts";
import {
  dequantizeSum,
  EncryptedShares,
  KeyAdvertisement,
  KeyDirectory,
  MaskedInput,
  quantizationFor,
  quantize,
  SecAggAborted,
  SecAggClient,
  SecAggServer,
  ShareDelivery,
  sumErrorBound,
  UnmaskRequest,
  UnmaskResponse,
  wordsToBytes,
  type Quantization,
  type SecAggConfig,
  type SecAggSum,
} from "./index.ts";

// ---- A session driver: honest clients and server, with chosen clients going silent at chosen points ----

const idOf = (i: number) => `client-${String(i).padStart(2, "0")}`;

interface Session {
  readonly config: SecAggConfig;
  readonly ids: readonly string[];
  readonly clients: ReadonlyMap<string, SecAggClient>;
  readonly floats: ReadonlyMap<string, Float32Array>;
  readonly inputs: ReadonlyMap<string, Uint32Array>;
  readonly quantization: Quantization;
  readonly server: SecAggServer;
}

const setup = (n: number, threshold: number, vectorLength: number, seed: number): Session => {
  const config: SecAggConfig = { task: "mnist-2nn", flRound: 7, threshold, vectorLength };
  const ids = Array.from({ length: n }, (_, i) => idOf(i));
  const rng = new Rng(seed);
  const quantization = quantizationFor({ clip: 1, maxClients: n });
  const floats = new Map(ids.map((id) => [id, Float32Array.from({ length: vectorLength }, () => rng.range(-1, 1))] as const));
  return {
    config,
    ids,
    clients: new Map(ids.map((id) => [id, new SecAggClient({ ...config, client: id })] as const)),
    floats,
    inputs: new Map(ids.map((id) => [id, quantize(floats.get(id)!, quantization)] as const)),
    quantization,
    server: new SecAggServer(config),
  };
};

const ok = <A, E>(result: Result.Result<A, E>): A => {
  if (Result.isFailure(result)) throw new Error(`unexpected failure: ${JSON.stringify(result.failure)}`);
  return result.success;
};

const failure = <A, E>(result: Result.Result<A, E>): E => {
  if (Result.isSuccess(result)) throw new Error("expected a failure, got success");
  return result.failure;
};

const advertise = (s: Session, who: readonly string[]) => {
  for (const id of who) ok(s.server.receiveAdvertisement(ok(s.clients.get(id)!.advertiseKeys())));
  return s.server.publishDirectory();
};

const share = (s: Session, directory: KeyDirectory, who: readonly string[]) => {
  for (const id of who) ok(s.server.receiveEncryptedShares(ok(s.clients.get(id)!.shareKeys(directory))));
  return s.server.deliverShares();
};

const mask = (s: Session, deliveries: readonly ShareDelivery[], who: readonly string[]) => {
  for (const d of deliveries) if (who.includes(d.to)) ok(s.server.receiveMaskedInput(ok(s.clients.get(d.to)!.maskInput(d, s.inputs.get(d.to)!))));
  return s.server.requestUnmasking();
};

const unmask = (s: Session, request: UnmaskRequest, who: readonly string[]) => {
  for (const id of who) ok(s.server.receiveUnmaskResponse(ok(s.clients.get(id)!.unmask(request))));
  return s.server.unmaskSum();
};

interface Dropouts {
  readonly afterAdvertising?: readonly string[];
  readonly afterSharing?: readonly string[];
  readonly afterMasking?: readonly string[];
  /** Survivors that send nothing in the unmasking round. */
  readonly silentInUnmasking?: readonly string[];
}

const without = (ids: readonly string[], ...gone: (readonly string[] | undefined)[]) => ids.filter((id) => !gone.some((g) => g?.includes(id)));

/** Runs every round; returns the delivered messages too, so tests can inspect or replay them. */
const run = (s: Session, drop: Dropouts = {}) => {
  const directory = ok(advertise(s, s.ids));
  const deliveries = ok(share(s, directory, without(s.ids, drop.afterAdvertising)));
  const request = ok(mask(s, deliveries, without(s.ids, drop.afterAdvertising, drop.afterSharing)));
  const outcome = unmask(s, request, without(s.ids, drop.afterAdvertising, drop.afterSharing, drop.afterMasking, drop.silentInUnmasking));
  return { directory, deliveries, request, outcome };
};

/** The plain sum mod 2^32, computed here without the module. */
const plainSum = (s: Session, who: readonly string[]): Uint32Array => {
  const sum = new Uint32Array(s.config.vectorLength);
  for (const id of who) {
    const x = s.inputs.get(id)!;
    for (let i = 0; i < sum.length; i++) sum[i] = (sum[i]! + x[i]!) >>> 0;
  }
  return sum;
};

const expectExactSum = (s: Session, outcome: SecAggSum, contributors: readonly string[]) => {
  expect(outcome.survivors).toEqual([...contributors].sort());
  expect(outcome.sum).toEqual(plainSum(s, contributors));
};

/** Every byte array anywhere inside a value. */
const byteArrays = (value: unknown): Uint8Array[] => {
  if (value instanceof Uint8Array) return [value];
  if (Array.isArray(value)) return value.flatMap(byteArrays);
  if (value && typeof value === "object") return Object.values(value).flatMap(byteArrays);
  return [];
};

const contains = (haystack: Uint8Array, needle: Uint8Array): boolean =>
  Buffer.from(haystack.buffer, haystack.byteOffset, haystack.byteLength).includes(Buffer.from(needle.buffer, needle.byteOffset, needle.byteLength));

// ---- Correctness with and without dropouts ----

describe("secure aggregation: the unmasked sum", () => {
  it("given 10 clients × 1,000 params and no dropouts, when the session runs, then the sum equals the plain sum of the quantized inputs exactly", () => {
    const s = setup(10, 6, 1000, 1);
    const { outcome } = run(s);
    const result = ok(outcome);
    expectExactSum(s, result, s.ids);
    expect(result.droppedAfterSharing).toEqual([]);
    expect(result.droppedBeforeSharing).toEqual([]);
    expect(s.server.stage).toBe("finished");

    // and it decodes to the float sum within the quantization bound
    const decoded = dequantizeSum(result.sum, s.quantization);
    const bound = sumErrorBound(s.quantization, 10);
    for (let i = 0; i < 1000; i++) {
      const exact = s.ids.reduce((acc, id) => acc + s.floats.get(id)![i]!, 0);
      expect(Math.abs(decoded[i]! - exact)).toBeLessThanOrEqual(bound + Math.abs(exact) * 2 ** -24);
    }
  });

  it("given two clients that advertise keys and vanish (after round 0), then nobody masks with them and the others' sum is exact", () => {
    const s = setup(10, 6, 1000, 2);
    const gone = [idOf(2), idOf(5)];
    const { directory, deliveries, outcome } = run(s, { afterAdvertising: gone });
    expect(directory.clients.map((c) => c.client)).toContain(idOf(5));
    expect(deliveries.map((d) => d.to)).not.toContain(idOf(5));
    const result = ok(outcome);
    expectExactSum(s, result, without(s.ids, gone));
    expect(result.droppedBeforeSharing).toEqual(gone);
  });

  it("given two clients that share keys and vanish (after round 1), then their pairwise masks are removed through their mask-key shares and the others' sum is exact", () => {
    const s = setup(10, 6, 1000, 3);
    const gone = [idOf(3), idOf(7)];
    const { request, outcome } = run(s, { afterSharing: gone });
    expect(request.dropped).toEqual(gone);
    const result = ok(outcome);
    expectExactSum(s, result, without(s.ids, gone));
    expect(result.droppedAfterSharing).toEqual(gone);
    // The server learnt their mask keys, never their self masks.
    for (const r of s.server.view().unmaskResponses) {
      expect(r.maskKeyShares.map((x) => x.of)).toEqual(gone);
      expect(r.selfMaskShares.map((x) => x.of)).not.toContain(idOf(3));
    }
  });

  it("given two clients that send their masked input and vanish (after round 2), then their inputs are in the sum and their self masks are removed by the others' shares", () => {
    const s = setup(10, 6, 1000, 4);
    const gone = [idOf(1), idOf(4)];
    const result = ok(run(s, { afterMasking: gone }).outcome);
    expectExactSum(s, result, s.ids);
    expect(result.responders).not.toContain(idOf(1));
    expect(result.responders).toHaveLength(6);
  });

  it("given survivors of which only t answer the unmasking round, then the sum of all survivors is exact", () => {
    const s = setup(10, 6, 1000, 5);
    const silent = [idOf(0), idOf(6), idOf(8), idOf(9)];
    const result = ok(run(s, { silentInUnmasking: silent }).outcome);
    expectExactSum(s, result, s.ids);
    expect(result.responders).toEqual(without(s.ids, silent));
  });

  it("given dropouts at every stage at once, down to exactly t responders, then the sum of the survivors is exact", () => {
    const s = setup(12, 7, 300, 6);
    const drop = { afterAdvertising: [idOf(11)], afterSharing: [idOf(0), idOf(5)], afterMasking: [idOf(3)], silentInUnmasking: [idOf(8)] };
    const result = ok(run(s, drop).outcome);
    expectExactSum(s, result, without(s.ids, drop.afterAdvertising, drop.afterSharing));
    expect(result.responders).toHaveLength(7);
  });

  it("given 20 clients × 100 params with dropouts after rounds 1 and 2 (a speed sanity run), then the sum is exact", () => {
    const s = setup(20, 11, 100, 7);
    const drop = { afterSharing: [idOf(4), idOf(13)], afterMasking: [idOf(2), idOf(19)], silentInUnmasking: [idOf(7)] };
    const result = ok(run(s, drop).outcome);
    expectExactSum(s, result, without(s.ids, drop.afterSharing));
  });
});

// ---- Clean aborts ----

describe("secure aggregation: fewer than t clients", () => {
  const t = 4;
  const fresh = () => setup(6, t, 50, 8);
  const few = (s: Session) => s.ids.slice(0, t - 1);

  const cases: { stage: string; available: number; reach: (s: Session) => Result.Result<unknown, unknown> }[] = [
    { stage: "advertise-keys", available: 3, reach: (s) => advertise(s, few(s)) },
    { stage: "share-keys", available: 3, reach: (s) => share(s, ok(advertise(s, s.ids)), few(s)) },
    { stage: "masked-input", available: 3, reach: (s) => mask(s, ok(share(s, ok(advertise(s, s.ids)), s.ids)), few(s)) },
    { stage: "unmasking", available: 3, reach: (s) => unmask(s, ok(mask(s, ok(share(s, ok(advertise(s, s.ids)), s.ids)), s.ids)), few(s)) },
  ];

  for (const c of cases)
    it(`given only t − 1 clients left in ${c.stage}, when the stage closes, then the server aborts with too-few-clients`, () => {
      const s = fresh();
      const error = failure(c.reach(s));
      expect(error).toBeInstanceOf(SecAggAborted);
      expect(error).toMatchObject({ stage: c.stage, reason: "too-few-clients", needed: t, available: c.available });
      expect(s.server.stage).toBe("aborted");
      expect(s.server.abortReason).toBe(error);
      // Nothing further is accepted.
      const late = ok(new SecAggClient({ ...s.config, client: "late" }).advertiseKeys());
      expect(failure(s.server.receiveAdvertisement(late))).toMatchObject({ reason: "wrong-stage" });
    });

  it("given a client told of fewer than t sharers, when it masks, then it refuses instead of sending a weakly masked input", () => {
    const s = fresh();
    const directory = ok(advertise(s, s.ids));
    const deliveries = ok(share(s, directory, s.ids));
    const thin = { ...deliveries[0]!, boxes: deliveries[0]!.boxes.slice(0, t - 2) };
    const client = s.clients.get(thin.to)!;
    expect(failure(client.maskInput(thin, s.inputs.get(thin.to)!))).toMatchObject({ reason: "too-few-clients" });
    expect(client.stage).toBe("aborted");
  });
});

// ---- What the server sees ----

describe("secure aggregation: the server's view", () => {
  it("given a session with dropouts, then no individual quantized input appears anywhere in the server's view, and each masked input differs from its input", () => {
    const s = setup(10, 6, 1000, 9);
    run(s, { afterSharing: [idOf(2)], afterMasking: [idOf(6)] });
    const view = s.server.view();
    const seen = byteArrays(view);
    for (const id of s.ids) {
      const plain = wordsToBytes(s.inputs.get(id)!);
      for (const bytes of seen) expect(contains(bytes, plain)).toBe(false);
    }
    for (const m of view.maskedInputs) {
      const plain = wordsToBytes(s.inputs.get(m.client)!);
      let equalWords = 0;
      for (let i = 0; i < plain.length; i += 4) if (Buffer.compare(plain.subarray(i, i + 4), m.masked.subarray(i, i + 4)) === 0) equalWords++;
      expect(equalWords).toBeLessThan(10); // 1,000 words, each equal with probability 2^-32
    }
  });

  it("given a session with dropouts, then for no client does the server hold both its self-mask shares and its mask-key shares", () => {
    const s = setup(10, 6, 200, 10);
    run(s, { afterSharing: [idOf(1), idOf(8)], afterMasking: [idOf(4)] });
    const selfMaskOf = new Set(s.server.view().unmaskResponses.flatMap((r) => r.selfMaskShares.map((x) => x.of)));
    const maskKeyOf = new Set(s.server.view().unmaskResponses.flatMap((r) => r.maskKeyShares.map((x) => x.of)));
    expect(maskKeyOf).toEqual(new Set([idOf(1), idOf(8)]));
    for (const id of s.ids) expect(selfMaskOf.has(id) && maskKeyOf.has(id)).toBe(false);
  });

  it("given the server object, then its only data is its config and its methods return no individual input", () => {
    const s = setup(3, 2, 4, 11);
    expect(Object.keys(s.server)).toEqual(["config"]);
    const methods = Object.getOwnPropertyNames(SecAggServer.prototype).filter((n) => n !== "constructor").sort();
    expect(methods).toEqual(
      [
        "abortReason",
        "deliverShares",
        "pending",
        "publishDirectory",
        "receiveAdvertisement",
        "receiveEncryptedShares",
        "receiveMaskedInput",
        "receiveUnmaskResponse",
        "requestUnmasking",
        "stage",
        "unmaskSum",
        "view",
      ].sort(),
    );
  });

  it("given a masked input that arrives after the server asked for unmasking, then it is rejected and the sender counts as dropped", () => {
    const s = setup(6, 4, 50, 12);
    const directory = ok(advertise(s, s.ids));
    const deliveries = ok(share(s, directory, s.ids));
    const latecomer = deliveries.find((d) => d.to === idOf(5))!;
    const request = ok(mask(s, deliveries, without(s.ids, [idOf(5)])));
    const late = ok(s.clients.get(idOf(5))!.maskInput(latecomer, s.inputs.get(idOf(5))!));
    expect(failure(s.server.receiveMaskedInput(late))).toMatchObject({ reason: "wrong-stage" });
    expect(request.dropped).toEqual([idOf(5)]);
    expectExactSum(s, ok(unmask(s, request, request.survivors)), without(s.ids, [idOf(5)]));
  });
});

// ---- A server that asks for too much ----

describe("secure aggregation: clients refuse a malicious server", () => {
  const masked = (seed: number) => {
    const s = setup(8, 5, 40, seed);
    const directory = ok(advertise(s, s.ids));
    const deliveries = ok(share(s, directory, s.ids));
    const request = ok(mask(s, deliveries, s.ids));
    return { s, directory, deliveries, request };
  };

  it("given a request naming a client both survivor and dropped, then the client refuses and aborts", () => {
    const { s, request } = masked(13);
    const both = { ...request, dropped: [idOf(3)] };
    const client = s.clients.get(idOf(0))!;
    expect(failure(client.unmask(both))).toMatchObject({ reason: "both-shares-requested", client: idOf(0) });
    expect(client.stage).toBe("aborted");
    expect(failure(client.unmask(request))).toMatchObject({ reason: "wrong-stage" });
  });

  it("given a client that answered, when the server asks again with a client moved from survivor to dropped, then it refuses", () => {
    const { s, request } = masked(14);
    const client = s.clients.get(idOf(0))!;
    const first = ok(client.unmask(request));
    expect(first.selfMaskShares.map((x) => x.of)).toContain(idOf(3));
    const moved = { ...request, survivors: request.survivors.filter((c) => c !== idOf(3)), dropped: [idOf(3)] };
    expect(failure(client.unmask(moved))).toMatchObject({ reason: "conflicting-request" });
  });

  it("given a client that answered, when the same request comes again (redelivery), then it gets the same answer", () => {
    const { s, request } = masked(15);
    const client = s.clients.get(idOf(2))!;
    const first = ok(client.unmask(request));
    expect(ok(client.unmask({ ...request, survivors: [...request.survivors] }))).toBe(first);
    expect(client.stage).toBe("answered");
  });

  it("given requests that are not a partition of the clients that shared, or name fewer than t survivors, then the client refuses", () => {
    const { s, request } = masked(16);
    const attempts: [string, string, UnmaskRequest][] = [
      [idOf(0), "not-a-partition", { ...request, survivors: [...request.survivors, "stranger"] }],
      [idOf(1), "not-a-partition", { ...request, survivors: request.survivors.filter((c) => c !== idOf(7)) }],
      [idOf(2), "not-a-partition", { ...request, survivors: [...request.survivors, idOf(1)] }],
      [idOf(3), "too-few-clients", { ...request, survivors: request.survivors.slice(0, 4), dropped: request.survivors.slice(4) }],
    ];
    for (const [id, reason, attempt] of attempts) expect(failure(s.clients.get(id)!.unmask(attempt))).toMatchObject({ reason });
  });

  it("given a request that leaves the asked client out of the survivors, then that client refuses", () => {
    const { s, request } = masked(17);
    const client = s.clients.get(idOf(0))!;
    expect(failure(client.unmask({ ...request, survivors: request.survivors.filter((c) => c !== idOf(0)), dropped: [idOf(0)] }))).toMatchObject({
      reason: "not-a-survivor",
    });
  });

  it("given a response carrying a self-mask share of a dropped client, then the server does not accept it into its view", () => {
    const s = setup(6, 4, 30, 18);
    const directory = ok(advertise(s, s.ids));
    const deliveries = ok(share(s, directory, s.ids));
    const request = ok(mask(s, deliveries, without(s.ids, [idOf(5)])));
    const honest = ok(s.clients.get(idOf(0))!.unmask(request));
    const greedy: UnmaskResponse = { ...honest, selfMaskShares: [...honest.selfMaskShares, { of: idOf(5), share: new Uint8Array(32) }] };
    expect(failure(s.server.receiveUnmaskResponse(greedy))).toMatchObject({ reason: "not-requested" });
    expect(s.server.view().unmaskResponses).toEqual([]);
    ok(s.server.receiveUnmaskResponse(honest));
    expect(s.server.view().unmaskResponses).toEqual([honest]);
  });
});

// ---- Tampered or misdirected messages ----

describe("secure aggregation: clients check what the server relays", () => {
  it("given a directory without the client's own keys, or with a repeated key, then the client refuses", () => {
    const s = setup(4, 3, 10, 19);
    const directory = ok(advertise(s, s.ids));
    const a = s.clients.get(idOf(0))!;
    const swapped = { ...directory, clients: directory.clients.map((c) => (c.client === idOf(0) ? { ...c, maskPublicKey: directory.clients[1]!.maskPublicKey } : c)) };
    expect(failure(a.shareKeys(swapped))).toMatchObject({ reason: "directory-mismatch" });
    const b = s.clients.get(idOf(1))!;
    const repeated = { ...directory, clients: directory.clients.map((c) => (c.client === idOf(3) ? { ...c, maskPublicKey: directory.clients[2]!.maskPublicKey } : c)) };
    expect(failure(b.shareKeys(repeated))).toMatchObject({ reason: "duplicate-keys" });
  });

  it("given a message of another session, then the client refuses it and stays where it was", () => {
    const s = setup(4, 3, 10, 20);
    const directory = ok(advertise(s, s.ids));
    const client = s.clients.get(idOf(0))!;
    expect(failure(client.shareKeys({ ...directory, flRound: 8 }))).toMatchObject({ reason: "wrong-session" });
    expect(client.stage).toBe("advertised");
    ok(client.shareKeys(directory));
  });

  it("given a share box altered or relabelled as another sender's, when the recipient opens it, then it refuses", () => {
    const s = setup(5, 3, 10, 21);
    const directory = ok(advertise(s, s.ids));
    const deliveries = ok(share(s, directory, s.ids));
    const [d0, d1] = [deliveries[0]!, deliveries[1]!];
    const altered = { ...d0, boxes: d0.boxes.map((b, i) => (i === 0 ? { ...b, ciphertext: b.ciphertext.map((v, j) => (j === 5 ? v ^ 1 : v)) } : b)) };
    expect(failure(s.clients.get(d0.to)!.maskInput(altered, s.inputs.get(d0.to)!))).toMatchObject({ reason: "bad-share-box" });
    // Box from client-02 relabelled as coming from client-03 (the other label keeps the set of senders complete).
    const relabelled = {
      ...d1,
      boxes: d1.boxes.map((b) => (b.from === idOf(2) ? { ...b, from: idOf(3) } : b.from === idOf(3) ? { ...b, from: idOf(2) } : b)),
    };
    expect(failure(s.clients.get(d1.to)!.maskInput(relabelled, s.inputs.get(d1.to)!))).toMatchObject({ reason: "bad-share-box" });
  });

  it("given an input of the wrong length, then the client refuses without aborting", () => {
    const s = setup(4, 3, 10, 22);
    const deliveries = ok(share(s, ok(advertise(s, s.ids)), s.ids));
    const client = s.clients.get(deliveries[0]!.to)!;
    expect(failure(client.maskInput(deliveries[0]!, new Uint32Array(9)))).toMatchObject({ reason: "wrong-length" });
    expect(client.stage).toBe("shared");
  });
});

describe("secure aggregation: the server checks what clients send", () => {
  it("given a repeated advertisement, then an identical one is accepted once and a different one rejected", () => {
    const s = setup(4, 3, 10, 23);
    const first = ok(s.clients.get(idOf(0))!.advertiseKeys());
    ok(s.server.receiveAdvertisement(first));
    ok(s.server.receiveAdvertisement({ ...first }));
    const other = ok(new SecAggClient({ ...s.config, client: idOf(0) }).advertiseKeys());
    expect(failure(s.server.receiveAdvertisement(other))).toMatchObject({ reason: "duplicate" });
    expect(s.server.view().advertisements).toHaveLength(1);
  });

  it("given shares from a client outside the directory or boxes missing a recipient, then they are rejected", () => {
    const s = setup(4, 3, 10, 24);
    const directory = ok(advertise(s, s.ids.slice(0, 3)));
    const outsider = s.clients.get(idOf(3))!;
    ok(outsider.advertiseKeys());
    const fake = ok(outsider.shareKeys({ ...directory, clients: [...directory.clients, { client: idOf(3), encryptionPublicKey: ok(outsider.advertiseKeys()).encryptionPublicKey, maskPublicKey: ok(outsider.advertiseKeys()).maskPublicKey }] }));
    expect(failure(s.server.receiveEncryptedShares(fake))).toMatchObject({ reason: "unknown-client" });
    const honest = ok(s.clients.get(idOf(0))!.shareKeys(directory));
    expect(failure(s.server.receiveEncryptedShares({ ...honest, boxes: honest.boxes.slice(1) }))).toMatchObject({ reason: "malformed" });
    expect(s.server.pending()).toEqual(s.ids.slice(0, 3));
  });
});

// ---- Wire form ----

describe("secure aggregation: messages", () => {
  it("given every message of a session, when CBOR-encoded and decoded, then each still satisfies its Schema", () => {
    const s = setup(4, 3, 16, 25);
    const advertisements = s.ids.map((id) => ok(s.clients.get(id)!.advertiseKeys()));
    for (const a of advertisements) ok(s.server.receiveAdvertisement(a));
    const directory = ok(s.server.publishDirectory());
    const shares = s.ids.map((id) => ok(s.clients.get(id)!.shareKeys(directory)));
    for (const e of shares) ok(s.server.receiveEncryptedShares(e));
    const deliveries = ok(s.server.deliverShares());
    const maskedInputs = deliveries.map((d) => ok(s.clients.get(d.to)!.maskInput(d, s.inputs.get(d.to)!)));
    for (const m of maskedInputs) ok(s.server.receiveMaskedInput(m));
    const request = ok(s.server.requestUnmasking());
    const responses = s.ids.map((id) => ok(s.clients.get(id)!.unmask(request)));

    const checks: [Schema.Top, readonly unknown[]][] = [
      [KeyAdvertisement, advertisements],
      [KeyDirectory, [directory]],
      [EncryptedShares, shares],
      [ShareDelivery, deliveries],
      [MaskedInput, maskedInputs],
      [UnmaskRequest, [request]],
      [UnmaskResponse, responses],
    ];
    for (const [schema, messages] of checks)
      for (const message of messages) {
        const wire = cborDecode(cborEncode(message)) as unknown;
        expect(Schema.decodeUnknownExit(schema as Schema.Decoder<unknown>)(wire)._tag).toBe("Success");
      }
    // and the decoded responses still unmask the sum
    for (const r of responses) ok(s.server.receiveUnmaskResponse(cborDecode(cborEncode(r)) as UnmaskResponse));
    expectExactSum(s, ok(s.server.unmaskSum()), s.ids);
  });

  it("given a mask-key share at or above the field prime, or a masked input of odd length, then the Schemas reject it", () => {
    const decode = (schema: Schema.Top, value: unknown) => Schema.decodeUnknownExit(schema as Schema.Decoder<unknown>)(value)._tag;
    const response = { task: "t", flRound: 0, client: "a", selfMaskShares: [], maskKeyShares: [{ of: "b", share: new Uint8Array(32).fill(0xff) }] };
    expect(decode(UnmaskResponse, response)).toBe("Failure");
    expect(decode(MaskedInput, { task: "t", flRound: 0, client: "a", masked: new Uint8Array(6) })).toBe("Failure");
    expect(decode(MaskedInput, { task: "t", flRound: 0, client: "a", masked: new Uint8Array(8) })).toBe("Success");
  });
});
