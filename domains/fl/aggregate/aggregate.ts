import { coordinateClosestToMedian, coordinateMedian, coordinateTrimmedMean } from "./coordinate-wise.ts";
import { allFinite, pairwiseSquaredDistances, weightedSum } from "./kernels.ts";
import { bulyanSelect, krumSelect, multiKrumSelect } from "./krum.ts";
import {
  needsControlDelta,
  resolveSettings,
  strategyConfigProblem,
  type AggregateOutcome,
  type ClientUpdate,
  type Rejection,
  type ResolvedSettings,
  type ServerState,
  type StrategyConfig,
} from "./strategy.ts";
import { nonFiniteReason, rejectNonFinite, screenUpdates, sortRejections, type Screened } from "./validate.ts";

/**
 * One round of server-side aggregation: the strategy over the global model, the clients'
 * updates and the server state, giving the next global model and state. Pure and deterministic:
 * updates are sorted by client id before any arithmetic, so the result is bit-identical whatever
 * their order (BFT validators recompute it and compare content ids).
 */

/** The server state a strategy starts from: FedAdam/FedYogi m = 0 and v = τ², SCAFFOLD c = 0. */
export const initialServerState = (strategy: StrategyConfig, model: Float32Array): ServerState => {
  const { tau } = resolveSettings(strategy);
  switch (strategy.name) {
    case "fedadam":
    case "fedyogi":
      return { round: 0, momentum: new Float32Array(model.length), velocity: new Float32Array(model.length).fill(tau * tau) };
    case "scaffold":
      return { round: 0, control: new Float32Array(model.length) };
    default:
      return { round: 0 };
  }
};

interface RoundResult {
  readonly model: Float32Array;
  readonly state: ServerState;
  readonly used: readonly string[];
}

type Failure = { readonly reason: string };

interface RoundInput {
  readonly global: Float32Array;
  readonly state: ServerState;
  readonly settings: ResolvedSettings;
  readonly totalClients: number | undefined;
}

const ids = (updates: readonly ClientUpdate[]) => updates.map((u) => u.client);

const tooFew = (strategy: string, needed: number, n: number, rule: string): Failure => ({
  reason: `${strategy} needs at least ${needed} valid updates (${rule}), ${n === 1 ? "1 was" : `${n} were`} left`,
});

// NaN/Inf are caught in the pass each strategy makes over the updates anyway, not in a scan of
// its own: a non-finite value makes its coordinate's Float64 sum non-finite (weights are
// positive, and finite Float32 values times safe-integer weights cannot overflow Float64), and
// a pairwise distance with it non-finite; the coordinate-wise ones check values as they gather
// them. A strategy that meets one returns undefined; only then are the updates scanned one by
// one, the bad ones rejected, and the strategy run again. The result is the same as scanning
// first, at about half the memory reads.

/** `undefined`: a NaN or an infinity was met; scan, reject and run again. */
type Optimistic = RoundResult | Failure | undefined;

// ---- averaging strategies ----------------------------------------------------------------------

const federatedAverage = (valid: readonly ClientUpdate[], input: RoundInput): Optimistic => {
  const length = input.global.length;
  const sum = weightedSum(valid.map((u) => u.weights), valid.map((u) => u.examples), length);
  if (!allFinite(sum)) return undefined;
  let examples = 0;
  for (const u of valid) examples += u.examples;
  const model = new Float32Array(length);
  for (let k = 0; k < length; k++) model[k] = sum[k]! / examples;
  return { model, state: { ...input.state, round: input.state.round + 1 }, used: ids(valid) };
};

/** FedAdam / FedYogi (Reddi et al. 2021, Algorithm 2): the example-weighted mean's pull Δ = mean − x drives Adam or Yogi moments. */
const adaptive =
  (yogi: boolean) =>
  (valid: readonly ClientUpdate[], input: RoundInput): Optimistic => {
    const { global, state } = input;
    const { serverLearningRate: eta, beta1, beta2, tau } = input.settings;
    const length = global.length;
    const sum = weightedSum(valid.map((u) => u.weights), valid.map((u) => u.examples), length);
    if (!allFinite(sum)) return undefined;
    let examples = 0;
    for (const u of valid) examples += u.examples;
    const previousM = state.momentum;
    const previousV = state.velocity;
    const momentum = new Float32Array(length);
    const velocity = new Float32Array(length);
    const model = new Float32Array(length);
    const tau2 = tau * tau;
    for (let k = 0; k < length; k++) {
      const x = global[k]!;
      const delta = sum[k]! / examples - x;
      const delta2 = delta * delta;
      const m = beta1 * (previousM ? previousM[k]! : 0) + (1 - beta1) * delta;
      const v0 = previousV ? previousV[k]! : tau2;
      // Yogi moves v toward Δ² by a fixed step, whichever side it is on; Adam decays it.
      const v = yogi ? v0 - (1 - beta2) * delta2 * Math.sign(v0 - delta2) : beta2 * v0 + (1 - beta2) * delta2;
      momentum[k] = m;
      velocity[k] = v;
      model[k] = x + (eta * m) / (Math.sqrt(v) + tau);
    }
    return { model, state: { ...state, round: state.round + 1, momentum, velocity }, used: ids(valid) };
  };

/**
 * SCAFFOLD's server step (Karimireddy et al. 2020, Algorithm 1): x ← x + η_g·mean(y_i − x) and
 * c ← c + (|S|/N)·mean(Δc_i), plain means over the |S| sampled clients of N.
 */
const scaffold = (valid: readonly ClientUpdate[], input: RoundInput): Optimistic => {
  const { global, state } = input;
  const length = global.length;
  const sampled = valid.length;
  const population = input.totalClients ?? sampled;
  if (population < sampled) return { reason: `totalClients (${population}) is less than the ${sampled} clients whose updates are used` };
  const ones = new Array<number>(sampled).fill(1);
  const sumY = weightedSum(valid.map((u) => u.weights), ones, length);
  const sumC = weightedSum(valid.map((u) => u.controlDelta!), ones, length);
  if (!allFinite(sumY) || !allFinite(sumC)) return undefined;
  const eta = input.settings.serverLearningRate;
  const share = sampled / population;
  const model = new Float32Array(length);
  const control = new Float32Array(length);
  for (let k = 0; k < length; k++) {
    const x = global[k]!;
    model[k] = x + eta * (sumY[k]! / sampled - x);
    control[k] = (state.control ? state.control[k]! : 0) + share * (sumC[k]! / sampled);
  }
  return { model, state: { ...state, round: state.round + 1, control }, used: ids(valid) };
};

// ---- robust strategies --------------------------------------------------------------------------

const uniformMean = (vectors: readonly Float32Array[], length: number): Float32Array => {
  const sum = weightedSum(vectors, new Array<number>(vectors.length).fill(1), length);
  const out = new Float32Array(length);
  for (let k = 0; k < length; k++) out[k] = sum[k]! / vectors.length;
  return out;
};

const next = (state: ServerState): ServerState => ({ ...state, round: state.round + 1 });

/** Squared distances between all updates; undefined when one holds a NaN or an infinity. */
const distancesOf = (valid: readonly ClientUpdate[], length: number): Float64Array | undefined => {
  const distances = pairwiseSquaredDistances(valid.map((u) => u.weights), length);
  return allFinite(distances) ? distances : undefined;
};

const krum = (valid: readonly ClientUpdate[], input: RoundInput, f: number | undefined): Optimistic => {
  const n = valid.length;
  const byzantine = f ?? Math.max(0, Math.floor((n - 3) / 2));
  if (n < 2 * byzantine + 3) return tooFew("krum", 2 * byzantine + 3, n, `n >= 2f + 3 with f = ${byzantine}`);
  const distances = distancesOf(valid, input.global.length);
  if (!distances) return undefined;
  const chosen = valid[krumSelect(distances, n, byzantine)]!;
  return { model: chosen.weights.slice(), state: next(input.state), used: [chosen.client] };
};

const multiKrum = (valid: readonly ClientUpdate[], input: RoundInput, f: number | undefined, select: number | undefined): Optimistic => {
  const n = valid.length;
  const byzantine = f ?? Math.max(0, Math.floor((n - 3) / 2));
  if (n < 2 * byzantine + 3) return tooFew("multikrum", 2 * byzantine + 3, n, `n >= 2f + 3 with f = ${byzantine}`);
  const m = select ?? n - byzantine;
  if (m > n) return { reason: `multikrum cannot select ${m} of ${n} valid updates` };
  const length = input.global.length;
  const distances = distancesOf(valid, length);
  if (!distances) return undefined;
  const chosen = multiKrumSelect(distances, n, byzantine, m).map((i) => valid[i]!);
  return { model: uniformMean(chosen.map((u) => u.weights), length), state: next(input.state), used: ids(chosen) };
};

const bulyan = (valid: readonly ClientUpdate[], input: RoundInput, f: number | undefined): Optimistic => {
  const n = valid.length;
  const byzantine = f ?? Math.max(0, Math.floor((n - 3) / 4));
  if (n < 4 * byzantine + 3) return tooFew("bulyan", 4 * byzantine + 3, n, `n >= 4f + 3 with f = ${byzantine}`);
  const length = input.global.length;
  const distances = distancesOf(valid, length);
  if (!distances) return undefined;
  const chosen = bulyanSelect(distances, n, byzantine).map((i) => valid[i]!);
  const model = coordinateClosestToMedian(chosen.map((u) => u.weights), length, chosen.length - 2 * byzantine);
  return model && { model, state: next(input.state), used: ids(chosen) };
};

// ---- the round ---------------------------------------------------------------------------------

const stateProblem = (state: ServerState, length: number): string | undefined => {
  if (!(Number.isSafeInteger(state.round) && state.round >= 0)) return `server state round must be an integer >= 0, got ${String(state.round)}`;
  for (const name of ["momentum", "velocity", "control"] as const) {
    const values = state[name];
    if (values === undefined) continue;
    if (!(values instanceof Float32Array) || values.length !== length) return `server state ${name} has ${values.length} values, the global model has ${length}`;
    const bad = nonFiniteReason(name, values);
    if (bad) return `server state ${bad}`;
  }
  if (state.velocity && state.velocity.some((v) => v < 0)) return "server state velocity has a negative value";
  return undefined;
};

const totalClientsProblem = (totalClients: number | undefined): string | undefined =>
  totalClients === undefined || (Number.isSafeInteger(totalClients) && totalClients >= 1) ? undefined : `totalClients must be an integer >= 1, got ${totalClients}`;

export const aggregateRound = (
  strategy: StrategyConfig,
  global: Float32Array,
  updates: readonly ClientUpdate[],
  state: ServerState,
  options: { totalClients?: number } = {},
): AggregateOutcome => {
  const refuse = (reason: string, rejected: readonly Rejection[] = []): AggregateOutcome => ({ ok: false, reason, rejected: sortRejections(rejected) });
  const setup =
    strategyConfigProblem(strategy) ??
    (global instanceof Float32Array ? undefined : "the global model is not a Float32Array") ??
    nonFiniteReason("global", global) ??
    stateProblem(state, global.length) ??
    totalClientsProblem(options.totalClients);
  if (setup) return refuse(setup);

  const withControl = needsControlDelta(strategy.name);
  let screened: Screened = screenUpdates(updates, global.length, withControl);
  const input: RoundInput = { global, state, settings: resolveSettings(strategy), totalClients: options.totalClients };

  const coordinateWise = (valid: readonly ClientUpdate[], model: Float32Array | undefined): Optimistic => model && { model, state: next(state), used: ids(valid) };
  const run = (valid: readonly ClientUpdate[]): Optimistic => {
    switch (strategy.name) {
      case "fedavg":
      case "fedprox":
        return federatedAverage(valid, input);
      case "fedadam":
        return adaptive(false)(valid, input);
      case "fedyogi":
        return adaptive(true)(valid, input);
      case "scaffold":
        return scaffold(valid, input);
      case "krum":
        return krum(valid, input, strategy.f);
      case "multikrum":
        return multiKrum(valid, input, strategy.f, strategy.select);
      case "median":
        return coordinateWise(valid, coordinateMedian(valid.map((u) => u.weights), global.length));
      case "trimmedmean":
        return coordinateWise(valid, coordinateTrimmedMean(valid.map((u) => u.weights), global.length, input.settings.beta));
      case "bulyan":
        return bulyan(valid, input, strategy.f);
    }
  };
  const none = () => refuse(`no valid update to aggregate (${updates.length} received, ${screened.rejected.length} rejected)`, screened.rejected);

  if (screened.valid.length === 0) return none();
  let result = run(screened.valid);
  if (result === undefined || "reason" in result) {
    // Met a NaN/Inf, or refused: find every non-finite update, so the outcome lists them all and
    // a refusal counts only the updates that are really valid.
    const scanned = rejectNonFinite(screened, withControl);
    if (scanned.valid.length < screened.valid.length) {
      screened = scanned;
      if (screened.valid.length === 0) return none();
      result = run(screened.valid);
    }
    if (result === undefined) return refuse("the aggregate overflowed to a non-finite value", screened.rejected);
  }
  if ("reason" in result) return refuse(result.reason, screened.rejected);
  return { ok: true, model: result.model, state: result.state, used: result.used, rejected: sortRejections(screened.rejected) };
};
