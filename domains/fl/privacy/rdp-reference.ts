/**
 * Reference values for the RDP accountant's tests, none computed by the code under test.
 * Opacus cannot be installed here (no PyPI), so the references are:
 *
 * 1. Values published in the test suites of Opacus, TF Privacy and Google's dp_accounting (read
 *    through the code search; repository and file named at each). TF Privacy and dp_accounting
 *    compute log A_α with the same series as Opacus but convert RDP to (ε, δ) with extra special
 *    cases (ε clamped at 0, a KL-divergence bound for tiny RDP, orders ≤ 1.01 skipped); only
 *    points where those cases do not apply are used for ε. dp_accounting's newer fractional-order
 *    series adds the absolute values of the terms (a looser upper bound), so at α = 1.5 it
 *    publishes 6.70579741e-4 where the signed series of Opacus and TF Privacy, and the exact
 *    integral, give 6.5007e-4 (and 1.0854871e-3 against 1.0854181e-3 at α = 2.5); only its
 *    integer orders, where the two computations coincide, are used.
 * 2. Independent values from the definition: reference/rdp_reference.py integrates
 *    A_α = ∫ μ₀(z) (μ(z)/μ₀(z))^α dz with mpmath (25 digits, error estimate < 1e-15 relative)
 *    for μ₀ = N(0, σ²), μ = (1 − q)N(0, σ²) + qN(1, σ²), then converts with Balle et al.'s
 *    formula over Opacus's default orders. `python3 reference/rdp_reference.py rdp` prints the
 *    per-order values, `… epsilon` the ε values.
 */

/**
 * pytorch/opacus, opacus/tests/accountants_test.py, test_rdp_accountant: 2250 calls of
 * RDPAccountant.step(noise_multiplier=1.5, sample_rate=0.04), get_epsilon(delta=1e-5), checked
 * with assertAlmostEqual(epsilon, 7.32911117143) (7 decimal places).
 */
export const OPACUS_RDP_ACCOUNTANT_TEST = { noiseMultiplier: 1.5, sampleRate: 0.04, steps: 2250, delta: 1e-5, epsilon: 7.32911117143 } as const;

/**
 * tensorflow/privacy, tensorflow_privacy/privacy/analysis/rdp_accountant_test.py,
 * test_get_privacy_spent_check_target_delta, and google/differential-privacy,
 * python/dp_accounting/dp_accounting/rdp/rdp_privacy_accountant_test.py,
 * test_compute_epsilon_delta_pure_dp: a constant RDP of 1.1 at orders 2..32 and δ = 1e-5 give
 * ε = 1.32783806176 at order 32, "computed by hand" with the same formula Opacus uses.
 */
export const CONSTANT_RDP_CONVERSION = {
  orders: Array.from({ length: 31 }, (_, k) => 2 + k),
  rdp: 1.1,
  delta: 1e-5,
  epsilon: 1.32783806176,
  bestOrder: 32,
} as const;

/**
 * Same two files, test_get_privacy_spent_check_target_delta / test_compute_epsilon_delta_gaussian:
 * the Gaussian mechanism without sampling (q = 1, RDP α/2σ²) with σ = 4.530877117, "chosen to
 * obtain exactly (1, 1e-6)-DP" over the orders 0.001·i for i in 1000..99999, gives ε = 1 to 7
 * decimal places. Order 1.0 is left out here: Opacus's formula gives NaN there and skips it.
 */
export const GAUSSIAN_WITHOUT_SAMPLING = {
  noiseMultiplier: 4.530877117,
  delta: 1e-6,
  epsilon: 1,
  orders: Array.from({ length: 99_999 - 1000 }, (_, k) => 0.001 * (1001 + k)),
} as const;

export interface RdpPoint {
  readonly sampleRate: number;
  readonly noiseMultiplier: number;
  readonly steps: number;
  readonly order: number;
  readonly rdp: number;
}

/**
 * tensorflow/privacy, rdp_accountant_test.py: test_compute_rdp_sequence, compute_rdp(0.01, 2.5,
 * 50, orders) checked with assertSequenceAlmostEqual(delta=1e-5), and test_compute_rdp_scalar,
 * compute_rdp(0.1, 2, 10, 5) checked with assertAlmostEqual(places=5), hence tolerance 5e-6.
 */
export const TF_PRIVACY_RDP: readonly (RdpPoint & { readonly tolerance: number })[] = [
  { sampleRate: 0.01, noiseMultiplier: 2.5, steps: 50, order: 1.5, rdp: 0.00065, tolerance: 1e-5 },
  { sampleRate: 0.01, noiseMultiplier: 2.5, steps: 50, order: 2.5, rdp: 0.001085, tolerance: 1e-5 },
  { sampleRate: 0.01, noiseMultiplier: 2.5, steps: 50, order: 5, rdp: 0.00218075, tolerance: 1e-5 },
  { sampleRate: 0.01, noiseMultiplier: 2.5, steps: 50, order: 50, rdp: 0.023846, tolerance: 1e-5 },
  { sampleRate: 0.01, noiseMultiplier: 2.5, steps: 50, order: 100, rdp: 167.416307, tolerance: 1e-5 },
  { sampleRate: 0.1, noiseMultiplier: 2, steps: 10, order: 5, rdp: 0.07737, tolerance: 5e-6 },
];

/**
 * google/differential-privacy, rdp_privacy_accountant_test.py,
 * test_compute_rdp_poisson_sampled_gaussian: the same mechanism printed to 9 significant
 * digits (their test allows 1e-4 relative). The fractional orders 1.5 and 2.5 are left out (see
 * the header).
 */
export const DP_ACCOUNTING_RDP: readonly RdpPoint[] = [
  { sampleRate: 0.01, noiseMultiplier: 2.5, steps: 50, order: 5, rdp: 2.18075656e-3 },
  { sampleRate: 0.01, noiseMultiplier: 2.5, steps: 50, order: 50, rdp: 2.38460375e-2 },
  { sampleRate: 0.01, noiseMultiplier: 2.5, steps: 50, order: 100, rdp: 1.67416308e2 },
];

/** reference/rdp_reference.py rdp: T · log(A_α)/(α − 1) by mpmath integration (17 digits shown). */
export const MPMATH_RDP: readonly RdpPoint[] = [
  { sampleRate: 0.01, noiseMultiplier: 2.5, steps: 50, order: 1.5, rdp: 0.00065007089718803974 },
  { sampleRate: 0.01, noiseMultiplier: 2.5, steps: 50, order: 2.5, rdp: 0.0010854180569181243 },
  { sampleRate: 0.01, noiseMultiplier: 2.5, steps: 50, order: 5, rdp: 0.0021807565623078808 },
  { sampleRate: 0.01, noiseMultiplier: 2.5, steps: 50, order: 50, rdp: 0.023846037538706169 },
  { sampleRate: 0.01, noiseMultiplier: 2.5, steps: 50, order: 100, rdp: 167.41630754841826 },
  { sampleRate: 0.1, noiseMultiplier: 2, steps: 10, order: 5, rdp: 0.077369684897958652 },
];

/**
 * reference/rdp_reference.py rdp: log A_α by mpmath integration at the ten points that TF
 * Privacy's and dp_accounting's test_compute_log_a_equals_mp check against their own mpmath
 * integral (they compute it at test time and publish no numbers).
 */
export const MPMATH_LOG_A: readonly { readonly sampleRate: number; readonly noiseMultiplier: number; readonly order: number; readonly logA: number }[] = [
  { sampleRate: 1e-7, noiseMultiplier: 0.1, order: 1.01, logA: 4.0034123225263251e-8 },
  { sampleRate: 1e-6, noiseMultiplier: 0.1, order: 256, logA: 3260463.2292971608 },
  { sampleRate: 1e-5, noiseMultiplier: 0.1, order: 256.1, logA: 3263607.0397884213 },
  { sampleRate: 1e-6, noiseMultiplier: 1, order: 27, logA: 8.7695113048484978e-10 },
  { sampleRate: 1e-4, noiseMultiplier: 1, order: 1.5, logA: 6.4426869538366497e-9 },
  { sampleRate: 1e-3, noiseMultiplier: 1, order: 2, logA: 1.7182803522145154e-6 },
  { sampleRate: 0.01, noiseMultiplier: 10, order: 20, logA: 0.00019129699912842963 },
  { sampleRate: 0.1, noiseMultiplier: 100, order: 20.5, logA: 0.00019991818458068296 },
  { sampleRate: 0.99, noiseMultiplier: 0.1, order: 256, logA: 3263997.4271140211 },
  { sampleRate: 0.999, noiseMultiplier: 100, order: 256.1, logA: 3.2601080379731127 },
];

/**
 * reference/rdp_reference.py epsilon: ε over Opacus's default orders, from RDP integrated with
 * mpmath, and the order that gave it. The first point is Opacus's own test above (published
 * 7.32911117143; the integral differs from it by 5e-11). The others span typical DP-SGD and
 * DP-FedAvg settings, small noise (where the fractional orders win), an optimum at the largest
 * order (63), and q = 1 (no sampling, closed form α/2σ²).
 */
export const MPMATH_EPSILON: readonly {
  readonly sampleRate: number;
  readonly noiseMultiplier: number;
  readonly steps: number;
  readonly delta: number;
  readonly epsilon: number;
  readonly bestOrder: number;
}[] = [
  { sampleRate: 0.04, noiseMultiplier: 1.5, steps: 2250, delta: 1e-05, epsilon: 7.3291111714841742, bestOrder: 3.9 },
  { sampleRate: 0.01, noiseMultiplier: 1.1, steps: 10000, delta: 1e-05, epsilon: 5.6319923686818018, bestOrder: 4.7 },
  { sampleRate: 0.1, noiseMultiplier: 1.0, steps: 100, delta: 1e-05, epsilon: 7.8992550024380812, bestOrder: 3.2 },
  { sampleRate: 0.05, noiseMultiplier: 0.7, steps: 500, delta: 1e-06, epsilon: 20.316786154089086, bestOrder: 2.2 },
  { sampleRate: 0.001, noiseMultiplier: 4.0, steps: 1000, delta: 1e-05, epsilon: 0.10490702695712639, bestOrder: 63 },
  { sampleRate: 0.5, noiseMultiplier: 2.0, steps: 50, delta: 1e-05, epsilon: 10.277893380849356, bestOrder: 3.1 },
  { sampleRate: 1.0, noiseMultiplier: 5.0, steps: 10, delta: 1e-05, epsilon: 2.8136532471298397, bestOrder: 7.9 },
];
