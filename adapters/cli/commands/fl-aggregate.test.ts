import { describe, expect, it } from "vitest";
import { UsageError } from "../options.ts";
import { flAggregate } from "./fl-aggregate.ts";

const call = async (argv: string[], request: unknown) => {
  let out = "";
  let err = "";
  const code = await flAggregate(argv, {
    stdin: typeof request === "string" ? request : JSON.stringify(request),
    stdout: { write: (t: string) => (out += t) },
    stderr: { write: (t: string) => (err += t) },
  });
  return { code, out, err, json: out ? (JSON.parse(out) as { weights: number[]; used: string[]; state?: Record<string, unknown> }) : undefined };
};

describe("x0 fl aggregate", () => {
  it("given two updates, then --strategy fedavg prints their example-weighted mean", async () => {
    const r = await call(["--strategy", "fedavg"], { updates: [{ weights: [1, 2], examples: 1 }, { weights: [4, 8], examples: 3 }] });
    expect(r.code).toBe(0);
    expect(r.json).toEqual({ weights: [(1 + 12) / 4, (2 + 24) / 4], used: ["0", "1"] });
    expect(r.err).toBe("");
  });

  it("median of [1, 5, 3] is 3; client ids come from the request", async () => {
    const r = await call(["--strategy", "median"], { updates: [{ client: "a", weights: [1], examples: 1 }, { client: "b", weights: [5], examples: 1 }, { client: "c", weights: [3], examples: 1 }] });
    expect(r.json?.weights).toEqual([3]);
    expect(r.json?.used).toEqual(["a", "b", "c"]);
  });

  it("warns on stderr about each rejected update and aggregates the rest", async () => {
    // Written out as text: 1e400 parses to Infinity, which JSON.stringify would have made null.
    const request = `{"updates": [
      {"weights": [2, 2], "examples": 1},
      {"weights": [1e400, 0], "examples": 1},
      {"weights": [1, null], "examples": 1},
      {"weights": [1], "examples": 1},
      {"weights": [4, 4], "examples": 0},
      {"weights": [4, 4], "examples": 1}]}`;
    const r = await call(["--strategy", "fedavg"], request);
    expect(r.code).toBe(0);
    expect(r.json?.weights).toEqual([3, 3]);
    expect(r.err).toContain('client "1" rejected: weights[0] is +Inf');
    expect(r.err).toContain('client "2" rejected: weights[1] is not a number');
    expect(r.err).toContain('client "3" rejected: has 1 weights, the global model has 2');
    expect(r.err).toContain('client "4" rejected: examples must be a positive integer, got 0');
  });

  it("fedadam steps from the given global and prints the state to send back", async () => {
    const r = await call(["--strategy", "fedadam", "--server-lr", "1", "--beta1", "0", "--beta2", "0", "--tau", "0.5"], { global: [1], updates: [{ weights: [3], examples: 1 }] });
    // Δ = 2, m = 2, v = 4: x = 1 + 2 / (2 + 0.5).
    expect(r.json?.weights).toEqual([Math.fround(1 + 2 / 2.5)]);
    expect(r.json?.state).toEqual({ round: 1, momentum: [2], velocity: [4] });
  });

  it("scaffold without a global starts from zeros", async () => {
    const r = await call(["--strategy", "scaffold", "--total-clients", "4"], {
      updates: [
        { weights: [2], examples: 1, controlDelta: [1] },
        { weights: [4], examples: 1, controlDelta: [3] },
      ],
    });
    expect(r.json).toEqual({ weights: [3], used: ["0", "1"], state: { round: 1, control: [(2 / 4) * 2] } });
  });

  it("exits 1 with the reason: Bulyan with n < 4f + 3, every update rejected, not JSON", async () => {
    const six = { updates: [0, 1, 2, 3, 4, 5].map((v) => ({ weights: [v], examples: 1 })) };
    const bulyan = await call(["--strategy", "bulyan", "--f", "1"], six);
    expect(bulyan).toMatchObject({ code: 1, out: "" });
    expect(bulyan.err).toContain("bulyan needs at least 7 valid updates (n >= 4f + 3 with f = 1), 6 were left");

    const rejected = await call(["--strategy", "fedavg"], { updates: [{ weights: [1], examples: -1 }] });
    expect(rejected.code).toBe(1);
    expect(rejected.err).toContain("rejected: examples must be a positive integer, got -1");
    expect(rejected.err).toMatch(/no valid update/);

    const garbage = await call(["--strategy", "fedavg"], "{not json");
    expect(garbage.code).toBe(1);
    expect(garbage.err).toMatch(/stdin is not JSON/);

    expect((await call(["--strategy", "fedavg"], { updates: [] })).code).toBe(1);
  });

  it("throws a usage error (exit 2) for an unknown or missing strategy and for options out of range or out of place", async () => {
    const request = { updates: [{ weights: [1], examples: 1 }] };
    await expect(call(["--strategy", "fedsgd"], request)).rejects.toThrow(UsageError);
    await expect(call([], request)).rejects.toThrow(/give --strategy/);
    await expect(call(["--strategy", "trimmedmean", "--beta", "0.7"], request)).rejects.toThrow(/beta must be in \[0, 0.5\]/);
    await expect(call(["--strategy", "krum", "--f=-1"], request)).rejects.toThrow(UsageError);
    await expect(call(["--strategy", "fedavg", "--f", "1"], request)).rejects.toThrow(/--f does not apply to fedavg/);
  });
});
