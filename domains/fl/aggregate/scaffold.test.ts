import { describe, expect, it } from "vitest";
import { aggregateRound, initialServerState, type AggregateOutcome, type ClientUpdate } from "./index.ts";

const ok = (outcome: AggregateOutcome) => {
  if (!outcome.ok) throw new Error(outcome.reason);
  return outcome;
};

const client = (id: string, weights: number[], controlDelta?: number[], examples = 1): ClientUpdate =>
  controlDelta
    ? { client: id, weights: Float32Array.from(weights), examples, controlDelta: Float32Array.from(controlDelta) }
    : { client: id, weights: Float32Array.from(weights), examples };

describe("SCAFFOLD server step", () => {
  const global = Float32Array.from([0, 2]);
  const state = { round: 4, control: Float32Array.from([1, 1]) };
  // Examples do not weigh in: SCAFFOLD's means are plain means over the sampled clients.
  const updates = [client("a", [2, 4], [1, 0], 10), client("b", [4, 8], [3, 2], 1)];

  it("given 2 of 4 clients, then x ← x + mean(y − x) and c ← c + (2/4)·mean(Δc)", () => {
    const outcome = ok(aggregateRound({ name: "scaffold" }, global, updates, state, { totalClients: 4 }));
    // mean(y − x) = ((2, 2) + (4, 6)) / 2 = (3, 4); mean(Δc) = (2, 1).
    expect([...outcome.model]).toEqual([0 + 3, 2 + 4]);
    expect([...outcome.state.control!]).toEqual([1 + 0.5 * 2, 1 + 0.5 * 1]);
    expect(outcome.state.round).toBe(5);
  });

  it("a global step η_g = 0.5 goes half way; without totalClients every client is taken as sampled (|S|/N = 1)", () => {
    const outcome = ok(aggregateRound({ name: "scaffold", serverLearningRate: 0.5 }, global, updates, state));
    expect([...outcome.model]).toEqual([0 + 0.5 * 3, 2 + 0.5 * 4]);
    expect([...outcome.state.control!]).toEqual([1 + 2, 1 + 1]);
  });

  it("starts from c = 0", () => {
    expect([...initialServerState({ name: "scaffold" }, global).control!]).toEqual([0, 0]);
  });

  it("rejects an update without a control delta, or with a NaN in it", () => {
    const outcome = ok(aggregateRound({ name: "scaffold" }, global, [...updates, client("c", [0, 0]), client("d", [1, 1], [Number.NaN, 0])], state, { totalClients: 4 }));
    expect(outcome.rejected).toEqual([
      { client: "c", reason: expect.stringMatching(/needs a controlDelta/) },
      { client: "d", reason: "controlDelta[0] is NaN" },
    ]);
    expect([...outcome.model]).toEqual([3, 6]);
  });

  it("refuses more used clients than the population", () => {
    expect(aggregateRound({ name: "scaffold" }, global, updates, state, { totalClients: 1 })).toMatchObject({ ok: false, reason: expect.stringMatching(/totalClients \(1\) is less than the 2/) });
  });
});
