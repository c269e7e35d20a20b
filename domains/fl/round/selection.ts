import type { Rng } from "../../kernel/index.ts";

/**
 * How many of `population` clients a round selects: a fraction C of them (McMahan et al.'s
 * C), at least `minimum`, at most all of them.
 */
export const selectionSize = (population: number, fraction: number, minimum = 1): number => {
  if (!(fraction > 0 && fraction <= 1)) throw new RangeError(`fraction C must be in (0, 1], got ${fraction}`);
  return Math.min(population, Math.max(minimum, 1, Math.round(fraction * population)));
};

/**
 * Draws `count` distinct clients uniformly from `population` (partial Fisher–Yates over the
 * sorted ids, so the draw depends on the seed and the set of ids, not on their order). Sorted.
 */
export const selectClients = (population: readonly string[], count: number, rng: Rng): string[] => {
  const pool = [...population].sort();
  const k = Math.min(count, pool.length);
  for (let i = 0; i < k; i++) {
    const j = i + rng.int(pool.length - i);
    [pool[i], pool[j]] = [pool[j]!, pool[i]!];
  }
  return pool.slice(0, k).sort();
};
