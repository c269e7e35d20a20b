import { describe, expect, it } from "vitest";
import { parseScenario, ScenarioError } from "./scenario.ts";

const valid = {
  name: "node-crash",
  mesh: { nodes: 30, seed: 3, heartbeatIntervalMs: 250 },
  durationMs: 20_000,
  faults: [{ id: "crash-1", atMs: 1_000, fault: { kind: "node-crash", node: "@inner" }, expect: { outcome: "recovered" } }],
};

describe("scenario files", () => {
  it("accepts a valid scenario", () => {
    expect(parseScenario(JSON.stringify(valid)).faults[0]!.fault).toEqual({ kind: "node-crash", node: "@inner" });
  });

  it.each([
    ["not JSON", "{", /not JSON/],
    ["an unknown fault kind", JSON.stringify({ ...valid, faults: [{ ...valid.faults[0], fault: { kind: "meteor" } }] }), /kind must be one of/],
    ["a fault id used twice", JSON.stringify({ ...valid, faults: [valid.faults[0], valid.faults[0]] }), /used twice/],
    ["a fault after the end", JSON.stringify({ ...valid, faults: [{ ...valid.faults[0], atMs: 30_000 }] }), /starts after the scenario ends/],
    ["a misspelt field", JSON.stringify({ ...valid, duration: 5 }), /duration/],
    ["no faults", JSON.stringify({ ...valid, faults: [] }), /faults/],
  ])("refuses %s with a clear error", (_name, text, message) => {
    expect(() => parseScenario(text, "test.json")).toThrow(ScenarioError);
    expect(() => parseScenario(text, "test.json")).toThrow(message);
  });
});
