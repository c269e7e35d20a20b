import { describe, expect, it } from "vitest";
import { labelCounts, mnistAll, mnistSplit, MNIST_PIXELS } from "./index.ts";

describe("MNIST", () => {
  it("holds the package's 10,000 digits, pixels in [0, 1], every class present", () => {
    const all = mnistAll();
    expect(all.labels.length).toBe(10_000);
    expect(all.inputs.length).toBe(10_000 * MNIST_PIXELS);
    let lo = Infinity;
    let hi = -Infinity;
    for (const v of all.inputs) (lo = Math.min(lo, v)), (hi = Math.max(hi, v));
    expect([lo, hi]).toEqual([0, 1]);
    expect(labelCounts(all).every((c) => c > 800)).toBe(true);
  });

  it("splits deterministically for a seed into disjoint train and test sets", () => {
    // given the default split and the same split again
    const a = mnistSplit();
    const b = mnistSplit();
    expect(a.train.labels.length).toBe(8_000);
    expect(a.test.labels.length).toBe(2_000);
    expect(b.train.labels).toEqual(a.train.labels);
    expect(Buffer.from(b.test.inputs.buffer).equals(Buffer.from(a.test.inputs.buffer))).toBe(true);
    // then another seed splits otherwise
    expect(mnistSplit({ seed: 2 }).test.labels).not.toEqual(a.test.labels);
    // and train + test use every digit exactly once when they add up to all of them
    const whole = mnistSplit({ train: 9_000, test: 1_000 });
    const counts = labelCounts(whole.train).map((c, d) => c + labelCounts(whole.test)[d]!);
    expect(counts).toEqual(labelCounts(mnistAll()));
    const rowKey = (inputs: Float32Array, i: number) => Buffer.from(inputs.buffer, i * MNIST_PIXELS * 4, MNIST_PIXELS * 4).toString("base64");
    const trainRows = new Set(Array.from({ length: 9_000 }, (_, i) => rowKey(whole.train.inputs, i)));
    const shared = Array.from({ length: 1_000 }, (_, i) => rowKey(whole.test.inputs, i)).filter((k) => trainRows.has(k));
    expect(shared).toEqual([]);
  });

  it("refuses a split larger than the data", () => {
    expect(() => mnistSplit({ train: 9_000, test: 2_000 })).toThrow(RangeError);
  });
});
