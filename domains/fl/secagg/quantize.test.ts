import { describe, expect, it } from "vitest";
import { Rng } from "../../kernel/index.ts";
import { addInto, dequantizeSum, QuantizationError, quantizationFor, quantize, sumErrorBound } from "./quantize.ts";

const randomUpdate = (rng: Rng, length: number, spread: number) => Float32Array.from({ length }, () => spread * rng.normal());

describe("fixed-point quantization into Z_2^32", () => {
  it("given the bound for n clients, when it is derived, then n values at full magnitude stay below 2^31", () => {
    const q = quantizationFor({ clip: 0.5, maxClients: 1000 });
    expect(q.maxMagnitude).toBe(Math.floor((2 ** 31 - 1) / 1000));
    expect(q.maxMagnitude * 1000).toBeLessThanOrEqual(2 ** 31 - 1);
    expect(q.scale * q.clip).toBeCloseTo(q.maxMagnitude, 6);
  });

  it("given 10 float updates, when their quantized values are summed mod 2^32 and decoded, then the float sum comes back within n/(2·scale)", () => {
    const rng = new Rng(11);
    const n = 10;
    const q = quantizationFor({ clip: 2, maxClients: n });
    const updates = Array.from({ length: n }, () => randomUpdate(rng, 500, 0.5));
    const sum = new Uint32Array(500);
    for (const u of updates) addInto(sum, quantize(u, q));
    const decoded = dequantizeSum(sum, q);
    const bound = sumErrorBound(q, n);
    for (let i = 0; i < 500; i++) {
      const exact = updates.reduce((acc, u) => acc + Math.max(-2, Math.min(2, u[i]!)), 0);
      // float32 output rounding: half an ulp of a value below n·clip.
      expect(Math.abs(decoded[i]! - exact)).toBeLessThanOrEqual(bound + Math.abs(exact) * 2 ** -24 + 1e-12);
    }
  });

  it("given maxClients values all at +clip or all at -clip, when summed, then the sum does not wrap", () => {
    const n = 37;
    const q = quantizationFor({ clip: 1, maxClients: n });
    for (const value of [1, -1, 5, -5]) {
      const sum = new Uint32Array(1);
      for (let i = 0; i < n; i++) addInto(sum, quantize(Float32Array.of(value), q));
      const decoded = dequantizeSum(sum, q)[0]!;
      expect(Math.sign(decoded)).toBe(Math.sign(value));
      expect(Math.abs(decoded - n * Math.sign(value))).toBeLessThanOrEqual(sumErrorBound(q, n) + n * 2 ** -23);
    }
  });

  it("given a value beyond the clip, when quantized, then it is clamped to ±clip", () => {
    const q = quantizationFor({ clip: 0.25, maxClients: 4 });
    const out = quantize(Float32Array.of(3, -3, 0.25, -0.25, 0), q);
    expect(Array.from(out, (v) => v | 0)).toEqual([q.maxMagnitude, -q.maxMagnitude, q.maxMagnitude, -q.maxMagnitude, 0]);
  });

  it("given a negative value, when quantized, then it is stored as its two's complement mod 2^32", () => {
    const q = quantizationFor({ clip: 1, maxClients: 2 ** 20 });
    const out = quantize(Float32Array.of(-1 / q.scale * 3), q);
    expect(out[0]).toBe(2 ** 32 - 3);
  });

  it("given NaN or Infinity, when quantized, then a QuantizationError says which coordinate", () => {
    const q = quantizationFor({ clip: 1, maxClients: 2 });
    expect(() => quantize(Float32Array.of(0, Number.NaN), q)).toThrow(/update\[1\]/u);
    expect(() => quantize(Float32Array.of(Number.POSITIVE_INFINITY), q)).toThrow(QuantizationError);
  });

  it("given a non-positive clip or client count, when a quantization is derived, then it is refused", () => {
    expect(() => quantizationFor({ clip: 0, maxClients: 2 })).toThrow(QuantizationError);
    expect(() => quantizationFor({ clip: 1, maxClients: 0 })).toThrow(QuantizationError);
  });
});
