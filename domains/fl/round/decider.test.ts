import * as Result from "effect/Result";
import { describe, expect, it } from "vitest";
import { Rng } from "../../kernel/index.ts";
import { contentId, modelBytes } from "../content-id.ts";
import type { AggregateProposed, FlEvent, LocalUpdateSubmitted, RoundAbandoned, RoundStarted } from "../events.ts";
import { decide, evolve, fold, initialState, readyToAggregate, RoundRefusedError, type RoundCommand, type RoundState, type StartRoundData } from "./decider.ts";
import { selectClients, selectionSize } from "./selection.ts";

const T0 = Date.parse("2026-11-26T10:00:00.000Z");
const cid = (label: string) => contentId(new TextEncoder().encode(label));
const GLOBAL = cid("global model, round 0");
const population = Array.from({ length: 10 }, (_, i) => `client-${String(i).padStart(2, "0")}`);

const startData: StartRoundData = {
  modelId: "mnist",
  round: 1,
  coordinator: "coord",
  globalModelCid: GLOBAL,
  serverStateCid: cid("state 0"),
  strategy: { name: "fedavg" },
  population,
  fraction: 0.3,
  minUpdates: 2,
  seed: 42,
  durationMs: 60_000,
  validators: ["v4", "v1", "v2", "v3"],
  f: 1,
  phaseTimeoutMs: 5_000,
  at: T0,
};

const run = (command: RoundCommand, state: RoundState) => {
  const decision = decide(command, state);
  if (Result.isFailure(decision)) throw decision.failure;
  return decision.success;
};
const refused = (command: RoundCommand, state: RoundState) => {
  const decision = decide(command, state);
  if (Result.isSuccess(decision)) throw new Error(`expected a refusal, got ${JSON.stringify(decision.success)}`);
  return decision.failure;
};

const [startedEvent] = run({ type: "StartRound", data: startData }, initialState());
const started = startedEvent!.data as RoundStarted;
const [first, second, third] = started.selectedClients as [string, string, string];
const outsider = population.find((c) => !started.selectedClients.includes(c))!;

const update = (client: string, overrides: Partial<LocalUpdateSubmitted> = {}): LocalUpdateSubmitted => {
  const weights = modelBytes(new Float32Array([client.length, 1, 2]));
  return {
    modelId: "mnist",
    round: 1,
    client,
    baseModelCid: GLOBAL,
    examples: 100,
    weightsCid: contentId(weights),
    byteLength: weights.byteLength,
    weights,
    submittedAt: T0 + 1_000,
    ...overrides,
  };
};
const submitted = (u: LocalUpdateSubmitted): FlEvent => ({ type: "fl.LocalUpdateSubmitted", data: u });
const collecting = (...events: FlEvent[]) => fold(initialState(), [startedEvent!, ...events]);
const inputOf = (u: LocalUpdateSubmitted) => ({ client: u.client, weightsCid: u.weightsCid, examples: u.examples });

describe("round: start and client selection", () => {
  it("selects round(C·K) distinct clients of the population, sorted, and announces the round", () => {
    expect(started.selectedClients).toHaveLength(3);
    expect(new Set(started.selectedClients).size).toBe(3);
    for (const c of started.selectedClients) expect(population).toContain(c);
    expect([...started.selectedClients]).toEqual([...started.selectedClients].sort());
    expect(started).toMatchObject({ round: 1, population: 10, minUpdates: 2, deadline: T0 + 60_000, validators: ["v1", "v2", "v3", "v4"], f: 1, phaseTimeoutMs: 5_000 });
  });

  it("draws the same clients from the same seed and round, whatever the population's order", () => {
    const again = run({ type: "StartRound", data: { ...startData, population: [...population].reverse() } }, initialState());
    expect((again[0]!.data as RoundStarted).selectedClients).toEqual(started.selectedClients);
    const rounds = [2, 3, 4, 5].map((round) => (run({ type: "StartRound", data: { ...startData, round } }, initialState())[0]!.data as RoundStarted).selectedClients.join());
    expect(new Set([started.selectedClients.join(), ...rounds]).size).toBeGreaterThan(1);
  });

  it("gives every client the same chance of selection (C = 0.3 over 3 000 draws)", () => {
    const counts = new Map(population.map((c) => [c, 0]));
    for (let seed = 0; seed < 3_000; seed++) for (const c of selectClients(population, 3, new Rng(seed))) counts.set(c, counts.get(c)! + 1);
    // Binomial(3000, 0.3): mean 900, sd ≈ 25; ±125 is five standard deviations.
    for (const n of counts.values()) expect(Math.abs(n - 900)).toBeLessThan(125);
  });

  it("selects at least the minimum and at most everyone", () => {
    expect(selectionSize(10, 0.01)).toBe(1);
    expect(selectionSize(10, 0.01, 4)).toBe(4);
    expect(selectionSize(10, 1)).toBe(10);
    expect(() => selectionSize(10, 0)).toThrow(RangeError);
  });

  it("refuses a validator set that cannot tolerate f, a second start, and minUpdates above the selection", () => {
    expect(refused({ type: "StartRound", data: { ...startData, validators: ["v1", "v2", "v3"] } }, initialState())).toMatchObject({ reason: "invalid-round" });
    expect(refused({ type: "StartRound", data: startData }, collecting())).toMatchObject({ reason: "already-started" });
    expect(refused({ type: "StartRound", data: { ...startData, minUpdates: 4 } }, initialState()).message).toContain("minUpdates");
  });
});

describe("round: collecting updates", () => {
  it("accepts a selected client's first update", () => {
    expect(run({ type: "SubmitUpdate", data: update(first) }, collecting())).toEqual([submitted(update(first))]);
  });

  it("refuses, with a reason, a duplicate, an unselected client, a late update, a wrong base model and inline bytes that are not their content id", () => {
    const state = collecting(submitted(update(first)));
    const cases: [LocalUpdateSubmitted, string][] = [
      [update(first, { examples: 5 }), "duplicate"],
      [update(outsider), "not-selected"],
      [update(second, { submittedAt: T0 + 60_001 }), "late"],
      [update(second, { baseModelCid: cid("another model") }), "wrong-base"],
      [update(second, { weightsCid: cid("other bytes") }), "content-mismatch"],
    ];
    for (const [u, reason] of cases) {
      const error = refused({ type: "SubmitUpdate", data: u }, state);
      expect(error).toBeInstanceOf(RoundRefusedError);
      expect(error.reason).toBe(reason);
    }
  });

  it("records refused updates from the stream and lists them in the proposal", () => {
    const state = collecting(submitted(update(first)), submitted(update(outsider)), submitted(update(first, { examples: 7 })), submitted(update(second)), submitted(update(third)));
    expect(state.accepted.map((u) => u.client)).toEqual([first, second, third]);
    expect(state.refused.map((r) => r.client)).toEqual([outsider, first]);
    const [proposal] = run(
      {
        type: "ProposeAggregate",
        data: {
          proposer: "coord", modelCid: cid("aggregate"), byteLength: 12, serverStateCid: cid("state 1"),
          inputs: state.accepted.map(inputOf), used: [third, first], rejected: [{ client: second, reason: "krum: farthest" }], at: T0 + 2_000,
        },
      },
      state,
    );
    const data = proposal!.data as AggregateProposed;
    expect(data.previousModelCid).toBe(GLOBAL);
    expect(data.used).toEqual([first, third].sort());
    expect(data.rejected.map((r) => r.client)).toEqual([outsider, first, second]);
    expect(data.rejected[0]!.reason).toContain("not selected");
    expect(data.rejectedCount).toBe(3);
  });

  it("takes updates after the proposal in the stream as late", () => {
    const proposal = run(
      { type: "ProposeAggregate", data: { proposer: "coord", modelCid: cid("agg"), byteLength: 12, serverStateCid: cid("s"), inputs: [inputOf(update(first)), inputOf(update(second))], used: [first, second], rejected: [], at: T0 + 61_000 } },
      collecting(submitted(update(first)), submitted(update(second))),
    );
    const state = collecting(submitted(update(first)), submitted(update(second)), ...proposal, submitted(update(third)));
    expect(state.status).toBe("proposed");
    expect(state.accepted).toHaveLength(2);
    expect(state.refused[0]!.reason).toContain("stopped collecting");
  });
});

describe("round: aggregating or abandoning", () => {
  it("is ready when every selected client answered, or at the deadline with enough updates", () => {
    const two = collecting(submitted(update(first)), submitted(update(second)));
    expect(readyToAggregate(two, T0 + 5_000)).toBe(false);
    expect(readyToAggregate(two, T0 + 60_001)).toBe(true);
    expect(readyToAggregate(evolve(two, submitted(update(third))), T0 + 5_000)).toBe(true);
    expect(readyToAggregate(collecting(submitted(update(first))), T0 + 60_001)).toBe(false);
  });

  it("refuses to propose early, or inputs the round never accepted", () => {
    const two = collecting(submitted(update(first)), submitted(update(second)));
    const propose = (at: number, inputs = [inputOf(update(first)), inputOf(update(second))]) =>
      ({ type: "ProposeAggregate", data: { proposer: "coord", modelCid: cid("agg"), byteLength: 12, serverStateCid: cid("s"), inputs, used: inputs.map((i) => i.client), rejected: [], at } }) as const;
    expect(refused(propose(T0 + 5_000), two).reason).toBe("not-ready");
    expect(refused(propose(T0 + 61_000, [inputOf(update(first)), { ...inputOf(update(second)), weightsCid: cid("swapped") }]), two).reason).toBe("unknown-input");
    expect(refused(propose(T0 + 61_000, [inputOf(update(first)), inputOf(update(third))]), two).reason).toBe("unknown-input");
    expect(refused(propose(T0 + 61_000, [inputOf(update(first))]), two).reason).toBe("too-few-updates");
  });

  it("abandons at the deadline with too few updates, saying how many came and how many were needed", () => {
    const one = collecting(submitted(update(first)), submitted(update(outsider)));
    expect(run({ type: "CheckDeadline", data: { now: T0 + 60_000 } }, one)).toEqual([]);
    const [abandoned] = run({ type: "CheckDeadline", data: { now: T0 + 60_001 } }, one);
    const data = abandoned!.data as RoundAbandoned;
    expect(data).toMatchObject({ round: 1, updatesAccepted: 1, abandonedAt: T0 + 60_001 });
    expect(data.reason).toContain("1 of 3 selected clients");
    expect(data.reason).toContain("2 needed");
    expect(data.reason).toContain(outsider);
    expect(fold(one, [abandoned!]).status).toBe("abandoned");
    expect(run({ type: "CheckDeadline", data: { now: T0 + 60_001 } }, evolve(one, submitted(update(second))))).toEqual([]);
  });

  it("abandons on request only while collecting", () => {
    const [abandoned] = run({ type: "AbandonRound", data: { reason: "aggregator refused: all updates are NaN", at: T0 + 3_000 } }, collecting());
    expect((abandoned!.data as RoundAbandoned).reason).toContain("aggregator refused");
    expect(refused({ type: "AbandonRound", data: { reason: "x", at: T0 } }, fold(collecting(), [abandoned!])).reason).toBe("round-over");
  });
});
