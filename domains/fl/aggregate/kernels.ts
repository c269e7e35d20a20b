/**
 * The loops every aggregator spends its time in, over Float32Array models of up to millions of
 * parameters and up to hundreds of updates. They allocate per call, never per coordinate, and
 * add in a fixed order (the order of `vectors`, which callers sort by client id), so a result is
 * bit-identical on every run and every machine: BFT validators recompute it and compare hashes.
 * Sums are in Float64 (JavaScript numbers); V8 does not fuse a multiply and an add, so each
 * operation rounds exactly as written.
 */

// 4,096 Float64 sums (32 KiB) stay in L1 while every update's slice is added to them.
const SUM_BLOCK = 4096;
// 2,048 parameters of 100 updates (800 KiB) stay in L2 while all pairs are compared over them.
const DISTANCE_BLOCK = 2048;
// Coordinates transposed at a time: about 32 Ki values (128 KiB).
const GATHER_VALUES = 32 * 1024;

/**
 * Σ_i weights[i] · vectors[i], coordinate by coordinate, in Float64. Each coordinate's terms are
 * added in the order of `vectors` (((s + w₀v₀) + w₁v₁) + …), the same as one plain loop per
 * update; the loop runs over blocks of coordinates and four updates at a time so that the sums
 * stay in cache and are loaded and stored a quarter as often.
 */
export const weightedSum = (vectors: readonly Float32Array[], weights: readonly number[], length: number): Float64Array => {
  const sum = new Float64Array(length);
  const n = vectors.length;
  for (let start = 0; start < length; start += SUM_BLOCK) {
    const end = Math.min(length, start + SUM_BLOCK);
    let i = 0;
    for (; i + 3 < n; i += 4) {
      const v0 = vectors[i]!;
      const v1 = vectors[i + 1]!;
      const v2 = vectors[i + 2]!;
      const v3 = vectors[i + 3]!;
      const w0 = weights[i]!;
      const w1 = weights[i + 1]!;
      const w2 = weights[i + 2]!;
      const w3 = weights[i + 3]!;
      for (let k = start; k < end; k++) sum[k] = sum[k]! + w0 * v0[k]! + w1 * v1[k]! + w2 * v2[k]! + w3 * v3[k]!;
    }
    for (; i < n; i++) {
      const v = vectors[i]!;
      const w = weights[i]!;
      for (let k = start; k < end; k++) sum[k] = sum[k]! + w * v[k]!;
    }
  }
  return sum;
};

/** Whether every value is finite (a sum of finite Float32 terms with modest weights always is). */
export const allFinite = (values: Float64Array): boolean => {
  let probe = 0;
  for (let i = 0; i < values.length; i++) probe += values[i]! * 0;
  return probe === 0;
};

/**
 * All pairwise squared Euclidean distances, an n × n Float64Array (row-major, symmetric, zero
 * diagonal). Differences of Float32 values are exact in Float64. Blocked over coordinates, and
 * each update is compared with four others per pass, so every value loaded serves four pairs.
 */
export const pairwiseSquaredDistances = (vectors: readonly Float32Array[], length: number): Float64Array => {
  const n = vectors.length;
  const d = new Float64Array(n * n);
  for (let start = 0; start < length; start += DISTANCE_BLOCK) {
    const end = Math.min(length, start + DISTANCE_BLOCK);
    for (let i = 0; i < n; i++) {
      const a = vectors[i]!;
      const row = i * n;
      let j = i + 1;
      for (; j + 3 < n; j += 4) {
        const b0 = vectors[j]!;
        const b1 = vectors[j + 1]!;
        const b2 = vectors[j + 2]!;
        const b3 = vectors[j + 3]!;
        let s0 = 0;
        let s1 = 0;
        let s2 = 0;
        let s3 = 0;
        for (let k = start; k < end; k++) {
          const x = a[k]!;
          const d0 = x - b0[k]!;
          const d1 = x - b1[k]!;
          const d2 = x - b2[k]!;
          const d3 = x - b3[k]!;
          s0 += d0 * d0;
          s1 += d1 * d1;
          s2 += d2 * d2;
          s3 += d3 * d3;
        }
        d[row + j] = d[row + j]! + s0;
        d[row + j + 1] = d[row + j + 1]! + s1;
        d[row + j + 2] = d[row + j + 2]! + s2;
        d[row + j + 3] = d[row + j + 3]! + s3;
      }
      for (; j < n; j++) {
        const b = vectors[j]!;
        let s = 0;
        for (let k = start; k < end; k++) {
          const dk = a[k]! - b[k]!;
          s += dk * dk;
        }
        d[row + j] = d[row + j]! + s;
      }
    }
  }
  for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) d[j * n + i] = d[i * n + j]!;
  return d;
};

/** How many coordinates `forEachCoordinateBlock` transposes at once for n updates. */
export const gatherBlockSize = (n: number): number => Math.max(1, Math.floor(GATHER_VALUES / Math.max(1, n)));

/**
 * Copies coordinates [start, start + count) of every vector into `scratch`, transposed: the n
 * values of coordinate start + k land at scratch[k·n … k·n + n), in the order of `vectors`.
 * Returns whether every value copied was finite (checked on the way, not in a pass of its own).
 */
export const gatherBlock = (vectors: readonly Float32Array[], start: number, count: number, scratch: Float32Array): boolean => {
  const n = vectors.length;
  let probe = 0;
  for (let i = 0; i < n; i++) {
    const v = vectors[i]!;
    for (let k = 0, at = i; k < count; k++, at += n) {
      const x = v[start + k]!;
      scratch[at] = x;
      probe += x * 0;
    }
  }
  return probe === 0;
};

const medianOf3 = (x: number, y: number, z: number): number => (x < y ? (y < z ? y : x < z ? z : x) : x < z ? x : y < z ? z : y);

/**
 * Quickselect: rearranges a[lo, hi) so that a[k] holds the value of rank k − lo, everything
 * before it is <= a[k] and everything after is >= a[k]. No NaN allowed. The partition is
 * Lomuto's, written without a data-dependent branch (the comparison is added as 0 or 1, `bool | 0`), since
 * on unordered values a branch there is mispredicted half the time. Runs of equal values (a
 * parameter no client changed) end in one extra pass instead of quadratic time.
 */
export const selectInPlace = (a: Float32Array, lo: number, hi: number, k: number): void => {
  let left = lo;
  let right = hi - 1;
  while (right > left) {
    const p = medianOf3(a[left]!, a[(left + right) >>> 1]!, a[right]!);
    let below = left;
    for (let i = left; i <= right; i++) {
      const v = a[i]!;
      a[i] = a[below]!;
      a[below] = v;
      below += ((v < p) as unknown as number) | 0;
    }
    // [left, below) < p <= [below, right]; the pivot itself is in the upper part, so it is never empty.
    if (k < below) {
      right = below - 1;
    } else if (below > left) {
      left = below;
    } else {
      // p is the least value: split off the values equal to it, which cannot all be above k.
      let equal = below;
      for (let i = below; i <= right; i++) {
        const v = a[i]!;
        a[i] = a[equal]!;
        a[equal] = v;
        equal += ((v === p) as unknown as number) | 0;
      }
      if (k < equal) return;
      left = equal;
    }
  }
};

/** The largest of a[lo, hi); hi > lo. */
export const maxOfRange = (a: Float32Array, lo: number, hi: number): number => {
  let m = a[lo]!;
  for (let i = lo + 1; i < hi; i++) if (a[i]! > m) m = a[i]!;
  return m;
};

/** Sorts a[lo, hi) ascending in place (quicksort, insertion sort below 24 values). No NaN allowed. */
export const sortInPlace = (a: Float32Array, lo: number, hi: number): void => {
  let left = lo;
  let right = hi - 1;
  while (right - left >= 24) {
    const p = medianOf3(a[left]!, a[(left + right) >>> 1]!, a[right]!);
    let i = left;
    let j = right;
    while (i <= j) {
      while (a[i]! < p) i++;
      while (a[j]! > p) j--;
      if (i <= j) {
        const t = a[i]!;
        a[i] = a[j]!;
        a[j] = t;
        i++;
        j--;
      }
    }
    // Recurse into the smaller side, loop on the larger: the stack stays O(log n).
    if (j - left < right - i) {
      sortInPlace(a, left, j + 1);
      left = i;
    } else {
      sortInPlace(a, i, right + 1);
      right = j;
    }
  }
  for (let i = left + 1; i <= right; i++) {
    const v = a[i]!;
    let j = i - 1;
    while (j >= left && a[j]! > v) {
      a[j + 1] = a[j]!;
      j--;
    }
    a[j + 1] = v;
  }
};
