import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { resolveSettings, runFlSim, syntheticWorkload, type SimSettingsInput } from "../../adapters/fl/sim/index.ts";
import { flSim } from "../../adapters/cli/commands/fl.ts";
import { UsageError } from "../../adapters/cli/options.ts";
import { RdpAccountant } from "../../domains/fl/privacy/index.ts";
import { startTestNats, type TestNats } from "../support/nats.ts";

/**
 * `x0 fl sim`'s engine on a real nats-server: six clients, a coordinator and four BFT validators,
 * each an actor with its own key and connection, on a small MLP over synthetic data.
 */
describe("FL simulation over JetStream", () => {
  let nats: TestNats;
  let runs = 0;

  beforeAll(async () => {
    nats = await startTestNats();
  });
  afterAll(async () => {
    await nats?.close();
  });

  const simulate = (input: SimSettingsInput) => {
    const settings = resolveSettings({ clients: 6, rounds: 2, fraction: 1, epochs: 1, batchSize: 10, learningRate: 0.3, phaseTimeoutMs: 10_000, roundTimeoutMs: 20_000, ...input });
    return runFlSim(settings, syntheticWorkload({ clients: 6, seed: settings.seed }), { servers: [nats.url], modelId: `simtest${++runs}` });
  };

  it("commits every round through the BFT validators (one of them voting for a made-up model), reports accuracy, and chains the same models as the in-process steps", async () => {
    const summary = await simulate({ faultyValidators: { count: 1, behaviour: "wrong-cid" } });
    expect(summary.transport).toBe("jetstream");
    expect(summary.committed).toBe(2);
    expect(summary.history.map((r) => r.outcome)).toEqual(["committed", "committed"]);
    expect(summary.history.map((r) => r.used)).toEqual([6, 6]);
    for (const r of summary.history) {
      expect(r.accuracy).toBeGreaterThanOrEqual(0);
      expect(r.accuracy).toBeLessThanOrEqual(1);
      expect(r.loss).toBeGreaterThan(0);
    }
    expect(summary.finalAccuracy).toBeGreaterThan(summary.initialAccuracy);
    // The same settings without the network: the same models, bit for bit (same content ids).
    const local = await simulate({ transport: "in-process" });
    expect(summary.history.map((r) => r.modelCid)).toEqual(local.history.map((r) => r.modelCid));
    expect(summary.headCid).toBe(local.headCid);
  });

  it("keeps a Gaussian attacker out of the model with the median", async () => {
    const byzantine = { count: 1, attack: "gaussian" as const, sigma: 10 };
    const median = await simulate({ strategy: "median", byzantine });
    expect(median.committed).toBe(2);
    const fedavg = await simulate({ byzantine, transport: "in-process" });
    const clean = await simulate({ transport: "in-process" });
    expect(median.finalAccuracy).toBeGreaterThan(clean.finalAccuracy - 0.1);
    expect(median.finalAccuracy).toBeGreaterThan(fedavg.finalAccuracy + 0.2);
  });

  it("reports ε growing round by round with DP, as the RDP accountant computes it", async () => {
    const summary = await simulate({ fraction: 0.5, dp: { noiseMultiplier: 1, clipNorm: 1 } });
    expect(summary.committed).toBe(2);
    const accountant = new RdpAccountant();
    const epsilons = summary.history.map((r) => r.epsilon!);
    for (const epsilon of epsilons) {
      accountant.step(1, 0.5);
      expect(epsilon).toBeCloseTo(accountant.epsilon(1e-5).epsilon, 10);
    }
    expect(epsilons[0]!).toBeGreaterThan(0);
    expect(epsilons[1]!).toBeGreaterThan(epsilons[0]!);
  });

  it("times out cleanly, naming them, when f + 1 = 2 of 4 validators stay silent", async () => {
    const silent = await simulate({ rounds: 1, phaseTimeoutMs: 1_500, faultyValidators: { count: 2, behaviour: "silent" } });
    expect(silent.committed).toBe(0);
    expect(silent.timedOut).toBe(1);
    expect(silent.history[0]!.reasons[0]).toMatch(/no answer from simtest\d+-v3, simtest\d+-v4/);
  });

  it("commits the secure sum of the round's clients as one update", async () => {
    const summary = await simulate({ rounds: 1, secagg: true });
    expect(summary.committed).toBe(1);
    expect(summary.history[0]!.secagg).toEqual({ clients: 6, threshold: 4 });
  });
});

describe("x0 fl sim's command line", () => {
  const capture = () => {
    let text = "";
    return { write: (chunk: string) => (text += chunk), get text() { return text; } };
  };

  it("prints one JSON object per round and a summary with --json", async () => {
    const stdout = capture();
    const code = await flSim(["--dataset", "synthetic", "--clients", "6", "--rounds", "2", "--fraction", "0.5", "--dp", "1,1", "--in-process", "--json"], { stdout, stderr: capture() });
    expect(code).toBe(0);
    const lines = stdout.text.trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.map((l) => l.type)).toEqual(["round", "round", "summary"]);
    expect(lines[0]).toMatchObject({ round: 1, outcome: "committed", selected: 3, used: 3 });
    expect(lines[1]!.epsilon as number).toBeGreaterThan(lines[0]!.epsilon as number);
    expect(lines[2]).toMatchObject({ committed: 2, roundsAsked: 2, transport: "in-process" });
  });

  it("refuses combinations that cannot run, before starting anything", async () => {
    const io = { stdout: capture(), stderr: capture() };
    await expect(flSim(["--secagg", "--strategy", "median"], io)).rejects.toThrow(UsageError);
    await expect(flSim(["--secagg", "--strategy", "median"], io)).rejects.toThrow(/--secagg combines only with fedavg/);
    await expect(flSim(["--strategy", "bulyan", "--f", "4", "--fraction", "0.1"], io)).rejects.toThrow(/n >= 4f \+ 3/);
    await expect(flSim(["--byzantine", "3"], io)).rejects.toThrow(/--byzantine K and --attack A go together/);
    await expect(flSim(["--dp", "1"], io)).rejects.toThrow(/--dp takes 2 comma-separated numbers/);
    await expect(flSim(["--strategy", "fedsgd"], io)).rejects.toThrow(/--strategy must be one of/);
  });
});
