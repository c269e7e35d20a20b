/**
 * Arithmetic in log space for the RDP accountant: the terms of A_α span hundreds of orders of
 * magnitude (exp((i² − i) / 2σ²) overflows a double for σ = 0.1 and i = 40), so they are summed
 * as logarithms. JavaScript has no erfc, so a precise one is here too.
 */

const LOG_SQRT_PI = 0.5 * Math.log(Math.PI);
const TWO_OVER_SQRT_PI = 2 / Math.sqrt(Math.PI);

/** log(e^a + e^b) without overflow; −Infinity stands for 0. */
export const logAdd = (a: number, b: number): number => {
  const low = Math.min(a, b);
  const high = Math.max(a, b);
  if (low === -Infinity) return high;
  return Math.log1p(Math.exp(low - high)) + high;
};

/** log(e^a − e^b) for a ≥ b; −Infinity stands for 0. Throws RangeError when a < b (a negative result). */
export const logSub = (a: number, b: number): number => {
  if (a < b) throw new RangeError(`logSub: the difference would be negative (log ${a} − log ${b})`);
  if (b === -Infinity) return a;
  if (a === b) return -Infinity;
  const scale = Math.expm1(a - b);
  // e^(a−b) beyond the double range: e^b is negligible beside e^a.
  if (!Number.isFinite(scale)) return a;
  return Math.log(scale) + b;
};

/**
 * erf(x) for 0 ≤ x ≤ 1 by the series (2/√π) e^(−x²) Σ 2ⁿ x^(2n+1) / (1·3·…·(2n+1)): every term is
 * positive, so no digits cancel, and the ratio of successive terms 2x²/(2n+1) falls fast.
 */
const erfSeries = (x: number): number => {
  const x2 = x * x;
  let term = x;
  let sum = x;
  for (let n = 1; n < 200; n++) {
    term *= (2 * x2) / (2 * n + 1);
    sum += term;
    if (term < sum * 1e-17) break;
  }
  return TWO_OVER_SQRT_PI * Math.exp(-x2) * sum;
};

/**
 * log(√π e^(x²) erfc(x)) for x ≥ 1 by Laplace's continued fraction
 * 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + …)))), evaluated with the modified Lentz method.
 */
const logScaledErfcFraction = (x: number): number => {
  const tiny = 1e-300;
  let f = tiny;
  let c = f;
  let d = 0;
  for (let k = 1; k < 5000; k++) {
    const a = k === 1 ? 1 : (k - 1) / 2;
    d = x + a * d;
    if (d === 0) d = tiny;
    c = x + a / c;
    if (c === 0) c = tiny;
    d = 1 / d;
    const step = c * d;
    f *= step;
    if (Math.abs(step - 1) < 1e-16) break;
  }
  return Math.log(f);
};

/**
 * Where the series hands over to the continued fraction: below 1, 1 − erf(x) loses under one
 * digit (erfc(1) ≈ 0.157); above 1 the fraction converges within ~200 terms to ~2e-15.
 */
const SERIES_LIMIT = 1;

/** The complementary error function erfc(x) = 1 − erf(x), relative error ~1e-14 over the whole line. */
export const erfc = (x: number): number => {
  if (Number.isNaN(x)) return Number.NaN;
  if (x === Infinity) return 0;
  if (x < 0) return 2 - erfc(-x);
  if (x <= SERIES_LIMIT) return 1 - erfSeries(x);
  return Math.exp(-x * x - LOG_SQRT_PI + logScaledErfcFraction(x));
};

/** log(erfc(x)), precise also far in the right tail where erfc(x) underflows (x > 26). */
export const logErfc = (x: number): number => {
  if (Number.isNaN(x)) return Number.NaN;
  if (x === Infinity) return -Infinity;
  if (x <= SERIES_LIMIT) return Math.log(erfc(x));
  return -x * x - LOG_SQRT_PI + logScaledErfcFraction(x);
};
