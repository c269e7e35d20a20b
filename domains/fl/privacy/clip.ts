/** L2 norm, summed in double precision. */
export const l2Norm = (values: ArrayLike<number>): number => {
  let sum = 0;
  for (let i = 0; i < values.length; i++) sum += values[i]! * values[i]!;
  return Math.sqrt(sum);
};

/**
 * A clipped update is rounded to float32 coordinate by coordinate, and each rounding can grow
 * the norm by up to 2^−24 of itself; aiming 2^−22 below C keeps the stored vector's norm ≤ C,
 * which is the sensitivity the noise is calibrated to.
 */
const FLOAT32_MARGIN = 1 - 2 ** -22;

export interface ClippedUpdate {
  /** The update scaled to L2 norm at most C; a copy of it when it was already within C. */
  readonly clipped: Float32Array;
  /** The update's L2 norm before clipping. */
  readonly norm: number;
  readonly wasClipped: boolean;
}

/**
 * Clips a client's model delta (local − global) to L2 norm C, keeping its direction: the update
 * is scaled by min(1, C/‖Δ‖). This bounds one client's influence on the sum, the sensitivity
 * that DP noise is calibrated to.
 */
export const clipUpdate = (delta: Float32Array, clipNorm: number): ClippedUpdate => {
  if (!(clipNorm > 0) || !Number.isFinite(clipNorm)) throw new RangeError(`the clip norm must be a finite number > 0, got ${clipNorm}`);
  const norm = l2Norm(delta);
  if (!Number.isFinite(norm)) throw new RangeError("the update has a coordinate that is not a finite number");
  if (norm <= clipNorm) return { clipped: Float32Array.from(delta), norm, wasClipped: false };
  const scale = (clipNorm / norm) * FLOAT32_MARGIN;
  const clipped = new Float32Array(delta.length);
  for (let i = 0; i < delta.length; i++) clipped[i] = delta[i]! * scale;
  return { clipped, norm, wasClipped: true };
};
