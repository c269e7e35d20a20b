import { describe, expect, it } from "vitest";
import { Rng } from "../../kernel/index.ts";
import { initialServerState, type ClientUpdate, type StrategyConfig } from "../aggregate/index.ts";
import { contentId, modelBytes } from "../content-id.ts";
import { computeAggregate } from "./aggregate-step.ts";
import { decodeServerState } from "./server-state.ts";

const LENGTH = 257;
const rng = new Rng(11);
const global = Float32Array.from({ length: LENGTH }, () => rng.normal() * 0.1);
const updates: ClientUpdate[] = Array.from({ length: 7 }, (_, i) => ({
  client: `client-${i}`,
  weights: global.map((w) => w + rng.normal() * 0.01 + (i === 6 ? 5 : 0)),
  examples: 10 + 13 * i,
  controlDelta: Float32Array.from({ length: LENGTH }, () => rng.normal() * 0.001),
}));
const shuffled = (seed: number) => {
  const r = new Rng(seed);
  const out = [...updates];
  for (let i = out.length - 1; i > 0; i--) {
    const j = r.int(i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
};

const strategies: StrategyConfig[] = [
  { name: "fedavg" },
  { name: "fedprox", mu: 0.01 },
  { name: "fedadam" },
  { name: "fedyogi" },
  { name: "scaffold" },
  { name: "krum", f: 1 },
  { name: "multikrum", f: 1, select: 3 },
  { name: "median" },
  { name: "trimmedmean", beta: 0.2 },
  { name: "bulyan", f: 1 },
];

describe("one round's aggregate as the coordinator and each validator compute it", () => {
  for (const strategy of strategies) {
    it(`${strategy.name}: gives the same model and server-state content ids whatever the order of the updates`, () => {
      const state = initialServerState(strategy, global);
      const ids = [1, 2, 3].map((seed) => {
        const computed = computeAggregate({ strategy, population: 20 }, global, state, shuffled(seed));
        if (!computed.ok) throw new Error(computed.reason);
        return `${computed.modelCid} ${computed.serverStateCid}`;
      });
      expect(new Set(ids).size).toBe(1);
    });
  }

  it("names the model by the content id of its bytes, and the state by that of its encoding", () => {
    const strategy: StrategyConfig = { name: "fedadam" };
    const computed = computeAggregate({ strategy, population: 7 }, global, initialServerState(strategy, global), updates);
    if (!computed.ok) throw new Error(computed.reason);
    expect(computed.modelCid).toBe(contentId(modelBytes(computed.model)));
    expect(computed.serverStateCid).toBe(contentId(computed.stateBytes));
    const state = decodeServerState(computed.stateBytes);
    expect(state.round).toBe(1);
    expect(state.momentum).toEqual(computed.state.momentum);
  });

  it("reports the aggregator's refusal with its reason", () => {
    const computed = computeAggregate({ strategy: { name: "krum", f: 3 }, population: 7 }, global, { round: 0 }, updates.slice(0, 3));
    expect(computed.ok).toBe(false);
    if (!computed.ok) expect(computed.reason.length).toBeGreaterThan(0);
  });
});
