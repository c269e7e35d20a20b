import * as Schema from "effect/Schema";
import { describe, expect, it } from "vitest";
import { encodeCbor } from "../../streams/envelope.ts";
import { streamNamed } from "../../streams/topology.ts";
import { contentId } from "./content-id.ts";
import {
  AggregateProposed,
  flEvents,
  flModelFilter,
  flSubject,
  flSubjectOf,
  LocalUpdateSubmitted,
  MAX_CLIENTS_PER_ROUND,
  MAX_LISTED_REJECTIONS,
  MAX_VALIDATORS,
  RoundStarted,
  CommitTimedOut,
} from "./events.ts";

const cid = (label: string) => contentId(new TextEncoder().encode(label));
const decode = <S extends Schema.Top>(schema: S, value: unknown) => Schema.decodeUnknownSync(schema as unknown as Schema.Decoder<S["Type"]>)(value);
const id = (prefix: string, i: number) => `${prefix}-${String(i).padStart(64 - prefix.length - 1, "0")}`;

const roundStarted = {
  modelId: "mnist",
  round: 1,
  coordinator: "coord",
  globalModelCid: cid("g"),
  serverStateCid: cid("s"),
  strategy: { name: "fedavg" },
  selectedClients: ["c1", "c2"],
  population: 10,
  minUpdates: 1,
  deadline: 2_000,
  validators: ["v1", "v2", "v3", "v4"],
  f: 1,
  phaseTimeoutMs: 30_000,
  startedAt: 1_000,
};

describe("FL events", () => {
  it("names past-tense fl.* types and puts each on fl.<modelId>.<round>.<phase>", () => {
    for (const d of flEvents) expect(d.type).toMatch(/^fl\.[A-Z][A-Za-z]+$/u);
    expect(flSubject("mnist", 3, "prepare")).toBe("fl.mnist.3.prepare");
    expect(flSubjectOf({ type: "fl.RoundStarted", data: decode(RoundStarted.schema, roundStarted) })).toBe("fl.mnist.1.started");
    expect(flModelFilter("mnist")).toBe("fl.mnist.>");
    expect(flModelFilter("mnist", "started")).toBe("fl.mnist.*.started");
  });

  it("refuses a round whose validators cannot tolerate its f, and content ids that are not CIDv1 raw", () => {
    expect(() => decode(RoundStarted.schema, roundStarted)).not.toThrow();
    expect(() => decode(RoundStarted.schema, { ...roundStarted, f: 2 })).toThrow(/n >= 3f \+ 1/u);
    expect(() => decode(RoundStarted.schema, { ...roundStarted, globalModelCid: "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o" })).toThrow();
    expect(() => decode(RoundStarted.schema, { ...roundStarted, strategy: { name: "fedsgd" } })).toThrow();
  });

  it("refuses inline weights of another length than announced, and more than 64 KiB inline", () => {
    const weights = new Uint8Array(16);
    const base = { modelId: "mnist", round: 1, client: "c1", baseModelCid: cid("g"), examples: 5, weightsCid: contentId(weights), byteLength: 16, submittedAt: 1 };
    expect(() => decode(LocalUpdateSubmitted.schema, { ...base, weights })).not.toThrow();
    expect(() => decode(LocalUpdateSubmitted.schema, { ...base, weights: new Uint8Array(12) })).toThrow(/byteLength/u);
    expect(() => decode(LocalUpdateSubmitted.schema, { ...base, byteLength: 15 })).toThrow(/float32/u);
    const big = new Uint8Array(64 * 1024 + 4);
    expect(() => decode(LocalUpdateSubmitted.schema, { ...base, byteLength: big.length, weights: big, weightsCid: contentId(big) })).toThrow();
  });

  it("keeps the largest proposal and timeout within their limits and the FL stream's message size", () => {
    const proposal = {
      modelId: id("m", 0),
      round: 2 ** 31 - 1,
      proposer: id("coord", 0),
      modelCid: cid("m"),
      byteLength: 2 ** 40,
      serverStateCid: cid("s"),
      previousModelCid: cid("p"),
      inputs: Array.from({ length: MAX_CLIENTS_PER_ROUND }, (_, i) => ({ client: id("client", i), weightsCid: cid(`w${i}`), examples: 2 ** 31, controlDeltaCid: cid(`c${i}`) })),
      used: Array.from({ length: MAX_CLIENTS_PER_ROUND }, (_, i) => id("client", i)),
      rejected: Array.from({ length: MAX_LISTED_REJECTIONS }, (_, i) => ({ client: id("client", i), reason: "x".repeat(256) })),
      rejectedCount: 5_000,
      proposedAt: Date.now(),
    };
    const size = encodeCbor(Schema.encodeUnknownSync(AggregateProposed.schema as unknown as Schema.Codec<unknown, unknown>)(decode(AggregateProposed.schema, proposal))).byteLength;
    expect(size).toBeLessThanOrEqual(AggregateProposed.maxPayloadBytes);
    expect(AggregateProposed.maxPayloadBytes).toBeLessThan(streamNamed("FL").maxMsgSize);
    const validators = Array.from({ length: MAX_VALIDATORS }, (_, i) => id("validator", i));
    const timeout = {
      modelId: id("m", 0), round: 1, phase: "prepare", modelCid: cid("m"), quorum: 171, deadline: 1, timedOutAt: 2, reason: "r".repeat(2048),
      votes: validators.map((validator) => ({ validator, modelCid: cid(validator), reason: "d".repeat(512) })),
      missing: validators,
    };
    expect(encodeCbor(decode(CommitTimedOut.schema, timeout)).byteLength).toBeLessThanOrEqual(CommitTimedOut.maxPayloadBytes);
    for (const d of flEvents) expect(d.maxPayloadBytes).toBeLessThan(streamNamed("FL").maxMsgSize);
  });
});
