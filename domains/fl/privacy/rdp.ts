import * as Schema from "effect/Schema";
import { logAdd, logErfc, logSub } from "./log-math.ts";

/**
 * Rényi differential privacy of the Poisson-subsampled Gaussian mechanism (each round, each
 * client takes part independently with probability q; the sum of clipped updates gets Gaussian
 * noise of stddev z·C), and its conversion to (ε, δ).
 *
 * It computes what Opacus's `RDPAccountant` computes (opacus/accountants/rdp.py and
 * opacus/accountants/analysis/rdp.py), so that the two agree to 1e-6 in ε:
 * - the same orders (`DEFAULT_ORDERS`);
 * - log A_α from Mironov, Talwar and Zhang, "Rényi Differential Privacy of the Sampled Gaussian
 *   Mechanism" (2019), section 3.3: a finite binomial sum for integer α, and for fractional α
 *   the two signed series over the halves of the line cut at z₀ = σ² log(1/q − 1) + ½, stopped
 *   once both new terms fall below e^−30;
 * - the conversion of Balle et al., "Hypothesis Testing Interpretations and Rényi Differential
 *   Privacy" (2020), Theorem 21: ε = min over α of rdp(α) − (log δ + log α)/(α − 1) + log((α − 1)/α),
 *   with NaN orders skipped, and ε = ∞ when every order is NaN.
 * The reference values it is tested against, and how each was obtained, are in rdp-reference.ts.
 */

/** Opacus's default orders: 1.1, 1.2, …, 10.9, then 12, 13, …, 63. */
export const DEFAULT_ORDERS: readonly number[] = Object.freeze([
  ...Array.from({ length: 99 }, (_, x) => 1 + (x + 1) / 10),
  ...Array.from({ length: 52 }, (_, x) => 12 + x),
]);

/** Parameters no privacy analysis accepts (negative noise, a sampling rate outside [0, 1], …). */
export class PrivacyParameterError extends Schema.TaggedError<PrivacyParameterError>()("PrivacyParameterError", {
  message: Schema.String,
}) {}

/** The fractional-order series must stop well before this; reaching it means the inputs are extreme. */
const MAX_SERIES_TERMS = 100_000;

/** log |C(α, i)| and its sign, for real α and i = 0, 1, 2, … in turn (C(α, i+1) = C(α, i)·(α − i)/(i + 1)). */
class BinomialRow {
  logAbs = 0;
  sign = 1;
  private i = 0;
  constructor(private readonly alpha: number) {}
  /** Advances from C(α, i) to C(α, i + 1). */
  next(): void {
    const factor = this.alpha - this.i;
    this.i++;
    if (factor < 0) this.sign = -this.sign;
    this.logAbs += Math.log(Math.abs(factor)) - Math.log(this.i);
  }
}

/** log A_α for integer α ≥ 1: log Σᵢ C(α, i) qⁱ (1 − q)^(α−i) exp((i² − i) / 2σ²). */
const logAForIntegerOrder = (q: number, sigma: number, alpha: number): number => {
  const logQ = Math.log(q);
  // log(1 − q) rather than log1p(−q): the same rounding as Opacus (they differ by ~1e-16).
  const log1mQ = Math.log(1 - q);
  const binomial = new BinomialRow(alpha);
  let logA = -Infinity;
  for (let i = 0; i <= alpha; i++) {
    if (i > 0) binomial.next();
    const term = binomial.logAbs + i * logQ + (alpha - i) * log1mQ + (i * i - i) / (2 * sigma * sigma);
    logA = logAdd(logA, term);
  }
  return logA;
};

/** log A_α for fractional α > 1: the two series of Mironov et al. (2019), section 3.3. */
const logAForFractionalOrder = (q: number, sigma: number, alpha: number): number => {
  const logQ = Math.log(q);
  const log1mQ = Math.log(1 - q);
  const z0 = sigma * sigma * Math.log(1 / q - 1) + 0.5;
  const erfcScale = Math.SQRT2 * sigma;
  const twoSigma2 = 2 * sigma * sigma;
  const binomial = new BinomialRow(alpha);
  let logA0 = -Infinity;
  let logA1 = -Infinity;
  for (let i = 0; i < MAX_SERIES_TERMS; i++) {
    if (i > 0) binomial.next();
    const j = alpha - i;
    const logT0 = binomial.logAbs + i * logQ + j * log1mQ;
    const logT1 = binomial.logAbs + j * logQ + i * log1mQ;
    const logE0 = Math.log(0.5) + logErfc((i - z0) / erfcScale);
    const logE1 = Math.log(0.5) + logErfc((z0 - j) / erfcScale);
    const logS0 = logT0 + (i * i - i) / twoSigma2 + logE0;
    const logS1 = logT1 + (j * j - j) / twoSigma2 + logE1;
    if (binomial.sign > 0) {
      logA0 = logAdd(logA0, logS0);
      logA1 = logAdd(logA1, logS1);
    } else {
      logA0 = logSub(logA0, logS0);
      logA1 = logSub(logA1, logS1);
    }
    if (Math.max(logS0, logS1) < -30) return logAdd(logA0, logA1);
  }
  throw new PrivacyParameterError({ message: `log A did not converge for q=${q}, σ=${sigma}, α=${alpha}` });
};

/** log A_α of the sampled Gaussian mechanism, for 0 < q < 1, σ > 0 and α > 1. */
export const logA = (q: number, sigma: number, alpha: number): number =>
  Number.isInteger(alpha) ? logAForIntegerOrder(q, sigma, alpha) : logAForFractionalOrder(q, sigma, alpha);

const checkMechanism = (noiseMultiplier: number, sampleRate: number): void => {
  if (!(noiseMultiplier >= 0) || !Number.isFinite(noiseMultiplier))
    throw new PrivacyParameterError({ message: `the noise multiplier must be a finite number >= 0, got ${noiseMultiplier}` });
  if (!(sampleRate >= 0 && sampleRate <= 1)) throw new PrivacyParameterError({ message: `the sampling rate must be in [0, 1], got ${sampleRate}` });
};

/**
 * RDP of one step of the sampled Gaussian mechanism at order α (may be Infinity): 0 when nobody
 * is sampled, ∞ without noise, α/2σ² without subsampling, log A_α/(α − 1) otherwise.
 */
export const rdpOfStep = (sampleRate: number, noiseMultiplier: number, order: number): number => {
  checkMechanism(noiseMultiplier, sampleRate);
  if (!(order > 1)) throw new PrivacyParameterError({ message: `an RDP order must be > 1, got ${order}` });
  if (sampleRate === 0) return 0;
  if (noiseMultiplier === 0) return Infinity;
  if (sampleRate === 1) return order / (2 * noiseMultiplier * noiseMultiplier);
  if (order === Infinity) return Infinity;
  return logA(sampleRate, noiseMultiplier, order) / (order - 1);
};

/** RDP of `steps` steps at each order (RDP composes by addition). */
export const rdpOfSteps = (sampleRate: number, noiseMultiplier: number, steps: number, orders: readonly number[] = DEFAULT_ORDERS): Float64Array =>
  Float64Array.from(orders, (order) => rdpOfStep(sampleRate, noiseMultiplier, order) * steps);

/** The (ε, δ) guarantee read off an RDP curve, and the order that gave it. */
export interface PrivacySpent {
  /** Infinity when no order gives a bound. */
  readonly epsilon: number;
  /** The order at which ε is smallest; NaN when no order gives a bound, 0 before any step. */
  readonly bestOrder: number;
}

/**
 * ε for a target δ from RDP values at the given orders (Balle et al. 2020, Theorem 21):
 * min over α of rdp(α) − (log δ + log α)/(α − 1) + log((α − 1)/α). Orders whose ε is NaN are
 * skipped; ties go to the first order, as numpy's nanargmin does.
 */
export const epsilonFromRdp = (orders: readonly number[], rdp: ArrayLike<number>, delta: number): PrivacySpent => {
  if (orders.length !== rdp.length) throw new PrivacyParameterError({ message: `${orders.length} orders but ${rdp.length} RDP values` });
  let epsilon = Number.NaN;
  let bestOrder = Number.NaN;
  for (let k = 0; k < orders.length; k++) {
    const alpha = orders[k]!;
    const candidate = rdp[k]! - (Math.log(delta) + Math.log(alpha)) / (alpha - 1) + Math.log((alpha - 1) / alpha);
    if (Number.isNaN(candidate)) continue;
    if (Number.isNaN(epsilon) || candidate < epsilon) {
      epsilon = candidate;
      bestOrder = alpha;
    }
  }
  return Number.isNaN(epsilon) ? { epsilon: Infinity, bestOrder: Number.NaN } : { epsilon, bestOrder };
};

/** A run of identical steps of the sampled Gaussian mechanism. */
export interface MechanismSteps {
  /** z: noise stddev over the L2 sensitivity (the clip norm). */
  readonly noiseMultiplier: number;
  /** q: the probability that a given client takes part in a step. */
  readonly sampleRate: number;
  /** How many steps ran with these parameters. */
  readonly steps: number;
}

/** A privacy budget: the (ε, δ) a training run must stay within. */
export interface PrivacyBudget {
  readonly epsilon: number;
  readonly delta: number;
}

/** Whether one more round fits the budget, with the ε it would leave spent. */
export type BudgetCheck =
  | { readonly ok: true; readonly epsilonAfter: number; readonly bestOrder: number }
  | { readonly ok: false; readonly refused: string; readonly epsilonAfter: number; readonly bestOrder: number };

/** Appends steps to a history, merging them into the last run when z and q are the same. */
const withSteps = (runs: readonly MechanismSteps[], next: MechanismSteps): MechanismSteps[] => {
  checkMechanism(next.noiseMultiplier, next.sampleRate);
  if (!Number.isSafeInteger(next.steps) || next.steps < 1) throw new PrivacyParameterError({ message: `steps must be a positive integer, got ${next.steps}` });
  const last = runs.at(-1);
  if (last && last.noiseMultiplier === next.noiseMultiplier && last.sampleRate === next.sampleRate)
    return [...runs.slice(0, -1), { ...last, steps: last.steps + next.steps }];
  return [...runs, { noiseMultiplier: next.noiseMultiplier, sampleRate: next.sampleRate, steps: next.steps }];
};

const checkDelta = (delta: number): void => {
  if (!(delta > 0 && delta < 1)) throw new PrivacyParameterError({ message: `δ must be in (0, 1), got ${delta}` });
};

/**
 * The RDP accountant: the history of mechanism steps (runs of identical steps merged, as
 * Opacus's `RDPAccountant.step` does) and ε at any δ. Rebuild it from events with
 * `new RdpAccountant({ history })`.
 */
export class RdpAccountant {
  readonly orders: readonly number[];
  private runs: readonly MechanismSteps[] = [];
  /** Per-step RDP vectors by (z, q): a training run keeps few distinct parameters, so this stays small. */
  private readonly perStep = new Map<string, Float64Array>();

  constructor(options: { readonly orders?: readonly number[]; readonly history?: readonly MechanismSteps[] } = {}) {
    this.orders = Object.freeze([...(options.orders ?? DEFAULT_ORDERS)]);
    for (const order of this.orders) if (!(order > 1)) throw new PrivacyParameterError({ message: `an RDP order must be > 1, got ${order}` });
    for (const run of options.history ?? []) this.runs = withSteps(this.runs, run);
  }

  /** The steps so far, consecutive identical ones merged. */
  get history(): readonly MechanismSteps[] {
    return this.runs;
  }

  /** Records `steps` steps with noise multiplier z and sampling rate q. */
  step(noiseMultiplier: number, sampleRate: number, steps = 1): void {
    this.runs = withSteps(this.runs, { noiseMultiplier, sampleRate, steps });
  }

  /** The RDP spent so far at each of `orders`. */
  rdp(): Float64Array {
    return this.rdpOf(this.runs);
  }

  /** ε spent so far at δ; ε = 0 (order 0) before any step, as Opacus. */
  epsilon(delta: number): PrivacySpent {
    checkDelta(delta);
    if (this.runs.length === 0) return { epsilon: 0, bestOrder: 0 };
    return epsilonFromRdp(this.orders, this.rdp(), delta);
  }

  /**
   * Whether a round with these parameters may start: the ε it would leave spent (computed as
   * if it had run) must not exceed the budget's ε at the budget's δ. Records nothing.
   */
  canRun(next: { readonly noiseMultiplier: number; readonly sampleRate: number; readonly steps?: number }, budget: PrivacyBudget): BudgetCheck {
    checkDelta(budget.delta);
    if (!(budget.epsilon >= 0)) throw new PrivacyParameterError({ message: `the budget's ε must be >= 0, got ${budget.epsilon}` });
    const runs = withSteps(this.runs, { noiseMultiplier: next.noiseMultiplier, sampleRate: next.sampleRate, steps: next.steps ?? 1 });
    const after = epsilonFromRdp(this.orders, this.rdpOf(runs), budget.delta);
    if (after.epsilon <= budget.epsilon) return { ok: true, epsilonAfter: after.epsilon, bestOrder: after.bestOrder };
    return {
      ok: false,
      refused: `the round would bring ε to ${after.epsilon} at δ=${budget.delta}, over the budget ε=${budget.epsilon}`,
      epsilonAfter: after.epsilon,
      bestOrder: after.bestOrder,
    };
  }

  private rdpOf(runs: readonly MechanismSteps[]): Float64Array {
    const total = new Float64Array(this.orders.length);
    for (const run of runs) {
      const key = `${run.noiseMultiplier}/${run.sampleRate}`;
      let one = this.perStep.get(key);
      if (!one) {
        one = rdpOfSteps(run.sampleRate, run.noiseMultiplier, 1, this.orders);
        this.perStep.set(key, one);
      }
      for (let k = 0; k < total.length; k++) total[k] = total[k]! + one[k]! * run.steps;
    }
    return total;
  }
}
