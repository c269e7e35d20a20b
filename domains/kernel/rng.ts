/**
 * The one seedable random source (twin, chaos, federated learning): sfc32 (Small Fast Counter, 128-bit state), seeded through
 * splitmix32. Deterministic for a given seed on every platform, because it uses only 32-bit
 * integer arithmetic. Not for keys or secrets: node keys are derived with SHA-256 (see twin.ts).
 */

/** splitmix32: spreads a weak seed (0, 1, 2 …) over the whole state space. */
const splitmix32 = (state: number): [next: number, output: number] => {
  const next = (state + 0x9e3779b9) | 0;
  let z = next;
  z = Math.imul(z ^ (z >>> 16), 0x21f0aaad);
  z = Math.imul(z ^ (z >>> 15), 0x735a2d97);
  return [next, (z ^ (z >>> 15)) >>> 0];
};

/** Folds any number of integers (seed, node index, link index …) into one 32-bit stream seed. */
export const mixSeed = (...parts: readonly number[]): number => {
  let h = 0x811c9dc5;
  for (const part of parts) {
    // Split into two 32-bit halves so seeds above 2^32 (e.g. Date.now()) still count in full.
    const lo = part >>> 0;
    const hi = Math.floor(part / 0x1_0000_0000) >>> 0;
    for (const word of [lo, hi]) {
      h = Math.imul(h ^ word, 0x01000193);
      h = splitmix32(h)[1];
    }
  }
  return h >>> 0;
};

export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;
  private spareNormal: number | undefined;

  /** @param seed any integer; parts after the first derive an independent stream (see `mixSeed`). */
  constructor(seed: number, ...stream: readonly number[]) {
    let s = mixSeed(seed, ...stream);
    const words: number[] = [];
    for (let i = 0; i < 4; i++) {
      const [next, out] = splitmix32(s);
      s = next;
      words.push(out);
    }
    [this.a, this.b, this.c, this.d] = words as [number, number, number, number];
    // Discard the first outputs: sfc32's state needs a few rounds to mix fully.
    for (let i = 0; i < 12; i++) this.next();
  }

  /** Next unsigned 32-bit integer. */
  next(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** Uniform in [0, 1), 32 bits of resolution. */
  float(): number {
    return this.next() / 0x1_0000_0000;
  }

  /** Uniform integer in [0, n); n must be a positive integer up to 2^32. */
  int(n: number): number {
    if (!Number.isInteger(n) || n <= 0 || n > 0x1_0000_0000) throw new RangeError(`int(n) needs 1 <= n <= 2^32, got ${n}`);
    // Rejection sampling keeps the result unbiased for n that do not divide 2^32.
    const limit = 0x1_0000_0000 - (0x1_0000_0000 % n);
    let x = this.next();
    while (x >= limit) x = this.next();
    return x % n;
  }

  /** Uniform in [min, max). */
  range(min: number, max: number): number {
    return min + (max - min) * this.float();
  }

  /** Standard normal N(0, 1) by the Box–Muller transform (the second value is kept for the next call). */
  normal(): number {
    if (this.spareNormal !== undefined) {
      const spare = this.spareNormal;
      this.spareNormal = undefined;
      return spare;
    }
    let u = this.float();
    while (u === 0) u = this.float();
    const v = this.float();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spareNormal = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }

  /** Picks one element uniformly. */
  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new RangeError("pick from an empty list");
    return items[this.int(items.length)]!;
  }
}
