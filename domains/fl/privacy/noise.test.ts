import { describe, expect, it } from "vitest";
import { addGaussianNoise, cryptoRandomSource, seededRandomSource, type RandomSource } from "./noise.ts";

const moments = (values: ArrayLike<number>) => {
  let mean = 0;
  for (let i = 0; i < values.length; i++) mean += values[i]!;
  mean /= values.length;
  let variance = 0;
  let withinOneSd = 0;
  for (let i = 0; i < values.length; i++) variance += (values[i]! - mean) ** 2;
  const sd = Math.sqrt(variance / (values.length - 1));
  for (let i = 0; i < values.length; i++) if (Math.abs(values[i]! - mean) <= sd) withinOneSd++;
  return { mean, sd, withinOneSd: withinOneSd / values.length };
};

describe("addGaussianNoise", () => {
  it("given a seeded source, adds noise with the requested stddev and mean 0", () => {
    const base = new Float32Array(200_000).fill(5);
    const noisy = addGaussianNoise(base, 3, seededRandomSource(42));
    const noise = noisy.map((x) => x - 5);
    const m = moments(noise);
    // For n = 200,000 the standard error of the mean is 3/√n ≈ 0.007 and of the sd ≈ 0.005.
    expect(Math.abs(m.mean)).toBeLessThan(0.05);
    expect(Math.abs(m.sd - 3)).toBeLessThan(0.05);
    // A Gaussian puts 68.27 % of its mass within one sd of the mean.
    expect(Math.abs(m.withinOneSd - 0.6827)).toBeLessThan(0.01);
  });

  it("does not modify its input and replays exactly from the same seed", () => {
    const base = Float32Array.of(1, 2, 3, 4);
    const a = addGaussianNoise(base, 1, seededRandomSource(7));
    const b = addGaussianNoise(base, 1, seededRandomSource(7));
    expect(Array.from(base)).toEqual([1, 2, 3, 4]);
    expect(a).toEqual(b);
    expect(a).not.toEqual(addGaussianNoise(base, 1, seededRandomSource(8)));
  });

  it("refuses a negative stddev", () => {
    expect(() => addGaussianNoise(new Float32Array(1), -1, seededRandomSource(1))).toThrow(RangeError);
  });
});

describe("cryptoRandomSource", () => {
  const sample = (source: RandomSource, n: number, draw: (s: RandomSource) => number) => Array.from({ length: n }, () => draw(source));

  it("gives uniforms in [0, 1) with mean 1/2", () => {
    const u = sample(cryptoRandomSource(), 100_000, (s) => s.float());
    expect(u.every((x) => x >= 0 && x < 1)).toBe(true);
    expect(Math.abs(moments(u).mean - 0.5)).toBeLessThan(0.01);
  });

  it("gives standard normals", () => {
    const m = moments(sample(cryptoRandomSource(), 100_000, (s) => s.normal()));
    expect(Math.abs(m.mean)).toBeLessThan(0.02);
    expect(Math.abs(m.sd - 1)).toBeLessThan(0.02);
    expect(Math.abs(m.withinOneSd - 0.6827)).toBeLessThan(0.01);
  });

  it("is not reproducible: two sources draw different streams", () => {
    expect(sample(cryptoRandomSource(), 4, (s) => s.float())).not.toEqual(sample(cryptoRandomSource(), 4, (s) => s.float()));
  });
});
