import { describe, expect, it } from "vitest";
import type { Dataset } from "../training/index.ts";
import { concat, flipLabels, labelCounts, partitionIid, partitionShards, subset } from "./index.ts";

/** n examples whose single input is the example's own number, labels cycling 0-9 in runs of unequal length. */
const numbered = (n: number): Dataset => ({
  inputs: Float32Array.from({ length: n }, (_, i) => i),
  labels: Int32Array.from({ length: n }, (_, i) => Math.floor((i * 7) / 3) % 10),
  inputSize: 1,
  classes: 10,
});

const ids = (parts: readonly Dataset[]) => parts.flatMap((p) => [...p.inputs]);
const distinctLabels = (d: Dataset) => labelCounts(d).filter((c) => c > 0).length;

describe("partitionIid", () => {
  it("gives every client the same number of examples, no example twice", () => {
    // given 1,003 numbered examples and 10 clients
    const parts = partitionIid(numbered(1_003), 10, 1);
    // then each holds ⌊1003 / 10⌋ = 100, all different
    expect(parts.map((p) => p.labels.length)).toEqual(new Array(10).fill(100));
    expect(new Set(ids(parts)).size).toBe(1_000);
  });

  it("shuffles with the seed: the same seed, the same shares; another seed, others", () => {
    const data = numbered(200);
    expect(ids(partitionIid(data, 4, 3))).toEqual(ids(partitionIid(data, 4, 3)));
    expect(ids(partitionIid(data, 4, 3))).not.toEqual(ids(partitionIid(data, 4, 4)));
    // and a share is a mix of labels, not a sorted run
    expect(distinctLabels(partitionIid(data, 4, 3)[0]!)).toBeGreaterThan(5);
  });
});

describe("partitionShards", () => {
  it("with 2 shards per client gives each client at most 2 labels, no example twice", () => {
    // given 1,000 examples of 10 labels and 20 clients
    const data = numbered(1_000);
    const parts = partitionShards(data, 20, 2, 1);
    // then every client has data of 1 or 2 labels, and nothing is dealt twice
    for (const p of parts) {
      expect(p.labels.length).toBeGreaterThan(0);
      expect(distinctLabels(p)).toBeLessThanOrEqual(2);
    }
    expect(new Set(ids(parts)).size).toBe(ids(parts).length);
    // and with all shards dealt, every example is used
    expect(ids(parts).length).toBe(1_000);
  });

  it("with 1 shard per client gives each client exactly one label", () => {
    const parts = partitionShards(numbered(500), 10, 1, 2);
    expect(parts.map(distinctLabels)).toEqual(new Array(10).fill(1));
  });

  it("is the same for a seed", () => {
    const data = numbered(300);
    expect(ids(partitionShards(data, 5, 2, 7))).toEqual(ids(partitionShards(data, 5, 2, 7)));
  });

  it("refuses more clients than examples", () => {
    expect(() => partitionShards(numbered(10), 20, 2, 1)).toThrow(RangeError);
    expect(() => partitionIid(numbered(10), 11, 1)).toThrow(RangeError);
  });
});

describe("flipLabels", () => {
  it("maps label l to classes − 1 − l and keeps the inputs", () => {
    const data = numbered(30);
    const flipped = flipLabels(data);
    expect([...flipped.labels]).toEqual([...data.labels].map((l) => 9 - l));
    expect(flipped.inputs).toBe(data.inputs);
    // the original is not changed
    expect(data.labels[0]).toBe(0);
  });

  it("flips a seeded fraction of the examples", () => {
    const data = numbered(100);
    const half = flipLabels(data, { fraction: 0.5, seed: 3 });
    const changed = [...half.labels].filter((l, i) => l !== data.labels[i]).length;
    // labels 4.5 ↔ 4.5 do not exist on 10 classes, so every flipped example changes
    expect(changed).toBe(50);
    expect(flipLabels(data, { fraction: 0.5, seed: 3 }).labels).toEqual(half.labels);
  });
});

describe("subset and concat", () => {
  it("pick examples by index and join datasets back", () => {
    const data = numbered(10);
    const a = subset(data, [3, 1]);
    const b = subset(data, [7]);
    const joined = concat([a, b]);
    expect([...joined.inputs]).toEqual([3, 1, 7]);
    expect([...joined.labels]).toEqual([data.labels[3], data.labels[1], data.labels[7]]);
  });
});
