import { describe, expect, it } from "vitest";
import { Rng } from "../../kernel/rng.ts";
import { aggregateRound, type AggregateOutcome, type ClientUpdate, type StrategyConfig } from "./index.ts";

const ok = (outcome: AggregateOutcome) => {
  if (!outcome.ok) throw new Error(outcome.reason);
  return outcome;
};

const run = (strategy: StrategyConfig, points: Record<string, number[]>) => {
  const updates: ClientUpdate[] = Object.entries(points).map(([client, weights]) => ({ client, weights: Float32Array.from(weights), examples: 1 }));
  return aggregateRound(strategy, new Float32Array(updates[0]!.weights.length), updates, { round: 0 });
};

describe("Krum and Multi-Krum", () => {
  // 1-D points 0, 1, 3, 100, 200 with f = 1: each score sums the n − f − 2 = 2 smallest squared distances.
  //   a (0): 1 + 9 = 10   b (1): 1 + 4 = 5   c (3): 4 + 9 = 13   d (100): 97² + 99² = 19210   e (200): 100² + 197²
  const line = { a: [0], b: [1], c: [3], d: [100], e: [200] };

  it("Krum keeps the update of least score, as it is", () => {
    const outcome = ok(run({ name: "krum", f: 1 }, line));
    expect(outcome.used).toEqual(["b"]);
    expect([...outcome.model]).toEqual([1]);
  });

  it("Multi-Krum averages the `select` best (b, a, c) plainly, and n − f by default", () => {
    const three = ok(run({ name: "multikrum", f: 1, select: 3 }, line));
    expect(three.used).toEqual(["a", "b", "c"]);
    expect(three.model[0]).toBe(Math.fround((0 + 1 + 3) / 3));
    const byDefault = ok(run({ name: "multikrum", f: 1 }, line));
    expect(byDefault.used).toEqual(["a", "b", "c", "d"]);
    expect(byDefault.model[0]).toBe((0 + 1 + 3 + 100) / 4);
  });

  it("given 5 honest updates near (1, 1, 1, 1) and 2 colluding ones far away, then Krum with f = 2 returns an honest update", () => {
    const rng = new Rng(11);
    const points: Record<string, number[]> = { "byz-1": [1000, -1000, 1000, 5], "byz-2": [1000, -1000, 1000, 5] };
    for (let i = 0; i < 5; i++) points[`honest-${i}`] = Array.from({ length: 4 }, () => 1 + 0.01 * rng.normal());
    const outcome = ok(run({ name: "krum", f: 2 }, points));
    expect(outcome.used[0]).toMatch(/^honest-/);
    expect([...outcome.model]).toEqual(points[outcome.used[0]!]!.map(Math.fround));
  });

  it("refuses fewer than 2f + 3 valid updates", () => {
    const outcome = run({ name: "krum", f: 1 }, { a: [0], b: [1], c: [2], d: [3] });
    expect(outcome).toMatchObject({ ok: false, reason: "krum needs at least 5 valid updates (n >= 2f + 3 with f = 1), 4 were left" });
    expect(run({ name: "multikrum", f: 1, select: 6 }, line)).toMatchObject({ ok: false, reason: "multikrum cannot select 6 of 5 valid updates" });
  });
});

describe("coordinate-wise median", () => {
  it("of [1, 5, 3] is 3 and of [4, -2, 0] is 0, per coordinate", () => {
    expect([...ok(run({ name: "median" }, { a: [1, 4], b: [5, -2], c: [3, 0] })).model]).toEqual([3, 0]);
  });

  it("of an even count is the mean of the two middle values: [1, 5, 3, 7] gives (3 + 5) / 2", () => {
    expect([...ok(run({ name: "median" }, { a: [1], b: [5], c: [3], d: [7] })).model]).toEqual([4]);
  });

  it("ignores one update far away", () => {
    expect([...ok(run({ name: "median" }, { a: [1], b: [2], c: [1e30] })).model]).toEqual([2]);
  });
});

describe("coordinate-wise trimmed mean", () => {
  const five = { a: [1], b: [2], c: [3], d: [4], e: [100] };

  it("β = 0.2 of 5 drops one value at each end: mean(2, 3, 4) = 3", () => {
    expect([...ok(run({ name: "trimmedmean", beta: 0.2 }, five)).model]).toEqual([3]);
  });

  it("β = 0 is the plain mean; the default β = 0.1 of 5 drops nothing (⌊0.5⌋ = 0)", () => {
    expect([...ok(run({ name: "trimmedmean", beta: 0 }, five)).model]).toEqual([(1 + 2 + 3 + 4 + 100) / 5]);
    expect([...ok(run({ name: "trimmedmean" }, five)).model]).toEqual([22]);
  });

  it("β = 0.5 keeps what it must: the middle value of 5, the two middle values of 4", () => {
    expect([...ok(run({ name: "trimmedmean", beta: 0.5 }, five)).model]).toEqual([3]);
    expect([...ok(run({ name: "trimmedmean", beta: 0.5 }, { a: [1], b: [2], c: [3], d: [100] })).model]).toEqual([2.5]);
  });

  it("given 20 values per coordinate over many coordinates, then it matches sorting each coordinate", () => {
    const rng = new Rng(12);
    const points: Record<string, number[]> = {};
    for (let i = 0; i < 20; i++) points[`c${String(i).padStart(2, "0")}`] = Array.from({ length: 3000 }, (_, k) => (k % 3 === 0 ? rng.int(4) : rng.normal()));
    const model = ok(run({ name: "trimmedmean", beta: 0.15 }, points)).model;
    const clients = Object.keys(points).sort();
    for (let k = 0; k < 3000; k++) {
      const kept = clients.map((c) => Math.fround(points[c]![k]!)).sort((x, y) => x - y).slice(3, 17);
      expect(model[k]).toBeCloseTo(kept.reduce((s, v) => s + v, 0) / 14, 6);
    }
  });
});

describe("Bulyan", () => {
  it("refuses unless n >= 4f + 3", () => {
    const six = { a: [0], b: [1], c: [2], d: [3], e: [4], f: [5] };
    expect(run({ name: "bulyan", f: 1 }, six)).toMatchObject({ ok: false, reason: "bulyan needs at least 7 valid updates (n >= 4f + 3 with f = 1), 6 were left" });
  });

  it("given honest 0, 1, 2, 6, 7 and outliers 50, 1000 with f = 1, then it keeps the θ = 5 honest ones and averages the β = 3 closest to their median: mean(2, 1, 0) = 1", () => {
    // Krum rounds, scores over the m − f − 2 nearest (at least 1): 2 (46), then 1 (62, tied with 6,
    // lower id), 6 (37), 0 (49, tied with 7), 7 (1849, tied with 50: honest ids sort first).
    // Median 2; closest: 2, then 1 (|1| < |4|), then 0 (|2| < |4|).
    const outcome = ok(run({ name: "bulyan", f: 1 }, { h0: [0], h1: [1], h2: [2], h3: [6], h4: [7], z0: [50], z1: [1000] }));
    expect(outcome.used).toEqual(["h0", "h1", "h2", "h3", "h4"]);
    expect([...outcome.model]).toEqual([1]);
  });

  it("a NaN update rejected before Bulyan counts against n", () => {
    const outcome = run({ name: "bulyan", f: 1 }, { a: [0], b: [1], c: [2], d: [3], e: [4], f: [5], g: [Number.NaN] });
    expect(outcome).toMatchObject({ ok: false, rejected: [{ client: "g", reason: "weights[0] is NaN" }] });
  });
});
