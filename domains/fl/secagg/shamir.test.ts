import { describe, expect, it } from "vitest";
import { Rng } from "../../kernel/index.ts";
import {
  combineShares,
  FIELD_PRIME,
  fieldFromBytes,
  fieldToBytes,
  isFieldElement,
  randomFieldElement,
  SecretSharingInputError,
  splitSecret,
} from "./shamir.ts";

// An independent reference: the prime written out in hex, and polynomials evaluated term by term.
const P = BigInt("0x7fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffed");
const evaluate = (coefficients: readonly bigint[], x: number): bigint =>
  coefficients.reduce((acc, c, k) => (acc + c * BigInt(x) ** BigInt(k)) % P, 0n);

/** Subsets of size k of 0..n-1, in lexicographic order. */
const subsets = (n: number, k: number): number[][] =>
  k === 0 ? [[]] : n < k ? [] : [...subsets(n - 1, k - 1).map((s) => [...s, n - 1]), ...subsets(n - 1, k)];

describe("Shamir sharing over GF(2^255 - 19)", () => {
  it("uses the prime 2^255 - 19", () => {
    expect(FIELD_PRIME).toBe(P);
  });

  it("given fixed coefficients, when a secret is split, then each share is the polynomial at the holder's x", () => {
    const coefficients = [123456789n, P - 5n, 2n ** 200n + 7n];
    const extra = coefficients.slice(1);
    const shares = splitSecret(coefficients[0]!, 3, [1, 2, 3, 4, 5], () => extra.shift()!);
    expect(shares).toEqual([1, 2, 3, 4, 5].map((x) => ({ x, y: evaluate(coefficients, x) })));
  });

  it("given a 3-of-6 sharing, when any 3 shares are combined, then the secret comes back", () => {
    const secret = randomFieldElement();
    const shares = splitSecret(secret, 3, [1, 2, 3, 4, 5, 6]);
    for (const pick of subsets(6, 3)) expect(combineShares(pick.map((i) => shares[i]!))).toBe(secret);
    expect(combineShares(shares)).toBe(secret);
  });

  it("given a 3-of-5 sharing, when only 2 shares are known, then every secret is still possible", () => {
    // For two known shares and ANY candidate secret there is a degree-2 polynomial through all
    // three points, so the shares rule nothing out. Check it for candidates drawn at random.
    const secret = randomFieldElement();
    const known = splitSecret(secret, 3, [1, 2, 3, 4, 5]).slice(0, 2);
    for (let i = 0; i < 5; i++) {
      const candidate = randomFieldElement();
      // The polynomial through (0, candidate) and the two known shares, evaluated at x = 3, is a
      // third share that makes the set combine to the candidate.
      const ys = [candidate, known[0]!.y, known[1]!.y];
      const xs = [0, 1, 2];
      // Lagrange at x = 3 over points xs (computed independently of the module).
      let y3 = 0n;
      for (let a = 0; a < 3; a++) {
        let num = 1n;
        let den = 1n;
        for (let b = 0; b < 3; b++) {
          if (a === b) continue;
          num = (num * BigInt(3 - xs[b]!)) % P;
          den = (den * BigInt(xs[a]! - xs[b]!)) % P;
        }
        den = ((den % P) + P) % P;
        let inv = 1n;
        for (let e = P - 2n, base = den; e > 0n; e >>= 1n, base = (base * base) % P) if (e & 1n) inv = (inv * base) % P;
        y3 = (y3 + ys[a]! * num * inv) % P;
      }
      y3 = ((y3 % P) + P) % P;
      expect(combineShares([...known, { x: 3, y: y3 }])).toBe(candidate);
    }
  });

  it("given a field element, when written as bytes and read back, then it is unchanged and little-endian", () => {
    const rng = new Rng(7);
    for (let i = 0; i < 20; i++) {
      const bytes = new Uint8Array(32).map(() => rng.int(256));
      bytes[31]! &= 0x7f;
      if (!isFieldElement(bytes)) continue;
      const value = fieldFromBytes(bytes);
      expect(fieldToBytes(value)).toEqual(bytes);
      expect(value).toBe(BigInt("0x" + Buffer.from(bytes).reverse().toString("hex")));
    }
  });

  it("given values at or above the prime, when read as field elements, then they are refused", () => {
    const p = fieldToBytes(P - 1n);
    p[0]! += 1; // now exactly P
    expect(isFieldElement(p)).toBe(false);
    expect(() => fieldFromBytes(p)).toThrow(SecretSharingInputError);
    expect(isFieldElement(new Uint8Array(32).fill(0xff))).toBe(false);
    expect(isFieldElement(new Uint8Array(31))).toBe(false);
  });

  it("given bad parameters, when splitting or combining, then a SecretSharingInputError names the problem", () => {
    const reason = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        return (e as SecretSharingInputError).reason;
      }
      return "no error";
    };
    expect(reason(() => splitSecret(1n, 4, [1, 2, 3]))).toBe("bad-threshold");
    expect(reason(() => splitSecret(1n, 2, [0, 1, 2]))).toBe("bad-x");
    expect(reason(() => splitSecret(1n, 2, [1, 2, 2]))).toBe("duplicate-x");
    expect(reason(() => splitSecret(P, 2, [1, 2]))).toBe("not-a-field-element");
    expect(reason(() => combineShares([]))).toBe("no-shares");
  });
});
