import type { ServerState, StrategyConfig } from "../../../domains/fl/aggregate/index.ts";
import { addGaussianNoise, clipUpdate, seededRandomSource } from "../../../domains/fl/privacy/index.ts";
import { mixSeed, Rng } from "../../../domains/kernel/rng.ts";
import { flipLabels, permutation } from "../datasets/index.ts";
import { trainLocal, type Dataset, type ModelSpec } from "../training/index.ts";
import type { AttackName, ByzantineSettings, DpSettings } from "./settings.ts";

/** Stream tags of the simulation's seeded draws ("byzc", "gaus", "dpns", "locl"). */
const ATTACKER_STREAM = 0x62797a63;
const GAUSSIAN_STREAM = 0x67617573;
const DP_NOISE_STREAM = 0x64706e73;
const LOCAL_STREAM = 0x6c6f636c;

/** A client's id in a run: `<prefix>c001` … (sorted ids keep index order, which selection and aggregation rely on). */
export const clientId = (prefix: string, index: number, clients: number): string => `${prefix}c${String(index + 1).padStart(Math.max(3, String(clients).length), "0")}`;

/** The K attacking clients' indexes: the first K of a seeded permutation, sorted. Fixed for the whole run. */
export const chooseAttackers = (clients: number, count: number, seed: number): number[] =>
  [...permutation(clients, new Rng(seed, ATTACKER_STREAM)).subarray(0, count)].sort((a, b) => a - b);

/** What a round tells a client (the protocol's RoundStarted, or the in-process round's equivalent). */
export interface LocalRound {
  readonly round: number;
  readonly strategy: StrategyConfig;
  readonly training: { readonly epochs: number; readonly batchSize: number; readonly learningRate: number };
  /** Clients selected this round: each adds 1/selected of the DP noise's variance. */
  readonly selected: number;
  readonly global: Float32Array;
  readonly serverState: ServerState;
}

/** A client's answer: the FL contract's ClientUpdate without the id. */
export interface LocalUpdate {
  readonly weights: Float32Array;
  readonly examples: number;
  readonly loss?: number;
  readonly controlDelta?: Float32Array;
}

/**
 * One simulated client: its data, and what it does with a round. Honest clients train (FedProx's
 * proximal term and SCAFFOLD's control variates as the strategy asks) and, with DP, clip their
 * delta and add their share of the noise. Byzantine clients attack:
 * - `gaussian`: sends weights drawn from N(0, σ²) (no training);
 * - `signflip`: trains, then sends global − s·(local − global);
 * - `labelflip`: trains on labels l → classes − 1 − l and sends that honestly-shaped model.
 * Attackers skip clipping and noise (they follow no rule). Deterministic: every draw comes from
 * the run's seed, the round and the client's index.
 */
export class SimClient {
  /** SCAFFOLD's c_i, kept between rounds (zero until the client first trains). */
  private control: Float32Array | undefined;
  private readonly trainingData: Dataset;

  constructor(
    readonly index: number,
    readonly id: string,
    readonly data: Dataset,
    private readonly context: {
      readonly spec: ModelSpec;
      readonly seed: number;
      readonly attack?: Pick<ByzantineSettings, "attack" | "sigma" | "scale">;
      readonly dp?: Pick<DpSettings, "noiseMultiplier" | "clipNorm">;
    },
  ) {
    this.trainingData = context.attack?.attack === "labelflip" ? flipLabels(data) : data;
  }

  get attack(): AttackName | undefined {
    return this.context.attack?.attack;
  }

  async update(round: LocalRound): Promise<LocalUpdate> {
    const { spec, seed, attack, dp } = this.context;
    const examples = this.data.labels.length;
    if (attack?.attack === "gaussian") {
      const rng = new Rng(seed, GAUSSIAN_STREAM, round.round, this.index);
      return { weights: Float32Array.from(round.global, () => attack.sigma * rng.normal()), examples };
    }
    const { strategy, training, global, serverState } = round;
    const scaffold = strategy.name === "scaffold";
    const clientControl = scaffold ? (this.control ?? new Float32Array(global.length)) : undefined;
    const trained = await trainLocal(spec, {
      weights: global,
      data: this.trainingData,
      epochs: training.epochs,
      batchSize: training.batchSize,
      learningRate: training.learningRate,
      seed: mixSeed(seed, LOCAL_STREAM, round.round, this.index),
      ...(strategy.name === "fedprox" && strategy.mu ? { proximalMu: strategy.mu } : {}),
      ...(clientControl ? { scaffold: { serverControl: serverState.control ?? new Float32Array(global.length), clientControl } } : {}),
    });
    let weights = trained.weights;
    let controlDelta: Float32Array | undefined;
    if (clientControl && trained.clientControl) {
      controlDelta = Float32Array.from(trained.clientControl, (c, i) => c - clientControl[i]!);
      this.control = trained.clientControl;
    }
    if (attack?.attack === "signflip") {
      weights = Float32Array.from(weights, (w, i) => global[i]! - attack.scale * (w - global[i]!));
    } else if (dp && !attack) {
      weights = this.privatize(global, weights, dp, round);
      // DP-FedAvg weighs every client the same: example counts would raise one client's influence.
      return { weights, examples: 1, loss: trained.loss };
    }
    return { weights, examples, loss: trained.loss, ...(controlDelta ? { controlDelta } : {}) };
  }

  /**
   * Distributed DP-FedAvg on the client: the delta clipped to C, plus this client's share of the
   * round's Gaussian noise, N(0, (z·C)²/m) with m the clients selected, so the m shares sum to
   * the N(0, (z·C)²) that McMahan et al. 2018's server adds to the sum of clipped deltas.
   */
  private privatize(global: Float32Array, local: Float32Array, dp: Pick<DpSettings, "noiseMultiplier" | "clipNorm">, round: LocalRound): Float32Array {
    const delta = Float32Array.from(local, (w, i) => w - global[i]!);
    const { clipped } = clipUpdate(delta, dp.clipNorm);
    const stddev = (dp.noiseMultiplier * dp.clipNorm) / Math.sqrt(round.selected);
    const noisy = addGaussianNoise(clipped, stddev, seededRandomSource(this.context.seed, DP_NOISE_STREAM, round.round, this.index));
    return Float32Array.from(noisy, (d, i) => global[i]! + d);
  }
}
