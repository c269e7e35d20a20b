/**
 * The aggregation contract shared by the coordinator, the validators and the CLI (the FL
 * contract): strategies, client updates, the server's state between rounds, and the outcome.
 * A model is a flat Float32Array of all parameters.
 */

export type StrategyName = "fedavg" | "fedprox" | "scaffold" | "fedadam" | "fedyogi" | "krum" | "multikrum" | "median" | "trimmedmean" | "bulyan";

export const strategyNames: readonly StrategyName[] = ["fedavg", "fedprox", "scaffold", "fedadam", "fedyogi", "krum", "multikrum", "median", "trimmedmean", "bulyan"];

export const isStrategyName = (name: string): name is StrategyName => (strategyNames as readonly string[]).includes(name);

export interface StrategyConfig {
  readonly name: StrategyName;
  /** FedProx: the proximal term μ. Client side only: the server aggregates as FedAvg. */
  readonly mu?: number;
  /** Server step η (η_g for SCAFFOLD). Defaults: `strategyDefaults`. */
  readonly serverLearningRate?: number;
  /** FedAdam / FedYogi first-moment decay. */
  readonly beta1?: number;
  /** FedAdam / FedYogi second-moment decay. */
  readonly beta2?: number;
  /** FedAdam / FedYogi adaptivity τ (also v's starting value, τ²). */
  readonly tau?: number;
  /** Krum, Multi-Krum, Bulyan: Byzantine updates assumed among those received. */
  readonly f?: number;
  /** Multi-Krum: how many of the best-scored updates are averaged. */
  readonly select?: number;
  /** Trimmed mean: fraction trimmed at each end of every coordinate. */
  readonly beta?: number;
}

export interface ClientUpdate {
  readonly client: string;
  /** The client's full model after local training. */
  readonly weights: Float32Array;
  readonly examples: number;
  /** SCAFFOLD: c_i+ − c_i, the change of the client's control variate. */
  readonly controlDelta?: Float32Array;
}

export interface ServerState {
  readonly round: number;
  /** FedAdam / FedYogi m. */
  readonly momentum?: Float32Array;
  /** FedAdam / FedYogi v. */
  readonly velocity?: Float32Array;
  /** SCAFFOLD's server control variate c. */
  readonly control?: Float32Array;
}

export type AggregateOutcome =
  | { readonly ok: true; readonly model: Float32Array; readonly state: ServerState; readonly used: readonly string[]; readonly rejected: readonly { client: string; reason: string }[] }
  | { readonly ok: false; readonly reason: string; readonly rejected: readonly { client: string; reason: string }[] };

/** An update left out of the aggregate, and why. */
export type Rejection = { client: string; reason: string };

/**
 * Defaults of the optional settings. FedAdam and FedYogi take Flower's defaults (flwr
 * FedAdam η = 0.1, FedYogi η = 0.01; β1 = 0.9, β2 = 0.99, τ = 1e-3), which sit in the grids of
 * Reddi et al. 2021; v starts at τ² as their Algorithm 2 requires (v₋₁ ≥ τ²). SCAFFOLD's
 * η_g = 1 is Karimireddy et al.'s setting. A trimmed mean drops 10 % at each end. Without `f`,
 * Krum and Multi-Krum assume the most Byzantine updates they can tolerate, ⌊(n − 3) / 2⌋, and
 * Bulyan ⌊(n − 3) / 4⌋; Multi-Krum averages n − f.
 */
export const strategyDefaults = {
  serverLearningRate: { fedadam: 0.1, fedyogi: 0.01, scaffold: 1 },
  beta1: 0.9,
  beta2: 0.99,
  tau: 1e-3,
  trimmedMeanBeta: 0.1,
} as const;

/** Settings of a strategy with every default filled in (f and select depend on the update count). */
export interface ResolvedSettings {
  readonly serverLearningRate: number;
  readonly beta1: number;
  readonly beta2: number;
  readonly tau: number;
  readonly beta: number;
}

export const resolveSettings = (config: StrategyConfig): ResolvedSettings => ({
  serverLearningRate:
    config.serverLearningRate ??
    (config.name === "fedadam" || config.name === "fedyogi" || config.name === "scaffold" ? strategyDefaults.serverLearningRate[config.name] : 1),
  beta1: config.beta1 ?? strategyDefaults.beta1,
  beta2: config.beta2 ?? strategyDefaults.beta2,
  tau: config.tau ?? strategyDefaults.tau,
  beta: config.beta ?? strategyDefaults.trimmedMeanBeta,
});

const isCount = (v: number) => Number.isSafeInteger(v) && v >= 0;

/** What is wrong with a strategy's settings, or undefined when nothing is. */
export const strategyConfigProblem = (config: StrategyConfig): string | undefined => {
  if (!isStrategyName(config.name)) return `unknown strategy "${String(config.name)}" (known: ${strategyNames.join(", ")})`;
  const { mu, serverLearningRate, beta1, beta2, tau, f, select, beta } = config;
  if (mu !== undefined && !(Number.isFinite(mu) && mu >= 0)) return `mu must be a finite number >= 0, got ${mu}`;
  if (serverLearningRate !== undefined && !(Number.isFinite(serverLearningRate) && serverLearningRate > 0)) return `serverLearningRate must be a finite number > 0, got ${serverLearningRate}`;
  if (beta1 !== undefined && !(beta1 >= 0 && beta1 < 1)) return `beta1 must be in [0, 1), got ${beta1}`;
  if (beta2 !== undefined && !(beta2 >= 0 && beta2 < 1)) return `beta2 must be in [0, 1), got ${beta2}`;
  if (tau !== undefined && !(Number.isFinite(tau) && tau > 0)) return `tau must be a finite number > 0, got ${tau}`;
  if (f !== undefined && !isCount(f)) return `f must be an integer >= 0, got ${f}`;
  if (select !== undefined && !(isCount(select) && select >= 1)) return `select must be an integer >= 1, got ${select}`;
  if (beta !== undefined && !(beta >= 0 && beta <= 0.5)) return `beta must be in [0, 0.5], got ${beta}`;
  return undefined;
};

/** Whether the strategy reads the SCAFFOLD control deltas of the updates. */
export const needsControlDelta = (name: StrategyName): boolean => name === "scaffold";
