import { describe, expect, it } from "vitest";
import { Rng } from "../../kernel/rng.ts";
import { aggregateRound, initialServerState, strategyNames, type AggregateOutcome, type ClientUpdate, type StrategyConfig, type StrategyName } from "./index.ts";

const update = (client: string, weights: readonly number[], examples = 1, controlDelta?: readonly number[]): ClientUpdate =>
  controlDelta === undefined
    ? { client, weights: Float32Array.from(weights), examples }
    : { client, weights: Float32Array.from(weights), examples, controlDelta: Float32Array.from(controlDelta) };

const zeros = (n: number) => new Float32Array(n);

const ok = (outcome: AggregateOutcome) => {
  if (!outcome.ok) throw new Error(`expected an aggregate, got a refusal: ${outcome.reason}`);
  return outcome;
};

const run = (strategy: StrategyConfig, updates: readonly ClientUpdate[], global = zeros(updates[0]?.weights.length ?? 0)) =>
  aggregateRound(strategy, global, updates, initialServerState(strategy, global));

describe("FedAvg and FedProx", () => {
  it("given [1, 2] from 1 example and [4, 8] from 3, then the model is their example-weighted mean [3.25, 6.5]", () => {
    const outcome = ok(run({ name: "fedavg" }, [update("a", [1, 2], 1), update("b", [4, 8], 3)]));
    expect([...outcome.model]).toEqual([(1 * 1 + 4 * 3) / 4, (2 * 1 + 8 * 3) / 4]);
    expect(outcome.used).toEqual(["a", "b"]);
    expect(outcome.rejected).toEqual([]);
    expect(outcome.state.round).toBe(1);
  });

  it("FedProx's μ is the clients' business: the server averages exactly as FedAvg", () => {
    const updates = [update("a", [1, 2], 2), update("b", [4, 8], 5), update("c", [-3, 0.5], 1)];
    expect(ok(run({ name: "fedprox", mu: 0.01 }, updates)).model).toEqual(ok(run({ name: "fedavg" }, updates)).model);
  });

  it("sums in Float64: 2^24, 1 and 1 average to (2^24 + 2) / 3, which a Float32 running sum would miss", () => {
    const outcome = ok(run({ name: "fedavg" }, [update("a", [2 ** 24]), update("b", [1]), update("c", [1])]));
    expect(outcome.model[0]).toBe(Math.fround((2 ** 24 + 2) / 3));
  });
});

describe("validation before arithmetic", () => {
  const good = [update("a", [1, 1], 1), update("b", [3, 5], 1)];
  const goodMean = [2, 3];
  const bad: [string, ClientUpdate, RegExp][] = [
    ["a NaN weight", update("nan", [1, Number.NaN]), /weights\[1\] is NaN/],
    ["an infinite weight", update("inf", [Infinity, 0]), /weights\[0\] is \+Inf/],
    ["a -Inf weight", update("minf", [0, -Infinity]), /weights\[1\] is -Inf/],
    ["the wrong length", update("short", [1]), /has 1 weights, the global model has 2/],
    ["zero examples", update("zero", [1, 1], 0), /examples must be a positive integer, got 0/],
    ["negative examples", update("neg", [1, 1], -3), /positive integer, got -3/],
    ["fractional examples", update("frac", [1, 1], 1.5), /positive integer, got 1.5/],
    ["NaN examples", update("nanex", [1, 1], Number.NaN), /positive integer, got NaN/],
  ];

  for (const name of ["fedavg", "median", "krum"] as const)
    for (const [what, u, reason] of bad)
      it(`${name}: an update with ${what} is rejected with its reason and not aggregated`, () => {
        // Four honest updates whose mean, coordinate median and Krum choice (c) are all [2, 3].
        const four = [...good, update("c", [2, 3], 1), update("d", [2, 3], 1)];
        const outcome = ok(run({ name, f: 0 }, [...four, u], zeros(2)));
        expect(outcome.rejected).toEqual([{ client: u.client, reason: expect.stringMatching(reason) }]);
        expect(outcome.used).not.toContain(u.client);
        expect([...outcome.model]).toEqual(goodMean);
      });

  it("two updates under one client id are both rejected, whichever came first", () => {
    const outcome = ok(run({ name: "fedavg" }, [update("x", [100, 100]), ...good, update("x", [-100, -100])]));
    expect(outcome.rejected).toEqual([
      { client: "x", reason: expect.stringMatching(/sent 2 updates/) },
      { client: "x", reason: expect.stringMatching(/sent 2 updates/) },
    ]);
    expect([...outcome.model]).toEqual(goodMean);
  });

  it("given only rejected updates, then it refuses and lists them all", () => {
    const outcome = run({ name: "fedavg" }, [update("n", [Number.NaN, 0]), update("s", [1])], zeros(2));
    expect(outcome.ok).toBe(false);
    expect(outcome.rejected.map((r) => r.client)).toEqual(["n", "s"]);
    if (!outcome.ok) expect(outcome.reason).toMatch(/no valid update/);
  });

  it("refuses a global model with NaN, bad settings, and state of the wrong shape", () => {
    expect(aggregateRound({ name: "fedavg" }, Float32Array.from([Number.NaN]), good, { round: 0 })).toMatchObject({ ok: false, reason: "global[0] is NaN" });
    expect(run({ name: "trimmedmean", beta: 0.7 }, good)).toMatchObject({ ok: false, reason: expect.stringMatching(/beta must be in \[0, 0.5\]/) });
    expect(run({ name: "nope" as StrategyName }, good)).toMatchObject({ ok: false, reason: expect.stringMatching(/unknown strategy "nope"/) });
    expect(run({ name: "multikrum", select: 0 }, good)).toMatchObject({ ok: false, reason: expect.stringMatching(/select must be an integer >= 1/) });
    expect(aggregateRound({ name: "fedadam" }, zeros(2), good, { round: 0, momentum: zeros(3) })).toMatchObject({ ok: false, reason: expect.stringMatching(/momentum has 3 values/) });
  });

  for (const name of ["fedavg", "scaffold", "fedyogi", "median", "trimmedmean", "krum", "multikrum", "bulyan"] as const)
    it(`${name}: a NaN met late in the single pass gives the same outcome as if it had been scanned first`, () => {
      const rng = new Rng(5);
      const updates = Array.from({ length: 9 }, (_, i) => update(`c${i}`, Array.from({ length: 9000 }, () => rng.normal()), 1 + i, Array.from({ length: 9000 }, () => rng.normal())));
      const poisoned = { ...updates[4]!, weights: updates[4]!.weights.slice() };
      poisoned.weights[8999] = Number.NaN;
      const strategy: StrategyConfig = { name, beta: 0.2 };
      const withPoison = ok(run(strategy, [...updates.slice(0, 4), poisoned, ...updates.slice(5)]));
      const without = ok(run(strategy, [...updates.slice(0, 4), ...updates.slice(5)]));
      expect(withPoison.model).toEqual(without.model);
      expect(withPoison.used).toEqual(without.used);
      expect(withPoison.rejected).toEqual([{ client: "c4", reason: "weights[8999] is NaN" }]);
    });

  it("a refusal lists the NaN updates too, and counts only the valid ones", () => {
    const outcome = run({ name: "krum", f: 1 }, [update("a", [0]), update("b", [1]), update("c", [2]), update("d", [Number.NaN])]);
    expect(outcome).toEqual({ ok: false, reason: "krum needs at least 5 valid updates (n >= 2f + 3 with f = 1), 3 were left", rejected: [{ client: "d", reason: "weights[0] is NaN" }] });
  });
});

describe("determinism", () => {
  const rng = new Rng(6);
  const length = 5000;
  const updates = Array.from({ length: 15 }, (_, i) => {
    const weights = Array.from({ length }, () => rng.normal() * 0.1 + (i > 11 ? 50 : 0));
    return update(`client-${String.fromCharCode(97 + ((i * 7) % 15))}`, weights, 1 + rng.int(50), Array.from({ length }, () => rng.normal()));
  });
  const global = Float32Array.from({ length }, () => rng.normal() * 0.1);
  const shuffled = (seed: number) => {
    const order = [...updates];
    const r = new Rng(seed);
    for (let i = order.length - 1; i > 0; i--) {
      const j = r.int(i + 1);
      [order[i], order[j]] = [order[j]!, order[i]!];
    }
    return order;
  };
  const bytes = (model: Float32Array) => Buffer.from(model.buffer, model.byteOffset, model.byteLength).toString("hex");

  for (const name of strategyNames)
    it(`${name}: shuffled input gives a bit-identical model and state`, () => {
      const strategy: StrategyConfig = { name, f: 3 };
      const state = initialServerState(strategy, global);
      const outcomes = [7, 8, 9].map((seed) => ok(aggregateRound(strategy, global, shuffled(seed), state, { totalClients: 40 })));
      for (const o of outcomes.slice(1)) {
        expect(bytes(o.model)).toBe(bytes(outcomes[0]!.model));
        expect(o.used).toEqual(outcomes[0]!.used);
        for (const key of ["momentum", "velocity", "control"] as const) if (o.state[key]) expect(bytes(o.state[key])).toBe(bytes(outcomes[0]!.state[key]!));
      }
      expect([...outcomes[0]!.used]).toEqual([...outcomes[0]!.used].sort());
    });
});
