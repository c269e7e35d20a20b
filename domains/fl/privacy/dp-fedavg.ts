import { clipUpdate } from "./clip.ts";
import type { RandomSource } from "./noise.ts";
import { PrivacyParameterError, type BudgetCheck, type PrivacyBudget, type PrivacySpent, type RdpAccountant } from "./rdp.ts";

/**
 * DP-FedAvg with user-level differential privacy (McMahan, Ramage, Talwar and Zhang, "Learning
 * Differentially Private Recurrent Language Models", ICLR 2018): each round every client takes
 * part independently with probability q; each participant's model delta (local − global) is
 * clipped to L2 norm C; the server adds N(0, (z·C)²) to the sum of the clipped deltas and
 * divides by the expected number of participants qN (a fixed denominator, so one client's
 * presence moves the average by at most C/qN), then applies it with a server learning rate.
 * Every client counts the same: weighting by example counts would raise the sensitivity.
 *
 * Adaptive clipping (Andrew, Thakkar, McMahan and Ramaswamy, "Differentially Private Learning
 * with Adaptive Clipping", NeurIPS 2021) tracks the γ-quantile of the update norms instead of a
 * fixed C: each participant also reports whether its norm was within C; the server counts them
 * with N(0, σ_b²) noise, b̄ = (count + noise)/qN, and moves C ← C·exp(−η_C (b̄ − γ)). The count is
 * a second Gaussian mechanism, so the update noise shrinks to z_Δ = (z⁻² − (2σ_b)⁻²)^(−1/2) to
 * keep the round's total noise multiplier at z, the one the accountant charges.
 *
 * Central DP: the server sees the clipped deltas and who took part. The sampled set must stay
 * secret too, since the accountant's amplification by subsampling assumes nobody learns it.
 */

export interface FixedClipping {
  readonly kind: "fixed";
  /** C, the L2 bound on each client's delta. */
  readonly clipNorm: number;
}

export interface AdaptiveClipping {
  readonly kind: "adaptive";
  /** C₀, the clip norm of the first round. Default 0.1 (Andrew et al.). */
  readonly initialClipNorm?: number;
  /** γ, the fraction of deltas meant to fall within C. Default 0.5 (the median norm). */
  readonly targetQuantile?: number;
  /** η_C, the step of the geometric update of C. Default 0.2. */
  readonly learningRate?: number;
  /** σ_b, the stddev of the noise on the count of unclipped deltas. Default qN/20. */
  readonly countNoiseStddev?: number;
}

export interface DpFedAvgConfig {
  /** z, the noise multiplier of the whole round: the one the accountant charges. */
  readonly noiseMultiplier: number;
  /** q, the probability that a client takes part in a round (Poisson sampling: see `sampleClients`). */
  readonly sampleRate: number;
  /** N, how many clients could take part. */
  readonly population: number;
  readonly clipping: FixedClipping | AdaptiveClipping;
  /** η, the step the server takes along the noisy average delta. Default 1 (plain FedAvg). */
  readonly serverLearningRate?: number;
}

/** The config with every default filled in and every derived quantity computed. */
export interface DpFedAvgParameters {
  readonly noiseMultiplier: number;
  readonly sampleRate: number;
  readonly population: number;
  /** qN, the fixed denominator of the average. */
  readonly expectedClients: number;
  readonly serverLearningRate: number;
  /** The noise multiplier on the deltas' sum: z for fixed clipping, z_Δ for adaptive. */
  readonly updateNoiseMultiplier: number;
  readonly adaptive?: { readonly initialClipNorm: number; readonly targetQuantile: number; readonly learningRate: number; readonly countNoiseStddev: number };
  readonly fixedClipNorm?: number;
}

const positive = (name: string, value: number): number => {
  if (!(value > 0) || !Number.isFinite(value)) throw new PrivacyParameterError({ message: `${name} must be a finite number > 0, got ${value}` });
  return value;
};

/** Checks a config and fills in its defaults. */
export const dpFedAvgParameters = (config: DpFedAvgConfig): DpFedAvgParameters => {
  const noiseMultiplier = positive("the noise multiplier", config.noiseMultiplier);
  const sampleRate = positive("the sampling rate", config.sampleRate);
  if (sampleRate > 1) throw new PrivacyParameterError({ message: `the sampling rate must be <= 1, got ${sampleRate}` });
  const population = config.population;
  if (!Number.isSafeInteger(population) || population < 1) throw new PrivacyParameterError({ message: `the population must be a positive integer, got ${population}` });
  const expectedClients = sampleRate * population;
  const serverLearningRate = positive("the server learning rate", config.serverLearningRate ?? 1);
  const base = { noiseMultiplier, sampleRate, population, expectedClients, serverLearningRate };
  if (config.clipping.kind === "fixed") {
    return { ...base, updateNoiseMultiplier: noiseMultiplier, fixedClipNorm: positive("the clip norm", config.clipping.clipNorm) };
  }
  const clipping = config.clipping;
  const targetQuantile = clipping.targetQuantile ?? 0.5;
  if (!(targetQuantile >= 0 && targetQuantile <= 1)) throw new PrivacyParameterError({ message: `the target quantile must be in [0, 1], got ${targetQuantile}` });
  const countNoiseStddev = positive("the count noise stddev", clipping.countNoiseStddev ?? expectedClients / 20);
  // z⁻² = z_Δ⁻² + (2σ_b)⁻²: the count's share of the privacy must leave some for the deltas.
  const remaining = noiseMultiplier ** -2 - (2 * countNoiseStddev) ** -2;
  if (!(remaining > 0))
    throw new PrivacyParameterError({
      message: `adaptive clipping needs 2σ_b > z (the count's noise alone would use the whole budget): σ_b=${countNoiseStddev}, z=${noiseMultiplier}`,
    });
  return {
    ...base,
    updateNoiseMultiplier: remaining ** -0.5,
    adaptive: {
      initialClipNorm: positive("the initial clip norm", clipping.initialClipNorm ?? 0.1),
      targetQuantile,
      learningRate: positive("the clip learning rate", clipping.learningRate ?? 0.2),
      countNoiseStddev,
    },
  };
};

/** What one round costs in privacy: feed it to `RdpAccountant.canRun` before the round and `step` after. */
export const roundMechanism = (config: DpFedAvgConfig): { readonly noiseMultiplier: number; readonly sampleRate: number } => {
  const { noiseMultiplier, sampleRate } = dpFedAvgParameters(config);
  return { noiseMultiplier, sampleRate };
};

/**
 * Before a round, before sampling or training: may it start within the budget? With adaptive
 * clipping the round is charged z, the combined multiplier of the update and the count.
 */
export const checkRoundBudget = (config: DpFedAvgConfig, accountant: RdpAccountant, budget: PrivacyBudget): BudgetCheck =>
  accountant.canRun(roundMechanism(config), budget);

/** After a round has released its model: charges it to the accountant and returns ε spent so far at δ. */
export const recordRound = (config: DpFedAvgConfig, accountant: RdpAccountant, delta: number): PrivacySpent => {
  const { noiseMultiplier, sampleRate } = roundMechanism(config);
  accountant.step(noiseMultiplier, sampleRate);
  return accountant.epsilon(delta);
};

/**
 * Poisson sampling: each client independently with probability q, the sampling the accountant
 * assumes (a fixed-size sample is a different mechanism). Clients are visited in id order, so
 * a seeded source picks the same set whatever order the list comes in.
 */
export const sampleClients = (clients: readonly string[], sampleRate: number, random: RandomSource): string[] => {
  if (!(sampleRate >= 0 && sampleRate <= 1)) throw new PrivacyParameterError({ message: `the sampling rate must be in [0, 1], got ${sampleRate}` });
  return [...new Set(clients)].sort(byId).filter(() => random.float() < sampleRate);
};

export interface DpFedAvgState {
  /** Rounds completed. */
  readonly round: number;
  /** C for the next round. */
  readonly clipNorm: number;
}

export const initialDpFedAvgState = (config: DpFedAvgConfig): DpFedAvgState => {
  const parameters = dpFedAvgParameters(config);
  return { round: 0, clipNorm: parameters.adaptive?.initialClipNorm ?? parameters.fixedClipNorm! };
};

/** A participant's model after local training (the shape of the FL contract's ClientUpdate). */
export interface ClientModel {
  readonly client: string;
  readonly weights: Float32Array;
}

/** What a round released: everything here is covered by the DP guarantee and may be published. */
export interface DpRoundReport {
  /** C used this round. */
  readonly clipNorm: number;
  /** C for the next round (equal to clipNorm with fixed clipping). */
  readonly nextClipNorm: number;
  /** Stddev of the noise added to the sum of clipped deltas. */
  readonly noiseStddev: number;
  /** z_Δ: noiseStddev / clipNorm. */
  readonly updateNoiseMultiplier: number;
  /** b̄, the noisy fraction of deltas within C (adaptive clipping only). */
  readonly noisyUnclippedFraction?: number;
}

export interface DpRoundOutcome {
  readonly model: Float32Array;
  readonly state: DpFedAvgState;
  readonly report: DpRoundReport;
  /** Who took part. Server-private: publishing it forfeits the amplification by subsampling. */
  readonly used: readonly string[];
  readonly rejected: readonly { readonly client: string; readonly reason: string }[];
}

const byId = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/**
 * One DP-FedAvg round on the server: clip each participant's delta, sum in client-id order (so
 * the same inputs and noise give the same bits in any order), add Gaussian noise, divide by qN,
 * step the global model, and with adaptive clipping move C. Noise is drawn in a fixed order:
 * one normal per coordinate in index order, then one for the count.
 *
 * The noise is added even when no update is usable: the mechanism must release a noisy result
 * whoever took part, or the absence of noise would itself reveal something.
 */
export const dpFedAvgRound = (config: DpFedAvgConfig, global: Float32Array, updates: readonly ClientModel[], state: DpFedAvgState, random: RandomSource): DpRoundOutcome => {
  const parameters = dpFedAvgParameters(config);
  const clipNorm = positive("the clip norm", state.clipNorm);
  const rejected: { client: string; reason: string }[] = [];
  const seen = new Map<string, number>();
  for (const update of updates) seen.set(update.client, (seen.get(update.client) ?? 0) + 1);
  const valid: ClientModel[] = [];
  for (const update of [...updates].sort((a, b) => byId(a.client, b.client))) {
    if (seen.get(update.client)! > 1) rejected.push({ client: update.client, reason: "more than one update from this client in the round" });
    else if (update.weights.length !== global.length) rejected.push({ client: update.client, reason: `the update has ${update.weights.length} parameters, the model ${global.length}` });
    else if (!update.weights.every(Number.isFinite)) rejected.push({ client: update.client, reason: "the update has a coordinate that is not a finite number" });
    else valid.push(update);
  }

  const sum = new Float64Array(global.length);
  const delta = new Float32Array(global.length);
  let unclipped = 0;
  for (const update of valid) {
    for (let i = 0; i < delta.length; i++) delta[i] = update.weights[i]! - global[i]!;
    const { clipped, wasClipped } = clipUpdate(delta, clipNorm);
    for (let i = 0; i < sum.length; i++) sum[i] = sum[i]! + clipped[i]!;
    if (!wasClipped) unclipped++;
  }

  const noiseStddev = parameters.updateNoiseMultiplier * clipNorm;
  const step = parameters.serverLearningRate / parameters.expectedClients;
  const model = new Float32Array(global.length);
  for (let i = 0; i < model.length; i++) model[i] = global[i]! + step * (sum[i]! + noiseStddev * random.normal());

  let nextClipNorm = clipNorm;
  let noisyUnclippedFraction: number | undefined;
  if (parameters.adaptive) {
    const { countNoiseStddev, learningRate, targetQuantile } = parameters.adaptive;
    noisyUnclippedFraction = (unclipped + countNoiseStddev * random.normal()) / parameters.expectedClients;
    nextClipNorm = clipNorm * Math.exp(-learningRate * (noisyUnclippedFraction - targetQuantile));
  }
  return {
    model,
    state: { round: state.round + 1, clipNorm: nextClipNorm },
    report: {
      clipNorm,
      nextClipNorm,
      noiseStddev,
      updateNoiseMultiplier: parameters.updateNoiseMultiplier,
      ...(noisyUnclippedFraction === undefined ? {} : { noisyUnclippedFraction }),
    },
    used: valid.map((update) => update.client),
    rejected,
  };
};
