import { describe, expect, it } from "vitest";
import { Rng } from "../../kernel/rng.ts";
import { allFinite, gatherBlock, maxOfRange, pairwiseSquaredDistances, selectInPlace, sortInPlace, weightedSum } from "./kernels.ts";

const randomVectors = (seed: number, n: number, length: number): Float32Array[] => {
  const rng = new Rng(seed);
  return Array.from({ length: n }, () => Float32Array.from({ length }, () => rng.normal()));
};

describe("weightedSum", () => {
  it("adds 2 + 3·4 per coordinate by hand", () => {
    const sum = weightedSum([new Float32Array([1, 2]), new Float32Array([4, -1])], [2, 3], 2);
    expect([...sum]).toEqual([1 * 2 + 4 * 3, 2 * 2 + -1 * 3]);
  });

  it("given 7 updates over 10,000 coordinates (blocks and a remainder), then it equals a plain loop per update bit for bit", () => {
    const vectors = randomVectors(1, 7, 10_000);
    const weights = [3, 1, 4, 1, 5, 9, 2];
    const plain = new Float64Array(10_000);
    for (let i = 0; i < vectors.length; i++) for (let k = 0; k < 10_000; k++) plain[k] = plain[k]! + weights[i]! * vectors[i]![k]!;
    expect(weightedSum(vectors, weights, 10_000)).toEqual(plain);
  });

  it("keeps what a Float32 sum would lose: 2^24 + 1 + 1", () => {
    const sum = weightedSum([new Float32Array([2 ** 24]), new Float32Array([1]), new Float32Array([1])], [1, 1, 1], 1);
    expect(sum[0]).toBe(16_777_218);
  });

  it("a NaN or an infinity anywhere shows in the sum", () => {
    expect(allFinite(weightedSum([new Float32Array([1, 2]), new Float32Array([3, 4])], [1, 1], 2))).toBe(true);
    expect(allFinite(weightedSum([new Float32Array([1, Number.NaN]), new Float32Array([3, 4])], [1, 1], 2))).toBe(false);
    expect(allFinite(weightedSum([new Float32Array([Infinity, 2]), new Float32Array([-Infinity, 4])], [1, 1], 2))).toBe(false);
  });
});

describe("pairwiseSquaredDistances", () => {
  it("of (0,0), (3,4), (6,8): 25, 100 and 25", () => {
    const d = pairwiseSquaredDistances([new Float32Array([0, 0]), new Float32Array([3, 4]), new Float32Array([6, 8])], 2);
    expect([...d]).toEqual([0, 25, 100, 25, 0, 25, 100, 25, 0]);
  });

  it("given 9 updates over 5,000 coordinates, then each pair matches a direct sum to rounding", () => {
    const vectors = randomVectors(2, 9, 5_000);
    const d = pairwiseSquaredDistances(vectors, 5_000);
    for (let i = 0; i < 9; i++)
      for (let j = 0; j < 9; j++) {
        let direct = 0;
        for (let k = 0; k < 5_000; k++) direct += (vectors[i]![k]! - vectors[j]![k]!) ** 2;
        expect(d[i * 9 + j]).toBeCloseTo(direct, 8);
        expect(d[i * 9 + j]).toBe(d[j * 9 + i]);
      }
  });
});

describe("gatherBlock", () => {
  it("transposes coordinates 1..2 of three vectors", () => {
    const scratch = new Float32Array(6);
    gatherBlock([new Float32Array([0, 1, 2]), new Float32Array([0, 10, 20]), new Float32Array([0, 100, 200])], 1, 2, scratch);
    expect([...scratch]).toEqual([1, 10, 100, 2, 20, 200]);
  });
});

describe("selectInPlace", () => {
  it("the middle of [1, 5, 3] is 3", () => {
    const a = new Float32Array([1, 5, 3]);
    selectInPlace(a, 0, 3, 1);
    expect(a[1]).toBe(3);
  });

  it("given random, tie-heavy and constant columns, then every rank lands in place with smaller values before and larger after", () => {
    const rng = new Rng(3);
    const columns: number[][] = [];
    for (let c = 0; c < 60; c++) columns.push(Array.from({ length: 1 + rng.int(40) }, () => rng.normal()));
    for (let c = 0; c < 40; c++) columns.push(Array.from({ length: 1 + rng.int(40) }, () => rng.int(3)));
    columns.push(new Array(25).fill(7), [2, 1]);
    const misplaced: string[] = [];
    for (const column of columns) {
      const sorted = column.map(Math.fround).sort((a, b) => a - b);
      for (let rank = 0; rank < column.length; rank++) {
        // The column sits inside a larger array, so [lo, hi) offsets are exercised too.
        const a = new Float32Array([99, ...column, -99]);
        selectInPlace(a, 1, column.length + 1, rank + 1);
        const v = a[rank + 1]!;
        const before = a.subarray(1, rank + 1).every((x) => x <= v);
        const after = a.subarray(rank + 2, column.length + 1).every((x) => x >= v);
        if (v !== sorted[rank] || !before || !after || a[0] !== 99 || a[column.length + 1] !== -99) misplaced.push(`rank ${rank} of [${column.join(", ")}]`);
      }
    }
    expect(misplaced).toEqual([]);
  });

  it("the largest of a range", () => {
    expect(maxOfRange(new Float32Array([9, 1, 4, 2]), 1, 4)).toBe(4);
  });
});

describe("sortInPlace", () => {
  it("given random columns of up to 200 values, some tie-heavy, then it sorts them like Array.prototype.sort", () => {
    const rng = new Rng(4);
    for (let c = 0; c < 50; c++) {
      const values = Array.from({ length: rng.int(200) }, () => (c % 2 ? rng.int(5) : rng.normal()));
      const a = Float32Array.from(values);
      sortInPlace(a, 0, a.length);
      expect([...a]).toEqual(values.map(Math.fround).sort((x, y) => x - y));
    }
  });
});
