/**
 * Krum and Multi-Krum (Blanchard et al. 2017) and Bulyan's selection stage (El Mhamdi et al.
 * 2018), over the matrix of pairwise squared distances between updates (`pairwiseSquaredDistances`).
 *
 * An update's score is the sum of its squared distances to its m − f − 2 nearest neighbours
 * among the m candidates: an honest update sits among the other honest ones, an outlier far
 * from them. Krum keeps the update of least score; ties go to the earlier (lower client id).
 */

/**
 * Scores of `members` (indices into the n × n matrix `distances`) among themselves, assuming f
 * Byzantine. Krum's n >= 2f + 3 makes m − f − 2 at least 1; Bulyan's later rounds run on fewer
 * candidates, where at least the one nearest neighbour still counts (with none, every score would
 * be 0 and the choice arbitrary).
 */
export const krumScores = (distances: Float64Array, n: number, members: readonly number[], f: number): Float64Array => {
  const m = members.length;
  const neighbours = Math.min(m - 1, Math.max(1, m - f - 2));
  const scores = new Float64Array(m);
  const row = new Float64Array(Math.max(0, m - 1));
  for (let a = 0; a < m; a++) {
    const i = members[a]!;
    let at = 0;
    for (let b = 0; b < m; b++) if (b !== a) row[at++] = distances[i * n + members[b]!]!;
    row.sort();
    let score = 0;
    for (let k = 0; k < neighbours; k++) score += row[k]!;
    scores[a] = score;
  }
  return scores;
};

/** Positions 0..m-1 of `scores`, least score first, ties by position. */
export const rankByScore = (scores: Float64Array): number[] =>
  Array.from({ length: scores.length }, (_, i) => i).sort((a, b) => scores[a]! - scores[b]! || a - b);

/** Krum's choice among all n updates: the index of least score. */
export const krumSelect = (distances: Float64Array, n: number, f: number): number => {
  const all = Array.from({ length: n }, (_, i) => i);
  return rankByScore(krumScores(distances, n, all, f))[0]!;
};

/** Multi-Krum: the `select` indices of least score (scored once, among all n), in index order. */
export const multiKrumSelect = (distances: Float64Array, n: number, f: number, select: number): number[] => {
  const all = Array.from({ length: n }, (_, i) => i);
  return rankByScore(krumScores(distances, n, all, f))
    .slice(0, select)
    .sort((a, b) => a - b);
};

/**
 * Bulyan's selection: θ = n − 2f rounds of Krum, each over the updates not yet chosen (scores
 * recomputed among them), each choosing one. Returns the chosen indices in index order.
 */
export const bulyanSelect = (distances: Float64Array, n: number, f: number): number[] => {
  const theta = n - 2 * f;
  const remaining = Array.from({ length: n }, (_, i) => i);
  const chosen: number[] = [];
  while (chosen.length < theta) {
    const best = rankByScore(krumScores(distances, n, remaining, f))[0]!;
    chosen.push(remaining[best]!);
    remaining.splice(best, 1);
  }
  return chosen.sort((a, b) => a - b);
};
