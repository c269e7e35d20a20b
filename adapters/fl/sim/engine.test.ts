import { describe, expect, it } from "vitest";
import { RdpAccountant } from "../../../domains/fl/privacy/index.ts";
import { runFlSim } from "./engine.ts";
import { resolveSettings, type SimSettingsInput } from "./settings.ts";
import { syntheticWorkload } from "./synthetic.ts";

/** The in-process transport: the engine's round steps without NATS (the JetStream transport is in test/integration/fl-sim.test.ts). */
const run = async (input: SimSettingsInput, options: { signal?: AbortSignal; onRound?: () => void } = {}) => {
  const settings = resolveSettings({ clients: 8, rounds: 3, fraction: 0.5, epochs: 1, batchSize: 10, learningRate: 0.3, transport: "in-process", ...input });
  return runFlSim(settings, syntheticWorkload({ clients: settings.clients, seed: settings.seed }), options);
};

describe("the FL simulation engine, in process", () => {
  it("commits every round, scores each model on the test split and chains the models", async () => {
    const summary = await run({});
    expect(summary.committed).toBe(3);
    expect(summary.history.map((r) => r.used)).toEqual([4, 4, 4]);
    expect(summary.finalAccuracy).toBeGreaterThan(summary.initialAccuracy);
    expect(summary.headCid).toBe(summary.history[2]!.modelCid);
    expect(new Set(summary.history.map((r) => r.modelCid)).size).toBe(3);
  });

  it("reports ε after every DP round as the RDP accountant charges one step of q = C per round", async () => {
    const summary = await run({ dp: { noiseMultiplier: 1.1, clipNorm: 1 } });
    const epsilons = summary.history.map((r) => r.epsilon!);
    const accountant = new RdpAccountant();
    epsilons.forEach((epsilon, i) => {
      accountant.step(1.1, 0.5);
      expect(epsilon).toBeCloseTo(accountant.epsilon(1e-5).epsilon, 10);
      if (i > 0) expect(epsilon).toBeGreaterThan(epsilons[i - 1]!);
    });
    expect(summary.epsilon).toBe(epsilons[2]);
  });

  it("does not start a round that would exceed the privacy budget, and says why", async () => {
    // Given a budget between ε after two rounds and ε after three
    const accountant = new RdpAccountant();
    accountant.step(1.1, 0.5, 2);
    const two = accountant.epsilon(1e-5).epsilon;
    accountant.step(1.1, 0.5);
    const three = accountant.epsilon(1e-5).epsilon;
    const summary = await run({ rounds: 5, dp: { noiseMultiplier: 1.1, clipNorm: 1, epsilonBudget: (two + three) / 2 } });
    expect(summary.roundsRun).toBe(2);
    expect(summary.stoppedEarly).toMatch(/privacy budget: round 3 not started/);
    expect(summary.epsilon!).toBeLessThanOrEqual((two + three) / 2);
  });

  it("charges more ε for a round whose sum lacks honest clients' noise (attackers add none)", async () => {
    // Given every client selected, 4 of 8 of them attacking: the sum carries half the noise variance
    const honest = await run({ rounds: 1, fraction: 1, dp: { noiseMultiplier: 1.1, clipNorm: 1 } });
    const attacked = await run({ rounds: 1, fraction: 1, dp: { noiseMultiplier: 1.1, clipNorm: 1 }, byzantine: { count: 4, attack: "signflip" } });
    expect(attacked.history[0]!.used).toBe(8);
    const accountant = new RdpAccountant();
    accountant.step(1.1 * Math.sqrt(4 / 8), 1);
    expect(attacked.epsilon!).toBeCloseTo(accountant.epsilon(1e-5).epsilon, 10);
    expect(attacked.epsilon!).toBeGreaterThan(honest.epsilon!);
  });

  it("gives FedAvg's model, to the quantization step, through secure aggregation", async () => {
    const plain = await run({ rounds: 2 });
    const secure = await run({ rounds: 2, secagg: true });
    expect(secure.history.map((r) => r.secagg)).toEqual([
      { clients: 4, threshold: 3 },
      { clients: 4, threshold: 3 },
    ]);
    let worst = 0;
    for (let i = 0; i < plain.model.length; i++) worst = Math.max(worst, Math.abs(plain.model[i]! - secure.model[i]!));
    expect(worst).toBeLessThan(1e-4);
  });

  it("keeps learning under a Gaussian attacker with the median, where FedAvg is thrown off", async () => {
    const attack = { count: 2, attack: "gaussian" as const, sigma: 10 };
    const clean = await run({ fraction: 1 });
    const fedavg = await run({ fraction: 1, byzantine: attack });
    const median = await run({ fraction: 1, byzantine: attack, strategy: "median" });
    expect(fedavg.finalAccuracy).toBeLessThan(clean.finalAccuracy - 0.2);
    expect(median.finalAccuracy).toBeGreaterThan(clean.finalAccuracy - 0.1);
  });

  it("stops between rounds when its signal is aborted", async () => {
    const controller = new AbortController();
    const summary = await run({ rounds: 5 }, { signal: controller.signal, onRound: () => controller.abort() });
    expect(summary.committed).toBe(1);
    expect(summary.roundsRun).toBe(1);
    expect(summary.stoppedEarly).toMatch(/stopped/);
  });
});
