import { describe, expect, it } from "vitest";
import { evaluate, initialWeights } from "../training/index.ts";
import { binaryMetrics, predictClasses } from "./metrics.ts";
import { syntheticWorkload } from "./synthetic.ts";

describe("prediction metrics", () => {
  it("predict the classes tfjs's evaluation scores (same accuracy from both)", async () => {
    const workload = syntheticWorkload({ clients: 1, test: 300, seed: 4 });
    const weights = initialWeights(workload.spec, 9);
    const predicted = predictClasses(workload.spec, weights, workload.test);
    const hits = predicted.reduce((n, p, i) => n + (p === workload.test.labels[i] ? 1 : 0), 0);
    expect(hits / 300).toBeCloseTo((await evaluate(workload.spec, weights, workload.test)).accuracy, 10);
  });

  it("count precision and recall of the positive class", () => {
    // labels    1 1 1 0 0 0
    // predicted 1 1 0 1 0 0   → tp 2, fn 1, fp 1, tn 2
    const m = binaryMetrics(Int32Array.from([1, 1, 0, 1, 0, 0]), Int32Array.from([1, 1, 1, 0, 0, 0]));
    expect(m).toMatchObject({ accuracy: 4 / 6, precision: 2 / 3, recall: 2 / 3, positiveRate: 0.5 });
    expect(m.f1).toBeCloseTo(2 / 3);
    expect(Number.isNaN(binaryMetrics(Int32Array.from([0, 0]), Int32Array.from([1, 0])).precision)).toBe(true);
  });
});
