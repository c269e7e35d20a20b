import { describe, expect, it } from "vitest";
import { l2Norm } from "../../../domains/fl/privacy/index.ts";
import { flipLabels } from "../datasets/index.ts";
import { initialWeights } from "../training/index.ts";
import { chooseAttackers, clientId, SimClient, type LocalRound } from "./local.ts";
import { syntheticWorkload } from "./synthetic.ts";

const workload = syntheticWorkload({ clients: 2, examplesPerClient: 60, seed: 3 });
const spec = workload.spec;
const data = workload.clients[0]!;
const global = initialWeights(spec, 5);
const round = (over: Partial<LocalRound> = {}): LocalRound => ({
  round: 1,
  strategy: { name: "fedavg" },
  training: { epochs: 2, batchSize: 10, learningRate: 0.2 },
  selected: 4,
  global,
  serverState: { round: 0 },
  ...over,
});
const distance = (a: Float32Array, b: Float32Array) => l2Norm(Float32Array.from(a, (x, i) => x - b[i]!));

describe("simulated clients", () => {
  it("pick K distinct attackers, the same for the same seed", () => {
    const a = chooseAttackers(100, 20, 7);
    expect(new Set(a).size).toBe(20);
    expect(a.every((i) => i >= 0 && i < 100)).toBe(true);
    expect(chooseAttackers(100, 20, 7)).toEqual(a);
    expect(chooseAttackers(100, 20, 8)).not.toEqual(a);
  });

  it("name clients so that sorting the ids keeps their index order", () => {
    const ids = Array.from({ length: 120 }, (_, i) => clientId("run-", i, 120));
    expect([...ids].sort()).toEqual(ids);
    expect(ids[0]).toBe("run-c001");
  });

  it("train honestly from the global model, deterministically for the seed, round and client", async () => {
    const honest = new SimClient(0, "c001", data, { spec, seed: 1 });
    const first = await honest.update(round());
    expect(first.examples).toBe(60);
    expect(distance(first.weights, global)).toBeGreaterThan(0);
    expect((await honest.update(round())).weights).toEqual(first.weights);
    expect((await honest.update(round({ round: 2 }))).weights).not.toEqual(first.weights);
  });

  it("send global − s·(local − global) when flipping signs", async () => {
    // Given an honest client and a sign-flipping one with the same data, seed and index
    const honest = await new SimClient(0, "c001", data, { spec, seed: 1 }).update(round());
    const flipped = await new SimClient(0, "c001", data, { spec, seed: 1, attack: { attack: "signflip", sigma: 1, scale: 4 } }).update(round());
    for (const i of [0, 17, global.length - 1]) expect(flipped.weights[i]).toBeCloseTo(global[i]! - 4 * (honest.weights[i]! - global[i]!), 5);
  });

  it("send N(0, σ²) weights without training when sending Gaussian noise", async () => {
    const noisy = await new SimClient(3, "c004", data, { spec, seed: 1, attack: { attack: "gaussian", sigma: 2, scale: 4 } }).update(round());
    const values = Array.from(noisy.weights);
    const mean = values.reduce((a, b) => a + b, 0) / values.length;
    const sd = Math.sqrt(values.reduce((a, b) => a + (b - mean) ** 2, 0) / values.length);
    expect(Math.abs(mean)).toBeLessThan(0.3);
    expect(sd).toBeGreaterThan(1.7);
    expect(sd).toBeLessThan(2.3);
  });

  it("train on labels l → classes − 1 − l when flipping labels", async () => {
    const attacker = await new SimClient(0, "c001", data, { spec, seed: 1, attack: { attack: "labelflip", sigma: 1, scale: 4 } }).update(round());
    const onFlipped = await new SimClient(0, "c001", flipLabels(data), { spec, seed: 1 }).update(round());
    expect(attacker.weights).toEqual(onFlipped.weights);
    expect(attacker.examples).toBe(60);
  });

  it("with DP, clip the delta to C, add their share of the noise and weigh 1", async () => {
    // Given a clip norm far below how far training moves the model
    const clipNorm = 0.05;
    const quiet = await new SimClient(0, "c001", data, { spec, seed: 1, dp: { noiseMultiplier: 1e-9, clipNorm } }).update(round());
    expect(quiet.examples).toBe(1);
    expect(distance(quiet.weights, global)).toBeCloseTo(clipNorm, 4);
    // With z = 1 and 4 clients selected each adds N(0, (C/2)²) per coordinate: the delta's norm grows to about C·√(d)/2.
    const noisy = await new SimClient(0, "c001", data, { spec, seed: 1, dp: { noiseMultiplier: 1, clipNorm } }).update(round());
    const expected = (clipNorm / 2) * Math.sqrt(global.length);
    expect(distance(noisy.weights, global)).toBeGreaterThan(0.8 * expected);
    expect(distance(noisy.weights, global)).toBeLessThan(1.2 * expected + clipNorm);
  });

  it("with SCAFFOLD, report the change of their control variate and keep the new one for the next round", async () => {
    const client = new SimClient(0, "c001", data, { spec, seed: 1 });
    const scaffold = round({ strategy: { name: "scaffold" }, serverState: { round: 0, control: new Float32Array(global.length) } });
    const first = await client.update(scaffold);
    expect(first.controlDelta).toHaveLength(global.length);
    expect(l2Norm(first.controlDelta!)).toBeGreaterThan(0);
    // The second round starts from c_i = the first delta (c_i was 0), so its delta differs.
    const second = await client.update({ ...scaffold, round: 2 });
    expect(second.controlDelta).not.toEqual(first.controlDelta);
  });
});
