import { randomFillSync } from "node:crypto";
import { Rng } from "../../kernel/rng.ts";

/**
 * Where DP noise and client sampling draw their randomness. `Rng` (the seeded sfc32 of
 * domains/kernel) fits this shape and is what tests and simulations pass, so a run replays
 * exactly. Real training must use `cryptoRandomSource()`: noise that anyone holding a seed can
 * regenerate and subtract protects nobody.
 */
export interface RandomSource {
  /** Uniform in [0, 1). */
  float(): number;
  /** Standard normal N(0, 1). */
  normal(): number;
}

/** A seeded source for tests and simulations (deterministic; never for real privacy). */
export const seededRandomSource = (seed: number, ...stream: readonly number[]): RandomSource => new Rng(seed, ...stream);

const POOL_BYTES = 8192;
const TWO_POW_MINUS_53 = 2 ** -53;

/**
 * A source backed by the operating system's CSPRNG (node:crypto): uniforms with 53 random bits,
 * normals by Box–Muller. Known limit: Box–Muller in floating point is not an exact Gaussian, and
 * Mironov (2012) and Jin et al. (2022) show that floating-point noise can leak through the low
 * bits; a discrete Gaussian sampler (Canonne, Kamath and Steinke 2020) closes that gap.
 */
export const cryptoRandomSource = (): RandomSource => {
  const pool = new Uint32Array(POOL_BYTES / 4);
  let next = pool.length;
  let spare: number | undefined;
  const word = (): number => {
    if (next === pool.length) {
      randomFillSync(pool);
      next = 0;
    }
    return pool[next++]!;
  };
  const float = (): number => ((word() >>> 5) * 0x400_0000 + (word() >>> 6)) * TWO_POW_MINUS_53;
  return {
    float,
    normal: () => {
      if (spare !== undefined) {
        const value = spare;
        spare = undefined;
        return value;
      }
      const u = 1 - float(); // (0, 1]: log(u) stays finite
      const v = float();
      const r = Math.sqrt(-2 * Math.log(u));
      spare = r * Math.sin(2 * Math.PI * v);
      return r * Math.cos(2 * Math.PI * v);
    },
  };
};

/** A copy of `values` with independent N(0, stddev²) noise added to every coordinate, in index order. */
export const addGaussianNoise = (values: Float32Array, stddev: number, random: RandomSource): Float32Array => {
  if (!(stddev >= 0) || !Number.isFinite(stddev)) throw new RangeError(`the noise stddev must be a finite number >= 0, got ${stddev}`);
  const noisy = new Float32Array(values.length);
  for (let i = 0; i < values.length; i++) noisy[i] = values[i]! + stddev * random.normal();
  return noisy;
};
