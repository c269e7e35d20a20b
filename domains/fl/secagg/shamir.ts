import { randomBytes } from "node:crypto";
import * as Schema from "effect/Schema";

/**
 * Shamir t-of-n secret sharing over GF(p), p = 2^255 − 19.
 *
 * Why this field: it is the field X25519 itself is defined over, and a clamped X25519 private
 * key (bit 254 set, bits 0–2 and 255 clear) is below 2^255, so the mask private key and the
 * 32-byte self-mask seed are each ONE field element (both are generated below p by rejection,
 * which rejects with probability about 2^-251). One polynomial per secret instead of 32 byte-wise
 * GF(256) polynomials, and no 255-shareholder ceiling that GF(256) has. BigInt arithmetic on
 * 255-bit numbers costs microseconds, and shares are few (n per secret).
 *
 * Elements travel as 32 bytes, little-endian, like X25519 scalars. Share x-coordinates are the
 * holders' positions 1..n; 0 is the secret.
 */

export const FIELD_PRIME = (1n << 255n) - 19n;
export const FIELD_ELEMENT_BYTES = 32;

/** One share: the sharing polynomial evaluated at `x` (1..n). */
export interface Share {
  readonly x: number;
  readonly y: bigint;
}

/** Bad input to sharing or reconstruction: a caller's bug, thrown. */
export class SecretSharingInputError extends Schema.TaggedError<SecretSharingInputError>()("SecretSharingInputError", {
  reason: Schema.Literals(["not-a-field-element", "bad-threshold", "bad-x", "duplicate-x", "no-shares"]),
  message: Schema.String,
}) {}

const fail = (reason: SecretSharingInputError["reason"], message: string): never => {
  throw new SecretSharingInputError({ reason, message });
};

const mod = (a: bigint): bigint => {
  const r = a % FIELD_PRIME;
  return r < 0n ? r + FIELD_PRIME : r;
};

/** Multiplicative inverse by the extended Euclidean algorithm (p is prime); a must not be 0 mod p. */
const inverse = (a: bigint): bigint => {
  let [r0, r1] = [mod(a), FIELD_PRIME];
  let [s0, s1] = [1n, 0n];
  while (r1 !== 0n) {
    const q = r0 / r1;
    [r0, r1] = [r1, r0 - q * r1];
    [s0, s1] = [s1, s0 - q * s1];
  }
  return mod(s0);
};

/** The little-endian integer in `bytes` (any length). */
const littleEndian = (bytes: Uint8Array): bigint => {
  let value = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) value = (value << 8n) | BigInt(bytes[i]!);
  return value;
};

/** True when `bytes` are 32 bytes whose little-endian value is below p. */
export const isFieldElement = (bytes: Uint8Array): boolean => bytes.length === FIELD_ELEMENT_BYTES && littleEndian(bytes) < FIELD_PRIME;

export const fieldFromBytes = (bytes: Uint8Array): bigint => {
  if (bytes.length !== FIELD_ELEMENT_BYTES) fail("not-a-field-element", `a field element is ${FIELD_ELEMENT_BYTES} bytes, got ${bytes.length}`);
  const value = littleEndian(bytes);
  if (value >= FIELD_PRIME) fail("not-a-field-element", "value is not below 2^255 - 19");
  return value;
};

export const fieldToBytes = (value: bigint): Uint8Array => {
  if (value < 0n || value >= FIELD_PRIME) fail("not-a-field-element", "value is not in [0, 2^255 - 19)");
  const bytes = new Uint8Array(FIELD_ELEMENT_BYTES);
  let v = value;
  for (let i = 0; i < FIELD_ELEMENT_BYTES; i++) {
    bytes[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return bytes;
};

/** A uniform field element from the operating system's CSPRNG (top bit cleared, values >= p rejected). */
export const randomFieldElement = (): bigint => {
  for (;;) {
    const bytes = randomBytes(FIELD_ELEMENT_BYTES);
    bytes[31]! &= 0x7f;
    const value = littleEndian(bytes);
    if (value < FIELD_PRIME) return value;
  }
};

const checkXs = (xs: readonly number[]): void => {
  const seen = new Set<number>();
  for (const x of xs) {
    if (!Number.isSafeInteger(x) || x < 1) fail("bad-x", `share x must be an integer >= 1, got ${x}`);
    if (seen.has(x)) fail("duplicate-x", `share x ${x} appears twice`);
    seen.add(x);
  }
};

/**
 * Splits `secret` into one share per x in `xs` such that any `threshold` of them give the secret
 * back and fewer give no information about it: a random polynomial of degree threshold − 1 with
 * constant term `secret`, evaluated at each x.
 * @param random coefficient source, the CSPRNG unless a test fixes it.
 */
export const splitSecret = (
  secret: bigint,
  threshold: number,
  xs: readonly number[],
  random: () => bigint = randomFieldElement,
): Share[] => {
  if (secret < 0n || secret >= FIELD_PRIME) fail("not-a-field-element", "secret is not in [0, 2^255 - 19)");
  if (!Number.isSafeInteger(threshold) || threshold < 1 || threshold > xs.length)
    fail("bad-threshold", `threshold must be in 1..${xs.length} (the number of shares), got ${threshold}`);
  checkXs(xs);
  const coefficients = [secret];
  for (let i = 1; i < threshold; i++) coefficients.push(mod(random()));
  return xs.map((x) => {
    // Horner's rule from the highest coefficient down.
    const bx = BigInt(x);
    let y = 0n;
    for (let i = coefficients.length - 1; i >= 0; i--) y = (y * bx + coefficients[i]!) % FIELD_PRIME;
    return { x, y };
  });
};

/**
 * The Lagrange coefficients λ_i at 0 for the points `xs`: the polynomial of degree < xs.length
 * through (x_i, y_i) has constant term Σ λ_i·y_i. They depend only on the x's, so one set serves
 * every secret reconstructed from the same shareholders.
 */
export const lagrangeAtZero = (xs: readonly number[]): bigint[] => {
  if (xs.length === 0) fail("no-shares", "need at least one share");
  checkXs(xs);
  return xs.map((xi) => {
    let numerator = 1n;
    let denominator = 1n;
    for (const xj of xs) {
      if (xj === xi) continue;
      numerator = (numerator * BigInt(xj)) % FIELD_PRIME;
      denominator = mod(denominator * BigInt(xj - xi));
    }
    return (numerator * inverse(denominator)) % FIELD_PRIME;
  });
};

/** Σ λ_i·y_i for coefficients from `lagrangeAtZero` over the same x's, in the same order. */
export const interpolateAtZero = (coefficients: readonly bigint[], ys: readonly bigint[]): bigint => {
  if (coefficients.length !== ys.length) throw new RangeError(`${coefficients.length} coefficients for ${ys.length} shares`);
  let secret = 0n;
  for (let i = 0; i < ys.length; i++) secret = (secret + coefficients[i]! * mod(ys[i]!)) % FIELD_PRIME;
  return secret;
};

/**
 * The constant term of the polynomial through `shares` (Lagrange interpolation at 0). Given at
 * least the threshold number of honest shares it is the secret; given fewer it is a value that
 * carries no information about the secret. Uses every share given.
 */
export const combineShares = (shares: readonly Share[]): bigint =>
  interpolateAtZero(
    lagrangeAtZero(shares.map((s) => s.x)),
    shares.map((s) => s.y),
  );
