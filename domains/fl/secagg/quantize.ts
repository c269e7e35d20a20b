import * as Schema from "effect/Schema";

/**
 * Fixed-point quantization of a float update into Z_{2^32}, the group secure aggregation adds in.
 *
 *   q_i = round(clamp(x_i, −clip, clip) · scale)  ∈ [−K, K],   stored mod 2^32 (two's complement)
 *   K     = floor((2^31 − 1) / maxClients)
 *   scale = K / clip
 *
 * Why this bound: the sum of n ≤ maxClients quantized values lies in [−n·K, n·K] ⊆
 * [−(2^31 − 1), 2^31 − 1], so the sum taken mod 2^32 and read back as a signed 32-bit integer
 * is the exact integer sum — it never wraps. More clients than `maxClients` may wrap; the
 * quantization is fixed before the round, so `maxClients` is the round's client count (or a
 * bound on it).
 *
 * Error: each rounding moves a value by at most 1/(2·scale), so the decoded sum of n updates
 * differs from the sum of their clamped floats by at most n / (2·scale) per coordinate
 * (`sumErrorBound`), plus float32 rounding of the result. Values outside [−clip, clip] are
 * clamped first (that error is the caller's choice of clip). The step 1/scale =
 * clip·maxClients/(2^31 − 1) grows with both: clip 1 and 1,000 clients give a step of 4.7e-7.
 */
export interface Quantization {
  /** Largest magnitude kept; larger values are clamped to ±clip. */
  readonly clip: number;
  /** Most clients whose values may be summed without wrapping. */
  readonly maxClients: number;
  /** Quantization steps per unit: K / clip. */
  readonly scale: number;
  /** Largest magnitude of one quantized value: floor((2^31 − 1) / maxClients). */
  readonly maxMagnitude: number;
}

const INT32_MAX = 0x7fff_ffff;

/** A quantization or update that cannot be used: non-finite values, bad bounds. */
export class QuantizationError extends Schema.TaggedError<QuantizationError>()("QuantizationError", {
  reason: Schema.Literals(["bad-clip", "bad-client-count", "non-finite-value"]),
  message: Schema.String,
}) {}

export const quantizationFor = (options: { readonly clip: number; readonly maxClients: number }): Quantization => {
  const { clip, maxClients } = options;
  if (!Number.isFinite(clip) || clip <= 0) throw new QuantizationError({ reason: "bad-clip", message: `clip must be a finite number > 0, got ${clip}` });
  if (!Number.isSafeInteger(maxClients) || maxClients < 1 || maxClients > INT32_MAX)
    throw new QuantizationError({ reason: "bad-client-count", message: `maxClients must be an integer in 1..2^31-1, got ${maxClients}` });
  const maxMagnitude = Math.floor(INT32_MAX / maxClients);
  return { clip, maxClients, scale: maxMagnitude / clip, maxMagnitude };
};

/** Clamps, scales and rounds each value into Z_{2^32}. Throws `QuantizationError` on NaN or ±Infinity. */
export const quantize = (update: Float32Array, quantization: Quantization): Uint32Array => {
  const { clip, scale, maxMagnitude } = quantization;
  const out = new Uint32Array(update.length);
  for (let i = 0; i < update.length; i++) {
    const x = update[i]!;
    if (!Number.isFinite(x)) throw new QuantizationError({ reason: "non-finite-value", message: `update[${i}] is ${x}` });
    const clamped = x > clip ? clip : x < -clip ? -clip : x;
    // The product can land a hair above K in floating point; the clamp keeps |q| <= K exactly.
    const q = Math.round(clamped * scale);
    out[i] = q > maxMagnitude ? maxMagnitude : q < -maxMagnitude ? -maxMagnitude : q; // Uint32Array stores mod 2^32
  }
  return out;
};

/** Reads each coordinate of a sum mod 2^32 as a signed 32-bit integer and divides by the scale. */
export const dequantizeSum = (sum: Uint32Array, quantization: Quantization): Float32Array => {
  const out = new Float32Array(sum.length);
  for (let i = 0; i < sum.length; i++) out[i] = (sum[i]! | 0) / quantization.scale;
  return out;
};

/** Largest per-coordinate difference between the decoded sum of `clients` updates and the sum of their clamped values (before float32 output rounding). */
export const sumErrorBound = (quantization: Quantization, clients: number): number => clients / (2 * quantization.scale);

/** Adds `b` into `a` coordinate-wise mod 2^32 (in place); returns `a`. */
export const addInto = (a: Uint32Array, b: Uint32Array): Uint32Array => {
  if (a.length !== b.length) throw new RangeError(`vector lengths differ: ${a.length} and ${b.length}`);
  for (let i = 0; i < a.length; i++) a[i] = a[i]! + b[i]!;
  return a;
};
