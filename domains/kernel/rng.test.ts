import { describe, expect, it } from "vitest";
import { mixSeed, Rng } from "./rng.ts";

const draw = (rng: Rng, n: number) => Array.from({ length: n }, () => rng.next());

describe("Rng", () => {
  it("repeats the same sequence for the same seed", () => {
    expect(draw(new Rng(42), 100)).toEqual(draw(new Rng(42), 100));
    expect(draw(new Rng(42, 7, 3), 100)).toEqual(draw(new Rng(42, 7, 3), 100));
  });

  it("gives different sequences for different seeds and streams", () => {
    expect(draw(new Rng(1), 10)).not.toEqual(draw(new Rng(2), 10));
    expect(draw(new Rng(1, 0), 10)).not.toEqual(draw(new Rng(1, 1), 10));
    // Seeds beyond 32 bits still count in full.
    expect(mixSeed(2 ** 40)).not.toBe(mixSeed(0));
  });

  it("keeps float in [0, 1) and int(n) in [0, n)", () => {
    const rng = new Rng(3);
    const counts = new Array(7).fill(0);
    let outside = 0;
    for (let i = 0; i < 70_000; i++) {
      const f = rng.float();
      if (!(f >= 0 && f < 1)) outside++;
      const k = rng.int(7);
      if (!(Number.isInteger(k) && k >= 0 && k < 7)) outside++;
      else counts[k]++;
    }
    expect(outside).toBe(0);
    // Roughly uniform: each bucket within 5 % of 10 000 (fixed seed, so this never flakes).
    for (const c of counts) expect(Math.abs(c - 10_000)).toBeLessThan(500);
    expect(() => rng.int(0)).toThrow(RangeError);
  });

  it("draws standard normals", () => {
    const rng = new Rng(5);
    const xs = Array.from({ length: 50_000 }, () => rng.normal());
    const mean = xs.reduce((s, x) => s + x, 0) / xs.length;
    const variance = xs.reduce((s, x) => s + (x - mean) ** 2, 0) / xs.length;
    expect(Math.abs(mean)).toBeLessThan(0.02);
    expect(Math.abs(variance - 1)).toBeLessThan(0.03);
    expect(xs.every(Number.isFinite)).toBe(true);
  });
});
