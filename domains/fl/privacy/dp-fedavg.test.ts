import { describe, expect, it } from "vitest";
import { Rng } from "../../kernel/rng.ts";
import {
  checkRoundBudget,
  dpFedAvgParameters,
  dpFedAvgRound,
  initialDpFedAvgState,
  recordRound,
  roundMechanism,
  sampleClients,
  type ClientModel,
  type DpFedAvgConfig,
} from "./dp-fedavg.ts";
import { seededRandomSource } from "./noise.ts";
import { PrivacyParameterError, RdpAccountant } from "./rdp.ts";

/** A client whose delta from `global` is `delta`. */
const client = (id: string, global: Float32Array, delta: readonly number[]): ClientModel => ({
  client: id,
  weights: Float32Array.from(global, (g, i) => g + delta[i]!),
});

/** A client whose delta points along a random direction with the given L2 norm. */
const clientWithNorm = (id: string, global: Float32Array, norm: number, rng: Rng): ClientModel => {
  const direction = Array.from(global, () => rng.normal());
  const length = Math.hypot(...direction);
  return client(id, global, direction.map((x) => (x * norm) / length));
};

const fixed = (overrides: Partial<DpFedAvgConfig> = {}): DpFedAvgConfig => ({
  noiseMultiplier: 1e-9,
  sampleRate: 0.5,
  population: 4,
  clipping: { kind: "fixed", clipNorm: 1 },
  ...overrides,
});

describe("DP-FedAvg with fixed clipping", () => {
  const global = Float32Array.of(0.5, -0.5, 1);

  it("given updates within C and negligible noise, steps the model by their sum over qN", () => {
    const config = fixed();
    const updates = [client("a", global, [0.2, 0, 0]), client("b", global, [0, 0.4, 0])];
    const out = dpFedAvgRound(config, global, updates, initialDpFedAvgState(config), seededRandomSource(1));
    // qN = 0.5 × 4 = 2 expected clients.
    expect(out.model[0]).toBeCloseTo(0.5 + 0.2 / 2, 6);
    expect(out.model[1]).toBeCloseTo(-0.5 + 0.4 / 2, 6);
    expect(out.model[2]).toBeCloseTo(1, 6);
    expect(out.used).toEqual(["a", "b"]);
    expect(out.report.nextClipNorm).toBe(1);
  });

  it("clips a long update to C before averaging", () => {
    const config = fixed();
    const out = dpFedAvgRound(config, global, [client("big", global, [30, 40, 0])], initialDpFedAvgState(config), seededRandomSource(1));
    // (30, 40, 0) has norm 50: clipped to (0.6, 0.8, 0), then divided by qN = 2.
    expect(out.model[0]).toBeCloseTo(0.5 + 0.3, 5);
    expect(out.model[1]).toBeCloseTo(-0.5 + 0.4, 5);
  });

  it("adds noise of stddev z·C/qN to the average, even with no participant", () => {
    const config = fixed({ noiseMultiplier: 1.2, sampleRate: 0.1, population: 100, clipping: { kind: "fixed", clipNorm: 0.5 } });
    const zeros = new Float32Array(100_000);
    const out = dpFedAvgRound(config, zeros, [], initialDpFedAvgState(config), seededRandomSource(3));
    let sumSq = 0;
    for (const x of out.model) sumSq += x * x;
    const expected = (1.2 * 0.5) / 10;
    expect(Math.abs(Math.sqrt(sumSq / zeros.length) / expected - 1)).toBeLessThan(0.02);
    expect(out.report.noiseStddev).toBeCloseTo(0.6, 12);
  });

  it("gives bit-identical models whatever the order of the updates", () => {
    const config = fixed({ noiseMultiplier: 1, population: 10, sampleRate: 0.3 });
    const rng = new Rng(5);
    const g = Float32Array.from({ length: 64 }, () => rng.normal());
    const updates = ["c", "a", "d", "b"].map((id) => clientWithNorm(id, g, 0.7 + rng.float(), rng));
    const one = dpFedAvgRound(config, g, updates, initialDpFedAvgState(config), seededRandomSource(9));
    const two = dpFedAvgRound(config, g, [...updates].reverse(), initialDpFedAvgState(config), seededRandomSource(9));
    expect(Buffer.from(two.model.buffer)).toEqual(Buffer.from(one.model.buffer));
    expect(one.used).toEqual(["a", "b", "c", "d"]);
  });

  it("rejects updates of the wrong length, with non-finite values, or sent twice by one client", () => {
    const config = fixed();
    const updates = [
      client("ok", global, [0.1, 0, 0]),
      { client: "short", weights: Float32Array.of(1, 2) },
      { client: "nan", weights: Float32Array.of(Number.NaN, 0, 0) },
      client("twice", global, [0.1, 0, 0]),
      client("twice", global, [0.2, 0, 0]),
    ];
    const out = dpFedAvgRound(config, global, updates, initialDpFedAvgState(config), seededRandomSource(1));
    expect(out.used).toEqual(["ok"]);
    expect(out.rejected.map((r) => r.client).sort()).toEqual(["nan", "short", "twice", "twice"]);
  });
});

describe("DP-FedAvg with adaptive clipping", () => {
  const adaptive = (targetQuantile: number): DpFedAvgConfig => ({
    noiseMultiplier: 1,
    sampleRate: 0.1,
    population: 1000,
    clipping: { kind: "adaptive", initialClipNorm: 0.1, targetQuantile, learningRate: 0.2 },
  });

  /** Rounds of 100 clients whose update norms are uniform on [1, 3]; returns C after them. */
  const clipAfter = (config: DpFedAvgConfig, rounds: number): number => {
    const rng = new Rng(11);
    const noise = seededRandomSource(12);
    const global = new Float32Array(8);
    let state = initialDpFedAvgState(config);
    for (let round = 0; round < rounds; round++) {
      const updates = Array.from({ length: 100 }, (_, k) => clientWithNorm(`c${k}`, global, 1 + 2 * rng.float(), rng));
      state = dpFedAvgRound(config, global, updates, state, noise).state;
    }
    return state.clipNorm;
  };

  it("moves C from far below toward the target quantile of the update norms", () => {
    // Norms uniform on [1, 3]: the median is 2, the 0.8-quantile 2.6.
    expect(Math.abs(clipAfter(adaptive(0.5), 150) - 2)).toBeLessThan(0.25);
    expect(Math.abs(clipAfter(adaptive(0.8), 150) - 2.6)).toBeLessThan(0.25);
  });

  it("shrinks C when most updates are within it", () => {
    const config: DpFedAvgConfig = { ...adaptive(0.5), clipping: { kind: "adaptive", initialClipNorm: 50 } };
    expect(clipAfter(config, 5)).toBeLessThan(50);
  });

  it("splits the noise so that z⁻² = z_Δ⁻² + (2σ_b)⁻²", () => {
    // qN = 100, so σ_b defaults to 100/20 = 5 and z_Δ = (1 − 1/100)^(−1/2).
    const parameters = dpFedAvgParameters(adaptive(0.5));
    expect(parameters.adaptive?.countNoiseStddev).toBe(5);
    expect(parameters.updateNoiseMultiplier).toBeCloseTo(1 / Math.sqrt(0.99), 12);
    expect(roundMechanism(adaptive(0.5))).toEqual({ noiseMultiplier: 1, sampleRate: 0.1 });
  });

  it("refuses a count noise too small to leave any privacy for the updates", () => {
    const config: DpFedAvgConfig = { ...adaptive(0.5), clipping: { kind: "adaptive", countNoiseStddev: 0.4 } };
    expect(() => dpFedAvgParameters(config)).toThrow(PrivacyParameterError);
  });
});

describe("sampleClients", () => {
  it("takes each client with probability q, the same set whatever the list order", () => {
    const ids = Array.from({ length: 10_000 }, (_, k) => `client-${k}`);
    const sample = sampleClients(ids, 0.1, seededRandomSource(4));
    expect(Math.abs(sample.length - 1000)).toBeLessThan(100);
    expect(sampleClients([...ids].reverse(), 0.1, seededRandomSource(4))).toEqual(sample);
  });
});

describe("training under a privacy budget", () => {
  it("reports ε after every round and does not start the round that would exceed the budget", () => {
    const config: DpFedAvgConfig = { noiseMultiplier: 1.1, sampleRate: 0.05, population: 1000, clipping: { kind: "adaptive", initialClipNorm: 0.5 } };
    const budget = { epsilon: 3, delta: 1e-5 };
    const accountant = new RdpAccountant();
    const noise = seededRandomSource(21);
    const clients = Array.from({ length: 1000 }, (_, k) => `client-${k}`);
    let model: Float32Array = new Float32Array(16);
    let state = initialDpFedAvgState(config);
    const reported: number[] = [];
    for (;;) {
      const check = checkRoundBudget(config, accountant, budget);
      if (!check.ok) break;
      const sampled = sampleClients(clients, config.sampleRate, noise);
      const updates = sampled.map((id) => ({ client: id, weights: model.map((w) => w + 0.01) }));
      const outcome = dpFedAvgRound(config, model, updates, state, noise);
      ({ model, state } = outcome);
      reported.push(recordRound(config, accountant, budget.delta).epsilon);
    }
    expect(reported.length).toBeGreaterThan(5);
    expect(reported.every((epsilon, k) => k === 0 || epsilon > reported[k - 1]!)).toBe(true);
    expect(reported.at(-1)!).toBeLessThanOrEqual(budget.epsilon);
    expect(accountant.history).toEqual([{ noiseMultiplier: 1.1, sampleRate: 0.05, steps: reported.length }]);
  });
});
