import { describe, expect, it } from "vitest";
import { aggregateRound } from "../../../domains/fl/aggregate/index.ts";
import { Rng } from "../../../domains/kernel/rng.ts";
import { secureFedAvg, SecureAggregationError } from "./secure.ts";

const global = Float32Array.from({ length: 300 }, (_, i) => Math.cos(i) / 4);
const rng = new Rng(11);
const inputs = Array.from({ length: 5 }, (_, k) => ({
  client: `c${k + 1}`,
  update: { weights: Float32Array.from(global, (g) => g + (rng.float() - 0.5)), examples: 10 * (k + 1) },
}));

describe("FedAvg through secure aggregation", () => {
  it("gives the example-weighted FedAvg of the updates, to the quantization step", () => {
    // Given five clients' models and example counts, when summed through secure aggregation
    const secure = secureFedAvg({ task: "t", round: 1 }, global, inputs, { clamp: 1, weightBound: 50 });
    // then the result is the plain FedAvg aggregate
    const plain = aggregateRound({ name: "fedavg" }, global, inputs.map(({ client, update }) => ({ client, ...update })), { round: 0 });
    if (!plain.ok) throw new Error(plain.reason);
    let worst = 0;
    for (let i = 0; i < global.length; i++) worst = Math.max(worst, Math.abs(secure.update.weights[i]! - plain.model[i]!));
    expect(worst).toBeLessThan(1e-5);
    expect(secure.update.examples).toBe(150);
    expect(secure.survivors).toEqual(["c1", "c2", "c3", "c4", "c5"]);
    expect(secure.threshold).toBe(3);
  });

  it("cuts a delta coordinate beyond the clamp to it", () => {
    const far = [{ client: "a", update: { weights: Float32Array.from(global, (g, i) => (i === 0 ? g + 5 : g)), examples: 1 } }, { client: "b", update: { weights: global, examples: 1 } }];
    const secure = secureFedAvg({ task: "t", round: 2 }, global, far, { clamp: 1, weightBound: 1 });
    // (clamp(5) + 0) / 2 = 0.5
    expect(secure.update.weights[0]! - global[0]!).toBeCloseTo(0.5, 5);
  });

  it("refuses a round with fewer clients than the threshold", () => {
    expect(() => secureFedAvg({ task: "t", round: 3 }, global, inputs.slice(0, 2), { clamp: 1, weightBound: 50, threshold: 3 })).toThrow(SecureAggregationError);
  });
});
