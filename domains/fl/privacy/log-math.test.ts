import { describe, expect, it } from "vitest";
import { erfc, logAdd, logErfc, logSub } from "./log-math.ts";

// erfc and log erfc at 30 significant digits from mpmath (python3: mpmath.erfc, mpmath.log), rounded to double.
const ERFC_MPMATH: readonly (readonly [number, number])[] = [
  [-3, 1.9999779095030015],
  [-0.5, 1.5204998778130465],
  [0, 1.0],
  [0.5, 0.4795001221869535],
  [1, 0.15729920705028513],
  [1.9, 0.0072095707647425325],
  [2, 0.004677734981047266],
  [3, 2.209049699858544e-5],
  [5, 1.537459794428035e-12],
  [10, 2.088487583762545e-45],
];
const LOG_ERFC_MPMATH: readonly (readonly [number, number])[] = [
  [30, -903.9741171106439],
  [100, -10005.177585122665],
  [1000, -1000007.4801207219],
];

describe("erfc", () => {
  it("matches mpmath to 1e-14 relative from the left tail to the right tail", () => {
    for (const [x, expected] of ERFC_MPMATH) expect(Math.abs(erfc(x) - expected) / expected, `erfc(${x})`).toBeLessThan(1e-14);
  });

  it("keeps log erfc finite and precise where erfc itself underflows", () => {
    for (const [x, expected] of LOG_ERFC_MPMATH) {
      expect(erfc(x)).toBe(0);
      expect(Math.abs(logErfc(x) - expected) / Math.abs(expected), `log erfc(${x})`).toBeLessThan(1e-14);
    }
  });

  it("agrees with log(erfc) across the series / continued-fraction seam at 1", () => {
    for (const x of [0.99, 1, 1.01]) expect(logErfc(x)).toBeCloseTo(Math.log(erfc(x)), 14);
  });

  it("satisfies erfc(x) + erfc(−x) = 2", () => {
    for (const x of [0.1, 0.7, 1.5, 2.5, 4]) expect(erfc(x) + erfc(-x)).toBeCloseTo(2, 15);
  });
});

describe("log-space arithmetic", () => {
  it("adds and subtracts through logarithms", () => {
    expect(logAdd(Math.log(2), Math.log(3))).toBeCloseTo(Math.log(5), 15);
    expect(logSub(Math.log(5), Math.log(3))).toBeCloseTo(Math.log(2), 15);
  });

  it("treats −Infinity as zero", () => {
    expect(logAdd(-Infinity, 1.5)).toBe(1.5);
    expect(logSub(1.5, -Infinity)).toBe(1.5);
    expect(logSub(1.5, 1.5)).toBe(-Infinity);
  });

  it("does not overflow on terms far beyond the double range", () => {
    expect(logAdd(1000, 1000)).toBeCloseTo(1000 + Math.log(2), 12);
    expect(logSub(2000, 1)).toBe(2000);
  });

  it("refuses a subtraction whose result would be negative", () => {
    expect(() => logSub(1, 2)).toThrow(RangeError);
  });
});
