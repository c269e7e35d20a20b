import { describe, expect, it } from "vitest";
import { aggregateRound, initialServerState, type AggregateOutcome, type ClientUpdate, type StrategyConfig } from "./index.ts";

const ok = (outcome: AggregateOutcome) => {
  if (!outcome.ok) throw new Error(outcome.reason);
  return outcome;
};

const f32 = Math.fround;

// One coordinate, written out as Reddi et al. 2021 Algorithm 2 with β1 = 0.9, β2 = 0.99, τ = 0.001.
const beta1 = 0.9;
const beta2 = 0.99;
const tau = 0.001;

describe("FedAdam", () => {
  it("given x = 0 and one client at 1 (Δ = 1), then m = 0.1, v = 0.99·τ² + 0.01, x = η·m / (√v + τ) with η = 0.1; a second round carries m and v", () => {
    const strategy: StrategyConfig = { name: "fedadam" };
    const state0 = initialServerState(strategy, new Float32Array([0]));
    expect([...state0.momentum!, ...state0.velocity!]).toEqual([0, f32(tau * tau)]);

    const round1 = ok(aggregateRound(strategy, new Float32Array([0]), [{ client: "a", weights: new Float32Array([1]), examples: 3 }], state0));
    const m1 = 0.1;
    const v1 = 0.99 * f32(tau * tau) + 0.01;
    expect(round1.state.momentum![0]).toBe(f32(m1));
    expect(round1.state.velocity![0]).toBe(f32(v1));
    const x1 = (0.1 * m1) / (Math.sqrt(v1) + tau); // ≈ 0.0990
    expect(round1.model[0]).toBeCloseTo(x1, 6);
    expect(round1.state.round).toBe(1);

    // Round 2: clients at 2 (3 examples) and 0 (1 example): mean 1.5, Δ = 1.5 − x1.
    const updates: ClientUpdate[] = [
      { client: "a", weights: new Float32Array([2]), examples: 3 },
      { client: "b", weights: new Float32Array([0]), examples: 1 },
    ];
    const round2 = ok(aggregateRound(strategy, round1.model, updates, round1.state));
    const x1f = round1.model[0]!;
    const delta2 = (2 * 3 + 0 * 1) / 4 - x1f;
    const m2 = beta1 * f32(m1) + (1 - beta1) * delta2;
    const v2 = beta2 * f32(v1) + (1 - beta2) * delta2 * delta2;
    expect(round2.state.momentum![0]).toBeCloseTo(m2, 6);
    expect(round2.state.velocity![0]).toBeCloseTo(v2, 6);
    expect(round2.model[0]).toBeCloseTo(x1f + (0.1 * m2) / (Math.sqrt(v2) + tau), 6);
    expect(round2.state.round).toBe(2);
  });

  it("with the server learning rate 1 and β1 = 0, a step is Δ / (√v + τ) per coordinate", () => {
    const outcome = ok(
      aggregateRound({ name: "fedadam", serverLearningRate: 1, beta1: 0, beta2: 0, tau: 0.5 }, new Float32Array([1, 1]), [{ client: "a", weights: new Float32Array([3, -1]), examples: 1 }], {
        round: 0,
      }),
    );
    // Δ = (2, -2), v = Δ² = (4, 4): x = 1 + 2 / 2.5 and 1 - 2 / 2.5.
    expect([...outcome.model]).toEqual([f32(1 + 2 / 2.5), f32(1 - 2 / 2.5)]);
  });
});

describe("FedYogi", () => {
  it("moves v additively toward Δ² (up by (1−β2)Δ² when v < Δ², down when v > Δ²) while Adam decays it", () => {
    const strategy: StrategyConfig = { name: "fedyogi" };
    const state0 = initialServerState(strategy, new Float32Array([0]));
    const round1 = ok(aggregateRound(strategy, new Float32Array([0]), [{ client: "a", weights: new Float32Array([1]), examples: 1 }], state0));
    // v0 = τ² < Δ² = 1: v1 = τ² + 0.01.
    const v1 = f32(tau * tau) + 0.01;
    expect(round1.state.velocity![0]).toBe(f32(v1));
    const x1 = (0.01 * 0.1) / (Math.sqrt(v1) + tau); // η = 0.01 for Yogi
    expect(round1.model[0]).toBeCloseTo(x1, 7);

    // Round 2: the client sits at x1 + 0.01, so Δ² = 1e-4 < v1: v2 = v1 − 0.01·Δ².
    const x1f = round1.model[0]!;
    const client = f32(x1f + 0.01);
    const round2 = ok(aggregateRound(strategy, round1.model, [{ client: "a", weights: new Float32Array([client]), examples: 1 }], round1.state));
    const delta2 = client - x1f;
    const v2 = f32(v1) - (1 - beta2) * delta2 * delta2;
    const m2 = beta1 * f32(0.1) + (1 - beta1) * delta2;
    expect(round2.state.velocity![0]).toBeCloseTo(v2, 8);
    expect(round2.state.momentum![0]).toBeCloseTo(m2, 7);
    expect(round2.model[0]).toBeCloseTo(x1f + (0.01 * m2) / (Math.sqrt(v2) + tau), 7);

    // The same round under Adam would decay v by β2 instead.
    const adam = ok(aggregateRound({ name: "fedadam" }, round1.model, [{ client: "a", weights: new Float32Array([client]), examples: 1 }], round1.state));
    expect(adam.state.velocity![0]).toBeCloseTo(beta2 * f32(v1) + (1 - beta2) * delta2 * delta2, 8);
    expect(adam.state.velocity![0]).not.toBeCloseTo(v2, 5);
  });
});
