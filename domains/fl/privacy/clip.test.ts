import { describe, expect, it } from "vitest";
import { Rng } from "../../kernel/rng.ts";
import { clipUpdate } from "./clip.ts";

const randomDelta = (length: number, scale: number, seed: number): Float32Array => {
  const rng = new Rng(seed);
  return Float32Array.from({ length }, () => scale * rng.normal());
};

const norm = (v: Float32Array): number => Math.sqrt(v.reduce((sum, x) => sum + x * x, 0));

describe("clipUpdate", () => {
  it("given an update longer than C, scales it to norm at most C", () => {
    for (const seed of [1, 2, 3, 4, 5]) {
      const delta = randomDelta(10_000, 0.5, seed);
      const { clipped, norm: before, wasClipped } = clipUpdate(delta, 1.0);
      expect(wasClipped).toBe(true);
      expect(before).toBeCloseTo(norm(delta), 9);
      expect(norm(clipped)).toBeLessThanOrEqual(1.0);
      expect(norm(clipped)).toBeGreaterThan(1.0 - 1e-6);
    }
  });

  it("keeps the direction: the clipped update is a positive multiple of the original", () => {
    const delta = randomDelta(1_000, 2, 7);
    const { clipped } = clipUpdate(delta, 0.25);
    let dot = 0;
    for (let i = 0; i < delta.length; i++) dot += delta[i]! * clipped[i]!;
    expect(dot / (norm(delta) * norm(clipped))).toBeCloseTo(1, 6);
    const ratio = clipped[0]! / delta[0]!;
    for (let i = 0; i < delta.length; i++) expect(clipped[i]!).toBeCloseTo(delta[i]! * ratio, 6);
  });

  it("leaves an update within C untouched (and returns a copy)", () => {
    const delta = randomDelta(500, 0.001, 9);
    const result = clipUpdate(delta, 10);
    expect(result.wasClipped).toBe(false);
    expect(result.clipped).toEqual(delta);
    expect(result.clipped).not.toBe(delta);
  });

  it("leaves the zero update at zero", () => {
    const result = clipUpdate(new Float32Array(8), 1);
    expect(result.norm).toBe(0);
    expect(Array.from(result.clipped)).toEqual(new Array(8).fill(0));
  });

  it("refuses a clip norm that is not positive and an update that is not finite", () => {
    expect(() => clipUpdate(new Float32Array(3), 0)).toThrow(RangeError);
    expect(() => clipUpdate(Float32Array.of(1, Number.NaN), 1)).toThrow(RangeError);
  });
});
