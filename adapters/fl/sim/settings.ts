import { strategyConfigProblem, type StrategyConfig, type StrategyName } from "../../../domains/fl/aggregate/index.ts";

/**
 * What one federated-learning simulation runs: the FL contract's knobs (N, R, C, E, B, the
 * strategy), the data split, the attackers, differential privacy, secure aggregation and the
 * BFT commit. `resolveSettings` fills in every default and refuses what cannot run, with the
 * reason, before anything starts.
 */

export type AttackName = "gaussian" | "signflip" | "labelflip";
export const attackNames: readonly AttackName[] = ["gaussian", "signflip", "labelflip"];

/** Where a round runs: the real protocol over JetStream, or the same steps called in this process. */
export type TransportName = "jetstream" | "in-process";

/** Strategies whose server step is a (possibly post-processed) plain average: DP-FedAvg's noise calibration holds for them. */
export const dpStrategies: readonly StrategyName[] = ["fedavg", "fedprox", "fedadam", "fedyogi"];

export interface ByzantineSettings {
  /** K: how many of the N clients attack (the same ones every round, chosen by the seed). */
  readonly count: number;
  readonly attack: AttackName;
  /** gaussian: the stddev σ of the random weights sent instead of a model. Default 1. */
  readonly sigma: number;
  /** signflip: s in global − s·(local − global). Default 4. */
  readonly scale: number;
}

export interface DpSettings {
  /** z: the noise stddev over the clip norm, of the whole round's sum. */
  readonly noiseMultiplier: number;
  /** C: each client's model delta is clipped to this L2 norm. */
  readonly clipNorm: number;
  /** δ at which ε is reported (and the budget's δ). Default 1e-5. */
  readonly delta: number;
  /** A round that would bring ε above this does not start. Default: no budget. */
  readonly epsilonBudget?: number;
}

export interface SecAggSettings {
  /** Shamir threshold t. Default ⌊n/2⌋ + 1 of the n clients of the round (above half: see domains/fl/secagg). */
  readonly threshold?: number;
  /** Each coordinate of a client's (weighted) delta is clamped to ±clamp before quantization. Default 1 (the DP clip norm with --dp). */
  readonly clamp: number;
}

export interface SimSettings {
  /** N. */
  readonly clients: number;
  /** R. */
  readonly rounds: number;
  /** C: the fraction of clients selected each round. */
  readonly fraction: number;
  /** E: local epochs. */
  readonly epochs: number;
  /** B: local minibatch size. */
  readonly batchSize: number;
  /** Clients' SGD learning rate. */
  readonly learningRate: number;
  readonly strategy: StrategyConfig;
  /** IID shares, or McMahan's pathological split: `shardsPerClient` label-sorted shards each. */
  readonly partition: { readonly kind: "iid" } | { readonly kind: "shards"; readonly shardsPerClient: number };
  readonly byzantine?: ByzantineSettings;
  readonly dp?: DpSettings;
  readonly secagg?: SecAggSettings;
  /** Seeds the split, the initial model, selection, attackers, local shuffling and DP noise. */
  readonly seed: number;
  /** BFT validators of the commit (n ≥ 3f + 1; f = ⌊(n − 1)/3⌋). */
  readonly validators: number;
  /** The last `count` validators misbehave (JetStream only): vote for a made-up model, or never vote. */
  readonly faultyValidators?: { readonly count: number; readonly behaviour: "wrong-cid" | "silent" };
  /** Fewest updates a round aggregates. */
  readonly minUpdates: number;
  /** How long a round accepts updates, ms. */
  readonly roundTimeoutMs: number;
  /** Each commit phase's timeout, ms. */
  readonly phaseTimeoutMs: number;
  readonly transport: TransportName;
}

/** A simulation that cannot run as asked, saying why. */
export class SimSettingsError extends Error {
  override readonly name = "SimSettingsError";
}

export type SimSettingsInput = Partial<Omit<SimSettings, "strategy" | "byzantine" | "dp" | "secagg" | "faultyValidators">> & {
  readonly faultyValidators?: { readonly count: number; readonly behaviour?: "wrong-cid" | "silent" };
  readonly strategy?: StrategyConfig | StrategyName;
  readonly byzantine?: Partial<ByzantineSettings> & { readonly count: number; readonly attack: AttackName };
  readonly dp?: Partial<DpSettings> & { readonly noiseMultiplier: number; readonly clipNorm: number };
  readonly secagg?: Partial<SecAggSettings> | true;
};

export const DEFAULTS = {
  clients: 100,
  rounds: 20,
  fraction: 0.1,
  epochs: 1,
  batchSize: 10,
  learningRate: 0.1,
  seed: 1,
  validators: 4,
  minUpdates: 1,
  roundTimeoutMs: 120_000,
  phaseTimeoutMs: 30_000,
  fedproxMu: 0.01,
  gaussianSigma: 1,
  signflipScale: 4,
  dpDelta: 1e-5,
  secaggClamp: 1,
} as const;

/** Clients selected per round: round(C·N), at least 1 (the protocol's `selectionSize`). */
export const clientsPerRound = (clients: number, fraction: number): number => Math.min(clients, Math.max(1, Math.round(fraction * clients)));

/** BFT validators tolerated: ⌊(n − 1)/3⌋. */
export const validatorFaults = (validators: number): number => Math.floor((validators - 1) / 3);

/**
 * The Byzantine clients a robust aggregator assumes per round when `--f` is not given: the
 * attackers expected among the round's clients, round(K·C), but no more than the rule tolerates
 * with that many updates (Krum and Multi-Krum n ≥ 2f + 3, Bulyan n ≥ 4f + 3). Without attackers
 * the aggregator's own default applies (the most it tolerates).
 */
export const defaultAssumedFaults = (name: StrategyName, perRound: number, attackers: number, fraction: number): number | undefined => {
  if (attackers === 0) return undefined;
  const expected = Math.max(1, Math.round(attackers * fraction));
  const tolerated = name === "bulyan" ? Math.floor((perRound - 3) / 4) : name === "krum" || name === "multikrum" ? Math.floor((perRound - 3) / 2) : expected;
  return Math.max(0, Math.min(expected, tolerated));
};

const positiveInt = (name: string, v: number, min = 1) => {
  if (!Number.isSafeInteger(v) || v < min) throw new SimSettingsError(`${name} must be an integer >= ${min}, got ${v}`);
  return v;
};
const positive = (name: string, v: number) => {
  if (!(v > 0) || !Number.isFinite(v)) throw new SimSettingsError(`${name} must be a number > 0, got ${v}`);
  return v;
};

/** Fills in defaults and checks that the combination can run. */
export const resolveSettings = (input: SimSettingsInput = {}): SimSettings => {
  const clients = positiveInt("clients", input.clients ?? DEFAULTS.clients);
  const rounds = positiveInt("rounds", input.rounds ?? DEFAULTS.rounds);
  const fraction = input.fraction ?? DEFAULTS.fraction;
  if (!(fraction > 0 && fraction <= 1)) throw new SimSettingsError(`fraction C must be in (0, 1], got ${fraction}`);
  const epochs = positiveInt("epochs", input.epochs ?? DEFAULTS.epochs);
  const batchSize = positiveInt("batch", input.batchSize ?? DEFAULTS.batchSize);
  const learningRate = positive("lr", input.learningRate ?? DEFAULTS.learningRate);
  const seed = input.seed ?? DEFAULTS.seed;
  if (!Number.isSafeInteger(seed) || seed < 0) throw new SimSettingsError(`seed must be an integer >= 0, got ${seed}`);
  const validators = positiveInt("validators", input.validators ?? DEFAULTS.validators);
  const perRound = clientsPerRound(clients, fraction);

  const byzantine = input.byzantine
    ? {
        count: input.byzantine.count,
        attack: input.byzantine.attack,
        sigma: positive("the gaussian attack's sigma", input.byzantine.sigma ?? DEFAULTS.gaussianSigma),
        scale: positive("the sign-flip attack's scale", input.byzantine.scale ?? DEFAULTS.signflipScale),
      }
    : undefined;
  if (byzantine) {
    positiveInt("byzantine", byzantine.count, 0);
    if (byzantine.count > clients) throw new SimSettingsError(`${byzantine.count} Byzantine clients out of ${clients}`);
    if (!attackNames.includes(byzantine.attack)) throw new SimSettingsError(`unknown attack "${byzantine.attack}" (known: ${attackNames.join(", ")})`);
  }

  const base: StrategyConfig = typeof input.strategy === "string" ? { name: input.strategy } : (input.strategy ?? { name: "fedavg" });
  const assumed = base.f ?? defaultAssumedFaults(base.name, perRound, byzantine?.count ?? 0, fraction);
  const strategy: StrategyConfig = {
    ...base,
    ...(base.name === "fedprox" && base.mu === undefined ? { mu: DEFAULTS.fedproxMu } : {}),
    ...((base.name === "krum" || base.name === "multikrum" || base.name === "bulyan") && assumed !== undefined ? { f: assumed } : {}),
    // A trimmed mean must trim at least the expected attackers at each end.
    ...(base.name === "trimmedmean" && base.beta === undefined && assumed !== undefined ? { beta: Math.min(0.5, Math.max(0.1, assumed / perRound)) } : {}),
  };
  const problem = strategyConfigProblem(strategy);
  if (problem) throw new SimSettingsError(problem);
  if (strategy.name === "bulyan" && strategy.f !== undefined && perRound < 4 * strategy.f + 3) {
    throw new SimSettingsError(`bulyan needs n >= 4f + 3 updates per round: ${perRound} clients per round (C·N) cannot tolerate f = ${strategy.f}; raise --fraction or lower --f`);
  }

  let dp: DpSettings | undefined;
  if (input.dp) {
    if (!dpStrategies.includes(strategy.name)) {
      throw new SimSettingsError(`--dp needs an averaging strategy (${dpStrategies.join(", ")}): DP-FedAvg's noise is calibrated to the sum of clipped deltas, which ${strategy.name} does not take`);
    }
    const delta = input.dp.delta ?? DEFAULTS.dpDelta;
    if (!(delta > 0 && delta < 1)) throw new SimSettingsError(`the DP delta must be in (0, 1), got ${delta}`);
    dp = {
      noiseMultiplier: positive("the DP noise multiplier", input.dp.noiseMultiplier),
      clipNorm: positive("the DP clip norm", input.dp.clipNorm),
      delta,
      ...(input.dp.epsilonBudget !== undefined ? { epsilonBudget: positive("the DP epsilon budget", input.dp.epsilonBudget) } : {}),
    };
  }

  let secagg: SecAggSettings | undefined;
  if (input.secagg) {
    if (strategy.name !== "fedavg") {
      throw new SimSettingsError(`--secagg combines only with fedavg: the coordinator sees only the sum of the updates, so ${strategy.name} has nothing to work on`);
    }
    const s = input.secagg === true ? {} : input.secagg;
    if (perRound < 2) throw new SimSettingsError("--secagg needs at least 2 clients per round (the Shamir threshold is at least 2)");
    if (s.threshold !== undefined && (s.threshold < 2 || s.threshold > perRound)) throw new SimSettingsError(`the secagg threshold must be in 2..${perRound}, got ${s.threshold}`);
    secagg = { ...(s.threshold !== undefined ? { threshold: s.threshold } : {}), clamp: positive("the secagg clamp", s.clamp ?? dp?.clipNorm ?? DEFAULTS.secaggClamp) };
  }

  const transport = input.transport ?? "jetstream";
  const faulty = input.faultyValidators;
  if (faulty && faulty.count > 0) {
    positiveInt("faulty-validators", faulty.count);
    if (faulty.count > validators) throw new SimSettingsError(`${faulty.count} faulty validators out of ${validators}`);
    if (transport !== "jetstream") throw new SimSettingsError("faulty validators need the JetStream transport (in process there is no vote)");
  }

  const partition = input.partition ?? { kind: "iid" as const };
  if (partition.kind === "shards") positiveInt("shards", partition.shardsPerClient);
  return {
    clients,
    rounds,
    fraction,
    epochs,
    batchSize,
    learningRate,
    strategy,
    partition,
    ...(byzantine && byzantine.count > 0 ? { byzantine } : {}),
    ...(dp ? { dp } : {}),
    ...(secagg ? { secagg } : {}),
    seed,
    validators,
    ...(faulty && faulty.count > 0 ? { faultyValidators: { count: faulty.count, behaviour: faulty.behaviour ?? "wrong-cid" } } : {}),
    minUpdates: positiveInt("min-updates", input.minUpdates ?? DEFAULTS.minUpdates),
    roundTimeoutMs: positiveInt("round-timeout", input.roundTimeoutMs ?? DEFAULTS.roundTimeoutMs),
    phaseTimeoutMs: positiveInt("phase-timeout", input.phaseTimeoutMs ?? DEFAULTS.phaseTimeoutMs),
    transport,
  };
};
