import { allFinite, gatherBlock, gatherBlockSize, maxOfRange, selectInPlace, sortInPlace, weightedSum } from "./kernels.ts";

/**
 * Aggregators that treat each parameter on its own: the median, the trimmed mean (Yin et al.
 * 2018) and the last stage of Bulyan. Each block of coordinates is transposed into one scratch
 * array, so a coordinate's n values sit side by side and are selected in place: no allocation
 * per coordinate. `vectors` are of equal length, sorted by client id. Values are checked for
 * NaN/Inf as they are gathered: on the first one the aggregator returns undefined (the caller
 * then scans, rejects and runs again), since no order exists with a NaN in it.
 */

/**
 * Per coordinate, the median of the n values: the middle one, or the mean of the two middle ones
 * when n is even.
 */
export const coordinateMedian = (vectors: readonly Float32Array[], length: number): Float32Array | undefined => {
  const n = vectors.length;
  const out = new Float32Array(length);
  const block = gatherBlockSize(n);
  const scratch = new Float32Array(block * n);
  const upper = n >> 1;
  const even = n % 2 === 0;
  for (let start = 0; start < length; start += block) {
    const count = Math.min(block, length - start);
    if (!gatherBlock(vectors, start, count, scratch)) return undefined;
    for (let k = 0, lo = 0; k < count; k++, lo += n) {
      selectInPlace(scratch, lo, lo + n, lo + upper);
      // After the selection the `upper` values before it are the smallest: their largest is the lower middle.
      out[start + k] = even ? (scratch[lo + upper]! + maxOfRange(scratch, lo, lo + upper)) / 2 : scratch[lo + upper]!;
    }
  }
  return out;
};

/** How many values a trimmed mean drops at each end: ⌊β·n⌋, but always leaving at least one. */
export const trimmedCount = (n: number, beta: number): number => Math.min(Math.floor(beta * n), Math.floor((n - 1) / 2));

/**
 * Per coordinate, the mean of the values left after dropping the t = ⌊β·n⌋ smallest and the t
 * largest (t capped so one value remains; β = 0 is the plain mean).
 */
export const coordinateTrimmedMean = (vectors: readonly Float32Array[], length: number, beta: number): Float32Array | undefined => {
  const n = vectors.length;
  const t = trimmedCount(n, beta);
  const out = new Float32Array(length);
  const kept = n - 2 * t;
  if (t === 0) {
    const sum = weightedSum(vectors, new Array<number>(n).fill(1), length);
    if (!allFinite(sum)) return undefined;
    for (let k = 0; k < length; k++) out[k] = sum[k]! / n;
    return out;
  }
  const block = gatherBlockSize(n);
  const scratch = new Float32Array(block * n);
  for (let start = 0; start < length; start += block) {
    const count = Math.min(block, length - start);
    if (!gatherBlock(vectors, start, count, scratch)) return undefined;
    for (let k = 0, lo = 0; k < count; k++, lo += n) {
      // Rank t into place, then rank n-1-t among what lies after it: [lo+t, lo+n-t) holds the kept ranks.
      selectInPlace(scratch, lo, lo + n, lo + t);
      if (n - 1 - t > t) selectInPlace(scratch, lo + t + 1, lo + n, lo + n - 1 - t);
      let sum = 0;
      for (let i = lo + t; i < lo + n - t; i++) sum += scratch[i]!;
      out[start + k] = sum / kept;
    }
  }
  return out;
};

/**
 * Bulyan's coordinate stage (El Mhamdi et al. 2018): per coordinate, the mean of the `beta`
 * values closest to the median of the n values. Sorted, those values are a run around the
 * middle; it is grown one value at a time toward the closer side (the lower on a tie).
 */
export const coordinateClosestToMedian = (vectors: readonly Float32Array[], length: number, beta: number): Float32Array | undefined => {
  const n = vectors.length;
  const out = new Float32Array(length);
  const block = gatherBlockSize(n);
  const scratch = new Float32Array(block * n);
  const lowerMiddle = (n - 1) >> 1;
  const even = n % 2 === 0;
  for (let start = 0; start < length; start += block) {
    const count = Math.min(block, length - start);
    if (!gatherBlock(vectors, start, count, scratch)) return undefined;
    for (let k = 0, lo = 0; k < count; k++, lo += n) {
      sortInPlace(scratch, lo, lo + n);
      const median = even ? (scratch[lo + lowerMiddle]! + scratch[lo + lowerMiddle + 1]!) / 2 : scratch[lo + lowerMiddle]!;
      // The run is (below, above): below steps down, above steps up.
      let below = lo + lowerMiddle;
      let above = below + 1;
      for (let taken = 0; taken < beta; taken++) {
        if (above >= lo + n || (below >= lo && median - scratch[below]! <= scratch[above]! - median)) below--;
        else above++;
      }
      let sum = 0;
      for (let i = below + 1; i < above; i++) sum += scratch[i]!;
      out[start + k] = sum / beta;
    }
  }
  return out;
};
